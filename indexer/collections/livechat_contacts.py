"""Rocket.Chat 7's contacts (`rocketchat_livechat_contact`, searched by `contacts.search`, read by `contacts.get`): the
sync spec and the pure conversion of a contact into the document we index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contact_index import livechat_contacts as fields
from contact_index import shared, substring
from indexer import documents
from indexer.specs import Spec

# The paths `contacts.search` matches its text against (Rocket.Chat's `$or` of three regexes).
SEARCH_PATHS: Final = ("name", "emails.address", "phones.phoneNumber")


def is_disabled(contact: Mapping[str, Any]) -> bool:
    """Rocket.Chat lists only `enabled: {$ne: false}`; a disabled contact is not in the index (both routes skip it)."""
    enabled = contact.get("enabled")
    return enabled is False or (isinstance(enabled, list) and any(item is False for item in enabled))


def content_hash(contact: Mapping[str, Any]) -> str:
    return documents.content_hash(documents.to_printable(contact))


def to_index_document(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of an enabled contact."""
    printed = documents.to_printable(contact)
    texts = [value for path in SEARCH_PATHS for value in documents.path_values(contact, path) if isinstance(value, str)]
    document: dict[str, Any] = {
        shared.FIELD_ID: documents.document_id(contact.get("_id")),
        shared.FIELD_CONTENT_HASH: documents.content_hash(printed),
        fields.FIELD_CONTACT: printed,
        fields.FIELD_SEARCH: substring.tokens(texts),
        fields.FIELD_HAS_TEXT: bool(texts),
        fields.FIELD_UNKNOWN: [value for value in documents.path_values(contact, "unknown") if isinstance(value, bool)],
    }
    document.update(documents.sort_fields(contact, fields.SORT_FIELDS))
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
