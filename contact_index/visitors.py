"""Names, mapping and custom-field gram rule of the visitors index (`rocketchat_livechat_visitor`, served by
`contact.search`, `livechat/visitors.search` and `livechat/visitors.autocomplete`): what the indexer writes and the
service reads.

Two substring schemes live here, for a reason. The visitor lists match name, username and custom fields with the
project's one exact scheme (`substring`): every custom key's values are tokenized under the key's namespace, so a
field a workspace marks searchable later needs no reindex. `contact.search`'s custom lookup still reads the older
lower-cased keyword grams with a literal check in the service (`service.lookup.query`): those tokens only exist in
indices built from MAPPING_VERSION 2 on, and `contact.search` must keep answering from an index built before, until
`python -m indexer reindex` has run everywhere. Moving it needs that reindex, then the grams can go.

Pure: no I/O. Both sides import it; neither imports the other.
"""

from __future__ import annotations

from typing import Any, Final

from contact_index import shared, substring

# Fields of an indexed visitor document (besides `shared.FIELD_ID` and `shared.FIELD_CONTENT_HASH`).
FIELD_TS: Final = "ts"
FIELD_UPDATED_AT: Final = "updated_at"
FIELD_EMAILS: Final = "emails"
FIELD_PHONES: Final = "phones"
FIELD_CUSTOM: Final = "custom"
FIELD_CUSTOM_GRAMS: Final = "custom_grams"
FIELD_CUSTOM_LONG: Final = "custom_long"
FIELD_VISITOR: Final = "visitor"
# From MAPPING_VERSION 2, for the visitor lists (see `substring` for the tokens):
# exact (case-sensitive) `visitorEmails.address` strings, as Rocket.Chat's equality compares them;
FIELD_EMAIL_ADDRESSES: Final = "email_addresses"
# substring tokens of every `name` and `username` string;
FIELD_SEARCH: Final = "search"
# anchored tokens of every `name` string (the autocomplete's prefix);
FIELD_NAME_START: Final = "name_start"
# substring tokens of every custom field's strings, each under the namespace of its key.
FIELD_CUSTOM_SEARCH: Final = "custom_search"
TOKEN_FIELDS: Final = (FIELD_SEARCH, FIELD_NAME_START, FIELD_CUSTOM_SEARCH)

# The mapping generation: the service serves the visitor lists only from an index built with at least
# LISTS_MAPPING_VERSION (its `_meta.version`); an older index needs `python -m indexer reindex`.
MAPPING_VERSION: Final = 2
LISTS_MAPPING_VERSION: Final = 2

# The paths `visitors.search` may sort by, each with the index field holding its values (strings as keyword, dates
# as dates; an array sorts by its least value ascending and greatest descending, as MongoDB does).
SORT_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "_id": (shared.FIELD_ID, "keyword"),
    "ts": (FIELD_TS, "date"),
    "_updatedAt": (FIELD_UPDATED_AT, "date"),
    "lastChat.ts": ("sort_last_chat_ts", "date"),
    "name": ("sort_name", "keyword"),
    "username": ("sort_username", "keyword"),
    "visitorEmails.address": ("sort_emails", "keyword"),
    "phone.phoneNumber": ("sort_phones", "keyword"),
}

# Substring search over custom fields without ngram analyzers (absent from the minimal server):
# the indexer stores every trigram of the lowercased value as a keyword "<key>:<gram>", padded at the
# end so that each 1- and 2-character substring is the prefix of some stored gram. A query of three
# characters or fewer is then exact; a longer one intersects its trigrams and the service confirms
# the candidates literally. Values longer than GRAM_WINDOW only have grams for their head and are
# also listed under FIELD_CUSTOM_LONG so that a match in their tail is still a candidate.
GRAM_SIZE: Final = substring.GRAM_SIZE
GRAM_PAD: Final = "\x03"
GRAM_WINDOW: Final = 1024
GRAM_KEY_SEPARATOR: Final = ":"
MAX_QUERY_GRAMS: Final = 32

MAPPING: Final[dict[str, Any]] = {
    "dynamic": "strict",
    "_meta": {"version": MAPPING_VERSION},
    # The tokens are only for searching; `verify` compares content hashes and reindex reads MongoDB.
    "_source": {"excludes": list(TOKEN_FIELDS)},
    "properties": {
        shared.FIELD_ID: {"type": "keyword"},
        FIELD_TS: {"type": "date"},
        FIELD_UPDATED_AT: {"type": "date"},
        FIELD_EMAILS: {"type": "keyword", "normalizer": "lowercase"},
        FIELD_PHONES: {"type": "keyword"},
        FIELD_CUSTOM: {"type": "flattened", "ignore_above": 1024},
        FIELD_CUSTOM_GRAMS: {"type": "keyword"},
        FIELD_CUSTOM_LONG: {"type": "keyword"},
        FIELD_VISITOR: {"type": "object", "enabled": False},
        shared.FIELD_CONTENT_HASH: {"type": "keyword", "index": False, "doc_values": False},
        FIELD_EMAIL_ADDRESSES: {"type": "keyword"},
        **{field: substring.mapping() for field in TOKEN_FIELDS},
        **{field: {"type": kind} for field, kind in SORT_FIELDS.values() if field.startswith("sort_")},
    },
}

# Deep pages are Rocket.Chat's skip() (as for the contacts index).
MAX_RESULT_WINDOW: Final = 2_147_483_647

SETTINGS: Final[dict[str, Any]] = {
    "index": {**shared.SETTINGS["index"], "max_result_window": MAX_RESULT_WINDOW},
}


def fold(text: str) -> str:
    """Case folding shared by indexing and querying, so both sides agree on one rule."""
    return text.lower()


def gram_term(key: str, gram: str) -> str:
    return f"{key}{GRAM_KEY_SEPARATOR}{gram}"


def presence_term(key: str) -> str:
    """Stored for every string value of `key`, so an empty search value (a match-all regex) works."""
    return f"{key}{GRAM_KEY_SEPARATOR}"


def gram_terms(prefix: str, value: str) -> list[str]:
    """`prefix` followed by each padded trigram of one custom-field value's head (see the comment above), in order,
    repeats included."""
    head = fold(value)[:GRAM_WINDOW]
    padded = head + GRAM_PAD * (GRAM_SIZE - 1)
    return [prefix + padded[i : i + GRAM_SIZE] for i in range(len(head))]


def query_grams(value: str) -> list[str]:
    """Trigrams that every value containing `value` must have, at most MAX_QUERY_GRAMS, spread evenly."""
    folded = fold(value)
    grams = sorted({folded[i : i + GRAM_SIZE] for i in range(len(folded) - GRAM_SIZE + 1)})
    if len(grams) <= MAX_QUERY_GRAMS:
        return grams
    step = len(grams) / MAX_QUERY_GRAMS
    return [grams[int(i * step)] for i in range(MAX_QUERY_GRAMS)]


def value_strings(value: Any) -> list[str]:
    """The strings a Mongo regex on a field tests: the value itself, or each string of an array."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def value_contains(stored: Any, needle: str) -> bool:
    """Rocket.Chat's `new RegExp(escapeRegExp(needle), "i")` test of a stored custom-field value."""
    folded = fold(needle)
    return any(folded in fold(text) for text in value_strings(stored))
