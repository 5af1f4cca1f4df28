"""The pure part of the visitor lists: the filters, the autocomplete's `selector` read as JavaScript reads it, and the
answers' shapes."""

from __future__ import annotations

from typing import Any

import pytest

from contact_index import substring
from service.errors import QueryFailed, UnsupportedRequest
from service.lists import visitor_query
from service.lists.params import ListRequest
from service.lists.visitor_query import Autocomplete


def test_no_term_is_every_indexed_visitor_whatever_the_searchable_fields() -> None:
    assert visitor_query.search_filter("", ["address"]) == {"match_all": {}}


def test_a_term_is_exact_email_or_phone_or_a_substring_of_name_username_or_a_searchable_field() -> None:
    should = visitor_query.search_filter("Ana", ["plan", "address"])["bool"]["should"]
    assert should[:2] == [{"term": {"email_addresses": "Ana"}}, {"term": {"phones": "Ana"}}]
    assert should[2] == substring.query("search", "Ana")
    assert should[3:] == [
        substring.query("custom_search", "Ana", substring.namespace("address")),
        substring.query("custom_search", "Ana", substring.namespace("plan")),
    ]


def test_the_default_order_is_newest_first_and_a_path_the_index_cannot_sort_by_is_refused() -> None:
    assert visitor_query.sort_clauses(ListRequest())[0] == {"ts": {"order": "desc", "missing": "_last", "mode": "max"}}
    with pytest.raises(UnsupportedRequest):
        visitor_query.sort_clauses(ListRequest(sort=(("token", 1),)))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ('{"term":"Ana"}', Autocomplete("Ana")),
        ('{"term":"  Ana \\u00a0"}', Autocomplete("Ana")),  # escapeRegExp(term).trim(): JavaScript's white space
        ("{}", Autocomplete("")),  # toString(undefined) is ''
        ('{"term":null}', Autocomplete("")),
        ('{"term":0}', Autocomplete("")),
        ('{"term":false}', Autocomplete("")),
        ('{"term":12.50}', Autocomplete("12.5")),
        ('{"term":true}', Autocomplete("true")),
        ('{"term":["a",null,1]}', Autocomplete("a,,1")),
        ('{"term":{"$regex":"x"}}', Autocomplete("[object Object]")),
        ('"abc"', Autocomplete("")),  # a string has no `term`
        ("5", Autocomplete("")),
        ('{"term":"a","exceptions":"v1"}', Autocomplete("a", frozenset({"v1"}))),  # wrapped in an array
        ('{"term":"a","exceptions":["v1",2,null,"v2"]}', Autocomplete("a", frozenset({"v1", "v2"}))),
        ('{"term":"a","conditions":{}}', Autocomplete("a")),
        ('{"term":"a","conditions":null}', Autocomplete("a")),
        ('{"term":"a","conditions":7}', Autocomplete("a")),
        ('{"term":"\\ud800x"}', Autocomplete("\ufffdx")),  # Node's UTF-8 encoder
    ],
)
def test_the_selector_as_javascript_reads_it(selector: str, expected: Autocomplete) -> None:
    assert visitor_query.parse_selector(selector) == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("{invalid", "Expected property name or '}' in JSON at position 1"),
        ("", "Unexpected end of JSON input"),
        ("null", "Cannot read properties of null (reading 'exceptions')"),
    ],
)
def test_what_the_handler_throws_is_a_plain_400(selector: str, message: str) -> None:
    with pytest.raises(QueryFailed) as raised:
        visitor_query.parse_selector(selector)
    assert raised.value.body() == {"success": False, "error": message}


@pytest.mark.parametrize("conditions", ['{"username":"guest-5"}', '["x"]', '"ab"'])
def test_conditions_that_add_a_filter_are_refused(conditions: str) -> None:
    with pytest.raises(UnsupportedRequest):
        visitor_query.parse_selector(f'{{"term":"a","conditions":{conditions}}}')


def test_autocomplete_query_is_an_anchored_prefix_without_the_exceptions() -> None:
    query = visitor_query.autocomplete_query(Autocomplete("an", frozenset({"b", "a"})))
    assert query == {
        "bool": {
            "filter": [substring.query("name_start", "an", anchored=True)],
            "must_not": [{"terms": {"id": ["a", "b"]}}],
        }
    }


@pytest.mark.parametrize(
    ("visitor", "item"),
    [
        (
            {"_id": "v", "token": "t", "username": "guest-5", "ts": "x", "name": "Jane"},
            {"_id": "v", "username": "guest-5", "name": "Jane", "custom_name": "guest-5 - Jane"},
        ),
        (
            {"_id": "v", "name": "Jane", "username": "g"},
            {"_id": "v", "name": "Jane", "username": "g", "custom_name": "g - Jane"},
        ),
        (
            {"_id": "v", "name": "Jane"},
            {"_id": "v", "name": "Jane", "custom_name": None},
        ),  # $concat with a missing operand
    ],
)
def test_an_item_keeps_stored_order_and_appends_custom_name(visitor: dict[str, Any], item: dict[str, Any]) -> None:
    assert list(visitor_query.autocomplete_item(visitor).items()) == list(item.items())


def test_the_search_answer_projects_in_stored_order_and_counts_the_page() -> None:
    stored = {"_id": "v", "token": "secret", "name": "A", "livechatData": {"a": "1"}, "ts": "x", "username": "g"}
    body = visitor_query.search_answer([stored], ListRequest(count=50, offset=3), 9)
    assert body == {
        "visitors": [{"_id": "v", "name": "A", "livechatData": {"a": "1"}, "username": "g"}],
        "count": 1,
        "offset": 3,
        "total": 9,
        "success": True,
    }
    assert list(body["visitors"][0]) == ["_id", "name", "livechatData", "username"]
