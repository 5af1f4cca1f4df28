"""Exact, case-insensitive substring search with nothing but a whitespace analyzer (the minimal server has no ngram
tokenizer), so that a count of matches is exact and needs no confirmation.

Each value is folded (one character → one character), then stored as the sequence of its trigrams, one token per
position, in a `text` field with positions. A needle of three characters or more matches a value exactly when its
own trigrams appear there at consecutive positions: a `match_phrase`. Trigrams at the end of a value are padded, so
every one- or two-character substring is the start of some token: a `prefix` query. The values of one document are
separated by the field's position gap, so no phrase spans two of them. Characters are written as hex code points, so
a token never holds whitespace, a regex metacharacter or anything an analyzer could change.

Pure: no I/O. The indexer writes `tokens`; the service queries with `query`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

GRAM_SIZE: Final = 3
# Written for the missing characters of a trigram at the end of a value; never produced by a needle's characters.
PAD: Final = "-"
ANALYZER: Final = "whitespace"

# Characters that Python's case-insensitive regex treats as one, which upper-then-lower case mapping keeps apart.
_FOLD_EXCEPTIONS: Final = {"\u0130": "i", "\u1fd3": "\u0390", "\u1fe3": "\u03b0", "\ufb05": "\ufb06"}


def fold_char(char: str) -> str:
    """One character's case-insensitive representative: its simple case folding, always a single character, so that
    a folded text keeps the positions of the original."""
    exception = _FOLD_EXCEPTIONS.get(char)
    if exception is not None:
        return exception
    upper = char.upper()
    if len(upper) == 1:
        lower = upper.lower()
        if len(lower) == 1:
            return lower
    lower = char.lower()
    return lower if len(lower) == 1 else char


def fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(fold_char(char) for char in text)


def _encode(chars: str) -> str:
    return "".join(f"{ord(char):x}." for char in chars)


def value_tokens(value: str) -> str:
    """One stored value as the whitespace-separated tokens of its padded trigrams ('' for an empty value)."""
    folded = fold(value)
    size = len(folded)
    return " ".join(_encode(folded[i : i + GRAM_SIZE]) + PAD * max(0, i + GRAM_SIZE - size) for i in range(size))


def tokens(values: Iterable[str]) -> list[str]:
    """The text field's values for a document's searchable strings (empty strings dropped: they hold no substring
    but the empty one, which every document matches anyway)."""
    return [value_tokens(value) for value in values if value]


def query(field: str, needle: str) -> dict[str, Any] | None:
    """The query matching documents with a value that contains `needle`, ignoring case; None: every document does."""
    folded = fold(needle)
    if not folded:
        return None
    if len(folded) < GRAM_SIZE:
        return {"prefix": {field: {"value": _encode(folded)}}}
    grams = (_encode(folded[i : i + GRAM_SIZE]) for i in range(len(folded) - GRAM_SIZE + 1))
    return {"match_phrase": {field: {"query": " ".join(grams), "analyzer": ANALYZER}}}


def mapping() -> dict[str, Any]:
    """The `text` field holding the tokens: positions for phrases, no norms or scores needed."""
    return {"type": "text", "analyzer": ANALYZER, "norms": False, "index_options": "positions"}
