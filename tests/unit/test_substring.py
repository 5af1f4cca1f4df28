"""The substring encoding: a needle's query finds exactly the values that contain it, ignoring case.

The query is evaluated here as Elasticsearch evaluates it on a whitespace-analyzed field (a phrase: the needle's
tokens at consecutive positions of one value; a prefix: some token starting with it), against an oracle that shares
no code with it: Python's own case-insensitive regex search of the escaped needle. The same property runs against the
real server in tests/integration/test_contacts_search.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contact_index import substring

FIELD = "search"


def matches(query: dict[str, Any] | None, values: list[str], prefix: str = "", anchored: bool = False) -> bool:
    """Elasticsearch's answer for one document holding `values`, computed from the tokens it would store."""
    if query is None:
        return True
    stored = [text.split() for text in substring.tokens(values, prefix, anchored)]
    if "prefix" in query:
        start = query["prefix"][FIELD]["value"]
        return any(token.startswith(start) for value in stored for token in value)
    phrase = query["match_phrase"][FIELD]["query"].split()
    return any(value[i : i + len(phrase)] == phrase for value in stored for i in range(len(value) - len(phrase) + 1))


def oracle(needle: str, values: list[str]) -> bool:
    """Rocket.Chat's rule: no search text is no filter; else a case-insensitive regex of the escaped text."""
    return not needle or any(re.search(re.escape(needle), value, re.IGNORECASE) for value in values)


# Letters with case quirks (Greek final sigma, Kelvin sign, long s, dotless i, ligatures), regex metacharacters,
# whitespace, the pad character itself, astral characters.
QUIRKS = (
    "aAbBsS\u017fkK\u212a\u03c3\u03c2\u03a3iI\u0131\u0130\u00df\u1e9e\ufb05\ufb06\u0390\u1fd3"
    ".*+?()[]{}|^$\\ \t-@+0123456789\u00e9\U0001f600"
)
text = st.text(alphabet=st.sampled_from(QUIRKS) | st.characters(exclude_categories=["Cs"]), max_size=12)


@given(values=st.lists(text, max_size=4), data=st.data())
@settings(max_examples=400, deadline=None)
@example(values=["Ab"], data=None)
def test_a_query_matches_exactly_the_values_containing_the_needle(values: list[str], data: Any) -> None:
    needles = ["", "a", "ab", "b", "abc", "-", "b-"]
    if data is not None:
        needles.append(data.draw(text, label="any needle"))
        for value in values:
            if value:
                start = data.draw(st.integers(0, len(value) - 1), label="start")
                end = data.draw(st.integers(start, len(value)), label="end")
                needles.append(value[start:end])
    for needle in needles:
        assert matches(substring.query(FIELD, needle), values) == oracle(needle, values), (needle, values)


@pytest.mark.parametrize(
    ("needle", "values", "expected"),
    [
        ("", [], True),
        ("a", ["A"], True),
        ("A", ["bab"], True),
        ("ab", ["xaB"], True),
        ("ab", ["a", "b"], False),  # never across two values
        ("abc", ["ab", "c"], False),
        ("b-", ["ab"], False),  # the pad is not a character
        ("a.c", ["abc"], False),  # a literal, not a regex
        ("a.c", ["A.C"], True),
        ("straße", ["STRASSE"], False),  # one character for one character, as a regex does
        ("Σοφία", ["σοφία"], True),
        ("ς", ["Σ"], True),
        ("kelvin", ["\u212aelvin"], True),
        ("😀x", ["a😀X"], True),
    ],
)
def test_cases(needle: str, values: list[str], expected: bool) -> None:
    assert oracle(needle, values) is expected
    assert matches(substring.query(FIELD, needle), values) is expected


def test_folding_keeps_every_position() -> None:
    every = "".join(chr(code) for code in range(0x3000) if not 0xD800 <= code < 0xE000)
    assert len(substring.fold(every)) == len(every)


def test_tokens_never_hold_whitespace_or_the_needle_text() -> None:
    tokens = substring.value_tokens("a b\t.*")
    assert tokens.split() == ["61.20.62.", "20.62.9.", "62.9.2e.", "9.2e.2a.", "2e.2a.-", "2a.--"]


@given(values=st.lists(text, max_size=4), data=st.data())
@settings(max_examples=300, deadline=None)
def test_an_anchored_query_matches_exactly_the_values_starting_with_the_needle(values: list[str], data: Any) -> None:
    needles = ["", "a", "ab", "abc", data.draw(text, label="any needle")]
    needles.extend(value[: data.draw(st.integers(0, len(value)), label="end")] for value in values)
    for needle in needles:
        expected = any(re.match(re.escape(needle), value, re.IGNORECASE) for value in values)
        assert matches(substring.query(FIELD, needle, anchored=True), values, anchored=True) == expected


@given(first=st.lists(text, max_size=3), second=st.lists(text, max_size=3), needle=text)
@settings(max_examples=300, deadline=None)
def test_a_namespace_keeps_the_values_of_two_keys_apart(first: list[str], second: list[str], needle: str) -> None:
    """One document's `a` and `b` values share the field; a query under `a` sees only `a`'s."""
    a, b = substring.namespace("a"), substring.namespace("b")
    stored = [text.split() for text in substring.tokens(first, a) + substring.tokens(second, b)]
    query = substring.query(FIELD, needle, a)
    if query is None:
        return
    if "prefix" in query:
        start = query["prefix"][FIELD]["value"]
        found = any(token.startswith(start) for value in stored for token in value)
    else:
        phrase = query["match_phrase"][FIELD]["query"].split()
        found = any(value[i : i + len(phrase)] == phrase for value in stored for i in range(len(value)))
    assert found == oracle(needle, first)


def test_anchored_tokens_start_with_the_start_symbol() -> None:
    assert substring.value_tokens("", anchored=True) == "^.--"
    assert substring.value_tokens("Ab", anchored=True).split() == ["^.61.62.", "61.62.-", "62.--"]
    assert substring.query(FIELD, "", anchored=True) == {"prefix": {FIELD: {"value": "^."}}}
