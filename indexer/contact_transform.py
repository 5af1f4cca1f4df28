"""Pure conversion of a Rocket.Chat 7 contact (`rocketchat_livechat_contact`) into the document we index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from contact_index import livechat_contacts as fields
from contact_index import schema, substring
from indexer import transform

# The paths `contacts.search` matches its text against (Rocket.Chat's `$or` of three regexes).
SEARCH_PATHS: Final = ("name", "emails.address", "phones.phoneNumber")
# A keyword longer than Lucene's term limit (32,766 bytes) is refused; sorting by the first characters is the same
# order but for values equal that far.
SORT_KEYWORD_CHARS: Final = 8000


def path_values(document: Any, path: str) -> list[Any]:
    """The values a MongoDB query on the dotted `path` tests: arrays along the way are walked into, and an array at
    the end stands for its elements too (`{'emails.address': ...}` reaches every address)."""
    current: list[Any] = [document]
    for step in path.split("."):
        found: list[Any] = []
        for value in current:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Mapping) and step in item:
                    found.append(item[step])
        current = found
    leaves: list[Any] = []
    for value in current:
        leaves.extend(value if isinstance(value, list) else [value])
    return leaves


def is_disabled(contact: Mapping[str, Any]) -> bool:
    """Rocket.Chat lists only `enabled: {$ne: false}`; a disabled contact is not in the index (both routes skip it)."""
    enabled = contact.get("enabled")
    return enabled is False or (isinstance(enabled, list) and any(item is False for item in enabled))


def _sort_values(contact: Mapping[str, Any], path: str, kind: str) -> list[Any]:
    values = path_values(contact, path)
    if kind == "date":
        return [transform.epoch_millis(value) for value in values if isinstance(value, dt.datetime)]
    return [value[:SORT_KEYWORD_CHARS] for value in values if isinstance(value, str)]


def content_hash(contact: Mapping[str, Any]) -> str:
    return transform.content_hash(transform.to_printable(contact))


def to_index_document(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of an enabled contact."""
    printed = transform.to_printable(contact)
    texts = [value for path in SEARCH_PATHS for value in path_values(contact, path) if isinstance(value, str)]
    document: dict[str, Any] = {
        schema.FIELD_ID: transform.document_id(contact.get("_id")),
        schema.FIELD_CONTENT_HASH: transform.content_hash(printed),
        fields.FIELD_CONTACT: printed,
        fields.FIELD_SEARCH: substring.tokens(texts),
        fields.FIELD_HAS_TEXT: bool(texts),
        fields.FIELD_UNKNOWN: [value for value in path_values(contact, "unknown") if isinstance(value, bool)],
    }
    for path, (field, kind) in fields.SORT_FIELDS.items():
        if field != schema.FIELD_ID:
            document[field] = _sort_values(contact, path, kind)
    return document
