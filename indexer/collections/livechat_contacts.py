"""Rocket.Chat 7's contacts (`rocketchat_livechat_contact`, searched by `contacts.search`, read by `contacts.get`): the
sync spec and the pure conversion of a contact into the document we index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from contact_index import livechat_contacts as fields
from contact_index import shared, substring
from indexer import documents
from indexer.specs import Spec

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
        return [documents.epoch_millis(value) for value in values if isinstance(value, dt.datetime)]
    return [value[:SORT_KEYWORD_CHARS] for value in values if isinstance(value, str)]


def content_hash(contact: Mapping[str, Any]) -> str:
    return documents.content_hash(documents.to_printable(contact))


def to_index_document(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of an enabled contact."""
    printed = documents.to_printable(contact)
    texts = [value for path in SEARCH_PATHS for value in path_values(contact, path) if isinstance(value, str)]
    document: dict[str, Any] = {
        shared.FIELD_ID: documents.document_id(contact.get("_id")),
        shared.FIELD_CONTENT_HASH: documents.content_hash(printed),
        fields.FIELD_CONTACT: printed,
        fields.FIELD_SEARCH: substring.tokens(texts),
        fields.FIELD_HAS_TEXT: bool(texts),
        fields.FIELD_UNKNOWN: [value for value in path_values(contact, "unknown") if isinstance(value, bool)],
    }
    for path, (field, kind) in fields.SORT_FIELDS.items():
        if field != shared.FIELD_ID:
            document[field] = _sort_values(contact, path, kind)
    return document


# Rocket.Chat keeps no trash for contacts: a hard delete is found by the change stream or, when polling, by
# reconciliation.
LIVECHAT_CONTACTS: Final = Spec(
    name="livechat_contacts",
    collection="rocketchat_livechat_contact",
    alias="livechat_contacts",
    to_document=to_index_document,
    content_hash=content_hash,
    mapping=fields.MAPPING,
    settings=fields.SETTINGS,
    version_fields=("_updatedAt", "createdAt"),
    excluded=is_disabled,
)
