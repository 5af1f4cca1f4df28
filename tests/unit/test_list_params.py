"""`contacts.search` / `contacts.get` query strings read as Rocket.Chat 7 reads them (qs, Ajv, getPaginationItems,
parseJsonQuery). The expected messages were reproduced with Rocket.Chat's own Ajv options; see docs/contacts.md."""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl

import pytest

from service.errors import InvalidParamsMessage, InvalidSort, QueryFailed
from service.lists import js
from service.lists import params as list_params
from service.lists.params import ListRequest, Paging

PAGING = Paging()


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], ListRequest()),
        ([("searchText", "ana")], ListRequest(search_text="ana")),
        ([("searchText", "")], ListRequest()),
        ([("unknown", "true")], ListRequest(unknown=True)),
        ([("unknown", "false")], ListRequest()),
        ([("count", "5"), ("offset", "10")], ListRequest(count=5, offset=10)),
        ([("count", "2.7")], ListRequest(count=2)),
        ([("count", "1e2")], ListRequest(count=100)),
        ([("count", "0x10")], ListRequest(count=16)),
        ([("count", " 5 ")], ListRequest(count=5)),
        ([("count", "500")], ListRequest(count=100)),
        ([("count", "0")], ListRequest(count=0)),  # API_Allow_Infinite_Count: every match
        ([("count", "-3")], ListRequest(count=-3)),
        ([("count", "1e21")], ListRequest(count=1)),  # String(1e21) is "1e+21"; parseInt keeps the 1
        ([("count", "0.0000005")], ListRequest(count=5)),  # "5e-7"
        ([("offset", "2.9")], ListRequest(offset=2)),
        ([("offset", "-0.5")], ListRequest(offset=0)),
        ([("offset", "0")], ListRequest(offset=0)),
        ([("sort", '{"name":-1}')], ListRequest(raw_sort='{"name":-1}')),
        ([("", "x")], ListRequest()),  # qs drops a pair without a name
    ],
)
def test_search_parameters_accepted(pairs: list[tuple[str, str]], expected: ListRequest) -> None:
    assert list_params.parse_search(pairs, PAGING) == expected


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("foo", "1")], "must NOT have additional properties"),
        ([("count", "abc"), ("foo", "1")], "must NOT have additional properties"),
        ([("count", "abc")], "must be number"),
        ([("count", "")], "must be number"),
        ([("count", "5"), ("count", "5")], "must be number"),
        ([("count[]", "5")], "must be number"),
        ([("count", "Infinity")], "must be number"),  # Rocket.Chat pages it as NaN; refused here
        ([("count", "0x")], "must be number"),
        ([("count", "1_000")], "must be number"),
        ([("count", "nan")], "must be number"),
        ([("unknown", "1")], "must be boolean"),
        ([("unknown", "TRUE")], "must be boolean"),
        ([("unknown", "")], "must be boolean"),
        ([("searchText", "a"), ("searchText", "b")], "must be string"),
        ([("sort[name]", "1")], "must be string"),
        ([("offset", "abc"), ("count", "abc")], "must be number"),
        ([("unknown", "x"), ("count", "abc")], "must be number"),  # schema order: count before unknown
    ],
)
def test_search_parameters_refused(pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidParamsMessage) as raised:
        list_params.parse_search(pairs, PAGING)
    assert raised.value.body() == {
        "success": False,
        "error": f"{message} [invalid-params]",
        "errorType": "invalid-params",
    }


@pytest.mark.parametrize(
    ("paging", "count", "expected"),
    [
        (Paging(allow_infinite_count=False), "0", 50),
        (Paging(default_count=25), None, 25),
        (Paging(upper_count_limit=10), "50", 10),
        (Paging(default_count=0, upper_count_limit=-1), None, 50),
        (Paging(default_count=0, upper_count_limit=-1), "500", 100),
    ],
)
def test_workspace_paging_settings(paging: Paging, count: str | None, expected: int) -> None:
    pairs = [] if count is None else [("count", count)]
    assert list_params.parse_search(pairs, paging).count == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", None),
        ('{"name":1}', (("name", 1),)),
        ('{ "channels.lastChat.ts": -1 }', (("channels.lastChat.ts", -1),)),
        ('{"name":1.0,"_id":-1e0}', (("name", 1), ("_id", -1))),
        ('{"b":1,"2":1,"a":-1,"10":1}', (("2", 1), ("10", 1), ("b", 1), ("a", -1))),  # JavaScript's key order
        ('{"a":1,"a":-1}', (("a", -1),)),
        ("{}", ()),
        ("[]", ()),
        ("[1,-1]", ()),
        ("5", ()),
        ("true", ()),
        ('""', ()),
    ],
)
def test_sort_accepted(raw: str, expected: tuple[tuple[str, int], ...] | None) -> None:
    assert list_params.parse_sort(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["{", "null", '{"name":2}', '{"name":"1"}', '{"name":true}', '"ab"', "[2]", "NaN", '{"a":Infinity}', "{'a':1}"],
)
def test_sort_refused(raw: str) -> None:
    with pytest.raises(InvalidSort) as raised:
        list_params.parse_sort(raw)
    assert raised.value.body() == {
        "success": False,
        "error": f'Invalid sort parameter provided: "{raw}" [error-invalid-sort]',
        "errorType": "error-invalid-sort",
        "details": {"helperMethod": "parseJsonQuery"},
    }


