"""Exact, case-insensitive substring search with nothing but a whitespace analyzer (the minimal server has no ngram
tokenizer), so that a count of matches is exact and needs no confirmation.

Each value is folded (one character → one character), then stored as the sequence of its trigrams, one token per
position, in a `text` field with positions. A needle of three characters or more matches a value exactly when its
own trigrams appear there at consecutive positions: a `match_phrase`. Trigrams at the end of a value are padded, so
every one- or two-character substring is the start of some token: a `prefix` query. The values of one document are
separated by the field's position gap, so no phrase spans two of them. Characters are written as hex code points, so
a token never holds whitespace, a regex metacharacter or anything an analyzer could change.

Two variations keep the one scheme for every case-insensitive search of the project. A *namespace* in front of every
token keeps the values of several keys apart in one field (the custom fields: any key a workspace may later mark
searchable, with no reindex), and an *anchored* value starts with a START symbol, so that a needle starting with it
matches only at the start of a value: Rocket.Chat's case-insensitive prefix regex `/^term/i`.

`contact.search`'s custom lookup is the one case-insensitive search not on this scheme yet (`contact_index/visitors.py`
says why). Pure: no I/O. The indexer writes `tokens`; the service queries with `query`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

GRAM_SIZE: Final = 3
# Written for the missing characters of a trigram at the end of a value; never produced by a needle's characters.
PAD: Final = "-"
ANALYZER: Final = "whitespace"
# The symbol before an anchored value's first character; `_encode` writes only hex digits and dots, never this.
START: Final = "^."

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


def namespace(key: str) -> str:
    """The token prefix of one key's values: a digest, so that a token stays short (the whitespace tokenizer splits
    tokens longer than 255 characters) whatever the key; 64 bits make two keys of one document collide with
    probability 2**-64."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest() + "/"


def value_tokens(value: str, prefix: str = "", anchored: bool = False) -> str:
    """One stored value as the whitespace-separated tokens of its padded trigrams, each after `prefix` ('' for an
    empty value that is not anchored)."""
    folded = fold(value)
    symbols = [START, *(_encode(char) for char in folded)] if anchored else None
    if symbols is None:
        size = len(folded)
        return " ".join(
            prefix + _encode(folded[i : i + GRAM_SIZE]) + PAD * max(0, i + GRAM_SIZE - size) for i in range(size)
        )
    size = len(symbols)
    return " ".join(
        prefix + "".join(symbols[i : i + GRAM_SIZE]) + PAD * max(0, i + GRAM_SIZE - size) for i in range(size)
    )


def tokens(values: Iterable[str], prefix: str = "", anchored: bool = False) -> list[str]:
    """The text field's values for a document's searchable strings. Empty strings are dropped unless anchored: they
    hold no substring but the empty one, which every document matches anyway; an anchored empty value still starts."""
    return [value_tokens(value, prefix, anchored) for value in values if value or anchored]


def query(field: str, needle: str, prefix: str = "", anchored: bool = False) -> dict[str, Any] | None:
    """The query matching documents with a value (under `prefix`) that contains `needle` (anchored: starts with it),
    ignoring case; None: every document does."""
    symbols = [_encode(char) for char in fold(needle)]
    if anchored:
        symbols.insert(0, START)
    if not symbols:
        return None
    if len(symbols) < GRAM_SIZE:
        return {"prefix": {field: {"value": prefix + "".join(symbols)}}}
    grams = (prefix + "".join(symbols[i : i + GRAM_SIZE]) for i in range(len(symbols) - GRAM_SIZE + 1))
    return {"match_phrase": {field: {"query": " ".join(grams), "analyzer": ANALYZER}}}


def mapping() -> dict[str, Any]:
    """The `text` field holding the tokens: positions for phrases, no norms or scores needed."""
    return {"type": "text", "analyzer": ANALYZER, "norms": False, "index_options": "positions"}
