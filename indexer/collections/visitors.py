"""Rocket.Chat's omnichannel visitors (`rocketchat_livechat_visitor`, searched by `contact.search` and listed by
`livechat/visitors.search` and `visitors.autocomplete`): the sync spec and the pure conversion of a visitor into the
document we index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from contact_index import shared, substring
from contact_index import visitors as fields
from indexer import documents
from indexer.specs import Spec


def is_searchable(visitor: Mapping[str, Any]) -> bool:
    """Disabled visitors (Rocket.Chat's soft removal) never match, so they are not in the index."""
    return visitor.get("disabled") is not True


def _addresses(entries: Any, key: str) -> list[str]:
    if not isinstance(entries, list):
        return []
    found = (entry.get(key) for entry in entries if isinstance(entry, Mapping))
    return [value for value in found if isinstance(value, str)]


def custom_field_terms(livechat_data: Any) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """What `livechatData` becomes in the index, in one pass over it: the `flattened` field's strings by key, the
    gram terms and the long-value keys of the substring search (see `contact_index.visitors`)."""
    custom: dict[str, list[str]] = {}
    grams: set[str] = set()
    long_keys: list[str] = []
    if not isinstance(livechat_data, Mapping):
        return custom, [], long_keys
    for raw_key, value in livechat_data.items():
        key = raw_key if type(raw_key) is str else str(raw_key)
        texts = fields.value_strings(value)
        if not texts:
            continue
        if _flattenable_key(key):
            custom[key] = texts
        prefix = fields.presence_term(key)  # "<key>:", which every gram term of the key starts with
        grams.add(prefix)
        for text in texts:
            grams.update(fields.gram_terms(prefix, text))
        if any(len(text) > fields.GRAM_WINDOW for text in texts):
            long_keys.append(key)
    return custom, sorted(grams), sorted(long_keys)


def custom_search_tokens(livechat_data: Any) -> list[str]:
    """Every custom field's strings in the exact substring scheme, each under its key's namespace: whichever keys a
    workspace marks searchable, now or later, their values are already there."""
    if not isinstance(livechat_data, Mapping):
        return []
    found: list[str] = []
    for raw_key, value in livechat_data.items():
        texts = fields.value_strings(value)
        if texts:
            key = raw_key if type(raw_key) is str else str(raw_key)
            found.extend(substring.tokens(texts, substring.namespace(key)))
    return found


def _flattenable_key(key: str) -> bool:
    """Keys a `flattened` field accepts; others are still searchable through the grams."""
    return bool(key) and not key.startswith(".") and not key.endswith(".") and ".." not in key


def to_index_document(visitor: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of a searchable visitor."""
    contact = documents.to_printable(visitor)
    livechat_data = visitor.get("livechatData")
    custom, grams, long_keys = custom_field_terms(livechat_data)
    names = documents.path_strings(visitor, "name")
    document: dict[str, Any] = {
        shared.FIELD_ID: documents.document_id(visitor.get("_id")),
        fields.FIELD_EMAILS: _addresses(visitor.get("visitorEmails"), "address"),
        fields.FIELD_EMAIL_ADDRESSES: documents.path_strings(visitor, "visitorEmails.address"),
        fields.FIELD_PHONES: documents.path_strings(visitor, "phone.phoneNumber"),
        fields.FIELD_SEARCH: substring.tokens([*names, *documents.path_strings(visitor, "username")]),
        fields.FIELD_NAME_START: substring.tokens(names, anchored=True),
        fields.FIELD_CUSTOM_SEARCH: custom_search_tokens(livechat_data),
        fields.FIELD_CUSTOM: custom,
        fields.FIELD_CUSTOM_GRAMS: grams,
        fields.FIELD_CUSTOM_LONG: long_keys,
        fields.FIELD_VISITOR: contact,
        shared.FIELD_CONTENT_HASH: documents.content_hash(contact),
        **documents.sort_fields(visitor, fields.SORT_FIELDS),
    }
    for field, target in (("ts", fields.FIELD_TS), ("_updatedAt", fields.FIELD_UPDATED_AT)):
        moment = visitor.get(field)
        if isinstance(moment, dt.datetime):
            document[target] = documents.epoch_millis(moment)
    return document


def _content_hash(visitor: Mapping[str, Any]) -> str:
    return documents.content_hash(documents.to_printable(visitor))


# `disabled: true` is Rocket.Chat's soft removal.
VISITORS: Final = Spec(
    name="visitors",
    collection="rocketchat_livechat_visitor",
    alias="contacts",
    to_document=to_index_document,
    content_hash=_content_hash,
    mapping=fields.MAPPING,
    settings=fields.SETTINGS,
    trash_mark="livechat_visitor",
    version_fields=("_updatedAt", "ts"),
    excluded=lambda visitor: not is_searchable(visitor),
)