def test_sort_is_read_after_validation_and_a_negative_offset_after_the_sort() -> None:
    request = list_params.parse_search([("offset", "-1"), ("sort", "{")], PAGING)
    with pytest.raises(InvalidSort):
        list_params.with_sort(request)
    request = list_params.parse_search([("offset", "-1"), ("sort", '{"name":1}')], PAGING)
    with pytest.raises(QueryFailed) as raised:
        list_params.with_sort(request)
    assert raised.value.body() == {
        "success": False,
        "error": "BSON field 'skip' value must be >= 0, actual value '-1'",
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([], "must have required property 'contactId'"),
        ([("foo", "1")], "must have required property 'contactId'"),
        ([("contactId", "a"), ("foo", "1")], "must NOT have additional properties"),
        ([("contactId", "a"), ("contactId", "b")], "must be string"),
        ([("contactId", "")], 'must pass "isNotEmpty" keyword validation'),
        ([("contactId", " \u3000\ufeff")], 'must pass "isNotEmpty" keyword validation'),
    ],
)
def test_get_parameters_refused(pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidParamsMessage) as raised:
        list_params.parse_get(pairs)
    assert str(raised.value) == message


def test_get_keeps_the_id_as_sent() -> None:
    assert list_params.parse_get([("contactId", " a ")]) == " a "
    assert list_params.parse_get([("contactId", "\x1c")]) == "\x1c"  # not whitespace to JavaScript


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5.0),
        (" 5\n", 5.0),
        ("\u00a05", 5.0),
        ("+5", 5.0),
        ("-5.5e1", -55.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0b101", 5.0),
        ("0O17", 15.0),
        ("-0x10", None),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("infinity", None),
        ("1e", None),
        ("\x1c5", None),
        (" ", 0.0),
    ],
)
def test_js_number(text: str, expected: float | None) -> None:
    assert js.js_number(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [(2.7, 2), (-2.7, -2), (1e20, 10**20), (1.5e21, 1), (-1e22, -1), (1e-6, 0), (5e-7, 5), (0.0, 0)],
)
def test_parse_int_of_a_printed_number(number: float, expected: int) -> None:
    assert js.js_parse_int_of(number) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "must have required property 'term'"),
        ("count=5", "must have required property 'term'"),
        ("term=a&foo=1", "must NOT have additional properties"),
        ("term=a&count=abc", "must be number"),
        ("term=a&offset=x", "must be number"),
        ("term=a&term=b", "must be string"),
        ("term[x]=a", "must be string"),
        ("term=a&sort[ts]=1", "must be string"),
    ],
)
def test_visitors_search_refusals(query: str, message: str) -> None:
    with pytest.raises(InvalidParamsMessage, match=rf"^{re.escape(message)}$"):
        list_params.parse_visitors_search(parse_qsl(query, keep_blank_values=True), Paging())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("term=", ListRequest(search_text="", count=50)),
        ("term=a&count=&offset=", ListRequest(search_text="a", count=50, offset=0)),  # nullable: '' is null
        ("term=a&count=0&offset=3", ListRequest(search_text="a", count=0, offset=3)),
        ("term=a&count=500", ListRequest(search_text="a", count=100)),
        ("term=a&sort=", ListRequest(search_text="a", count=50)),
        ('term=%20x&sort={"ts":1}', ListRequest(search_text=" x", count=50, raw_sort='{"ts":1}')),
    ],
)
def test_visitors_search_values(query: str, expected: ListRequest) -> None:
    assert list_params.parse_visitors_search(parse_qsl(query, keep_blank_values=True), Paging()) == expected


def test_autocomplete_needs_exactly_one_selector() -> None:
    assert list_params.parse_autocomplete([("selector", "{}")]) == "{}"
    for pairs, message in [
        ([], "must have required property 'selector'"),
        ([("selector", "a"), ("x", "1")], "must NOT have additional properties"),
        ([("selector", "a"), ("selector", "b")], "must be string"),
    ]:
        with pytest.raises(InvalidParamsMessage, match=re.escape(message)):
            list_params.parse_autocomplete(pairs)
