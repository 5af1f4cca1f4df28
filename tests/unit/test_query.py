"""The pure request → Elasticsearch query translation and the literal confirmation of candidates."""

from __future__ import annotations

from typing import Any

import pytest

from contact_index import visitors as visitor_fields
from service.errors import InvalidCustom, InvalidParams
from service.lookup import query


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("email", "a@b.c")], query.Criteria(email="a@b.c")),
        ([("phone", "+55")], query.Criteria(phone="+55")),
        ([("phone", " 5511")], query.Criteria(phone="+5511")),
        ([("email", ""), ("phone", "1")], query.Criteria(phone="1")),
        ([("custom", '{"a":"b"}')], query.Criteria(custom={"a": "b"})),
        ([("custom", "a=b&c=d%20e")], query.Criteria(custom={"a": "b", "c": "d e"})),
        ([("custom", "a=")], query.Criteria(custom={"a": ""})),
        ([("custom", '{"a":""}')], query.Criteria(custom={"a": ""})),
        ([("email", "x"), ("custom", "{}")], query.Criteria(email="x")),
    ],
)
def test_parse_criteria_accepts(pairs: list[tuple[str, str]], expected: query.Criteria) -> None:
    assert query.parse_criteria(pairs) == expected


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ([], InvalidParams),
        ([("email", "")], InvalidParams),
        ([("custom", "{}")], InvalidParams),
        ([("custom", "")], InvalidParams),
        ([("email", "a"), ("email", "a")], InvalidParams),
        ([("email", "a"), ("offset", "1")], InvalidParams),
        ([("Email", "a")], InvalidParams),
        ([("custom", "{")], InvalidCustom),
        ([("custom", "plain")], InvalidCustom),
        ([("custom", "[]")], InvalidCustom),
        ([("custom", "null")], InvalidCustom),
        ([("custom", "1")], InvalidCustom),
        ([("custom", '{"a":1}')], InvalidCustom),
        ([("custom", '{"a":["b"]}')], InvalidCustom),
        ([("custom", "=b")], InvalidCustom),
        ([("custom", "a=b&c")], InvalidCustom),
        ([("custom", "a=b&a=c")], InvalidCustom),
        ([("custom", "a=b&&c=d")], InvalidCustom),
        ([("custom", "[" * 5000)], InvalidCustom),
        ([("custom", '{"a":' * 2000)], InvalidCustom),
    ],
)
def test_parse_criteria_rejects(pairs: list[tuple[str, str]], error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        query.parse_criteria(pairs)
    assert type(raised.value) is error


def test_invalid_custom_is_reported_before_missing_criteria() -> None:
    with pytest.raises(InvalidCustom):
        query.parse_criteria([("custom", "[]")])


def test_restricted_to_drops_other_keys() -> None:
    criteria = query.Criteria(email="e", custom={"plan": "x", "secret": "y", "$where": "1"})
    assert criteria.restricted_to({"plan"}) == query.Criteria(email="e", custom={"plan": "x"})
    assert query.Criteria(custom={"secret": "y"}).restricted_to({"plan"}).is_empty


def test_a_lone_surrogate_in_a_custom_value_can_never_match() -> None:
    criteria = query.parse_criteria([("custom", '{"plan":"a\\ud800"}')])
    assert criteria == query.Criteria(custom={"plan": "a\ud800"})
    assert not criteria.can_match
    assert query.Criteria(email="e", custom={"plan": "straße ✓"}).can_match


def grams_of(clause: dict[str, Any]) -> list[str]:
    return [term["term"][visitor_fields.FIELD_CUSTOM_GRAMS] for term in clause["bool"]["filter"]]


def test_custom_clause_short_values_use_a_prefix_of_the_padded_grams() -> None:
    clause = query.custom_clause("plan", "Um")
    assert clause["bool"]["should"][0] == {"prefix": {visitor_fields.FIELD_CUSTOM_GRAMS: "plan:um"}}
    assert clause["bool"]["should"][1] == {"term": {visitor_fields.FIELD_CUSTOM_LONG: "plan"}}


def test_custom_clause_empty_value_matches_any_string_value() -> None:
    clause = query.custom_clause("plan", "")
    assert clause["bool"]["should"][0] == {"term": {visitor_fields.FIELD_CUSTOM_GRAMS: "plan:"}}


def test_custom_clause_long_value_requires_all_its_trigrams() -> None:
    clause = query.custom_clause("address", "Rocket")
    assert sorted(grams_of(clause["bool"]["should"][0])) == ["address:cke", "address:ket", "address:ock", "address:roc"]


def test_custom_clause_caps_the_number_of_grams() -> None:
    clause = query.custom_clause("address", "".join(chr(0x4E00 + i) for i in range(200)))
    assert len(grams_of(clause["bool"]["should"][0])) == visitor_fields.MAX_QUERY_GRAMS


def test_custom_clause_beyond_the_gram_window_only_looks_at_long_values() -> None:
    assert query.custom_clause("a", "x" * (visitor_fields.GRAM_WINDOW + 1)) == {
        "term": {visitor_fields.FIELD_CUSTOM_LONG: "a"}
    }


def test_indexed_grams_always_cover_the_query_grams() -> None:
    value = "Rocket.Chat street, 42"
    stored = set(visitor_fields.gram_terms(visitor_fields.presence_term("k"), value))
    for start in range(len(value)):
        for end in range(start + 3, len(value) + 1):
            clause = query.custom_clause("k", value[start:end])["bool"]["should"][0]
            assert set(grams_of(clause)) <= stored


def test_search_query_ands_every_criterion() -> None:
    body = query.search_query(query.Criteria(email="E@x", phone="+1", custom={"plan": "gold"}))
    filters = body["bool"]["filter"]
    assert filters[0] == {"term": {visitor_fields.FIELD_EMAILS: "E@x"}}
    assert filters[1] == {"term": {visitor_fields.FIELD_PHONES: "+1"}}
    assert filters[2] == query.custom_clause("plan", "gold")


@pytest.mark.parametrize(
    ("livechat_data", "custom", "expected"),
    [
        ({"address": "Rocket.Chat street"}, {"address": "rocket.chat"}, True),
        ({"address": "Rocket.Chat street"}, {"address": "rocket chat"}, False),
        ({"address": "literally ^((ab)*)+$"}, {"address": "^((AB)*)+$"}, True),
        ({"address": ["one", "Two"]}, {"address": "two"}, True),
        ({"address": 12}, {"address": "12"}, False),
        ({"address": "x"}, {"address": ""}, True),
        ({}, {"address": ""}, False),
        ({"a": "ab", "b": "cd"}, {"a": "A", "b": "D"}, True),
        ({"a": "ab", "b": "cd"}, {"a": "A", "b": "x"}, False),
    ],
)
def test_confirms_is_a_case_insensitive_literal_substring(
    livechat_data: dict[str, Any], custom: dict[str, str], expected: bool
) -> None:
    assert query.confirms({"livechatData": livechat_data}, query.Criteria(custom=custom)) is expected


def test_first_confirmed_skips_false_positives() -> None:
    hits = [
        {"_source": {"visitor": {"_id": "1", "livechatData": {"a": "abcxbcd"}}}},
        {"_source": {"visitor": {"_id": "2", "livechatData": {"a": "abcd"}}}},
    ]
    assert query.first_confirmed(hits, query.Criteria(custom={"a": "abcd"})) == hits[1]["_source"]["visitor"]
    assert query.first_confirmed(hits, query.Criteria(custom={"a": "zz"})) is None
