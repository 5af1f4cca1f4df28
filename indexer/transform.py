"""Pure conversion of a Rocket.Chat visitor document into the contact the API prints and the document we index."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from bson import Binary, Decimal128, ObjectId, Regex, Timestamp

from contact_index import schema

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def iso_millis(moment: dt.datetime) -> str:
    """A date as Rocket.Chat's JSON prints it: ISO-8601 UTC with milliseconds, `2024-05-02T10:31:07.512Z`."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def epoch_millis(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def to_printable(value: Any) -> Any:
    """A BSON value as the JSON that Rocket.Chat's REST API sends for it."""
    # This runs for every field of every visitor: exact type checks first (plain JSON values are nearly all of
    # them, and the documents PyMongo decodes are plain dicts and lists), the abstract ones only after.
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {
            key if type(key) is str else str(key): item if type(item) in _JSON_SCALARS else to_printable(item)
            for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _JSON_SCALARS else to_printable(item) for item in value]
    if kind is dt.datetime:
        return iso_millis(value)
    if isinstance(value, Mapping):
        return {str(key): to_printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_printable(item) for item in value]
    if isinstance(value, dt.datetime):
        return iso_millis(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Binary | bytes):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Timestamp):
        return {"t": value.time, "i": value.inc}
    if isinstance(value, Regex):
        return str(value.pattern)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def document_id(visitor_id: Any) -> str:
    """The Elasticsearch `_id` of a visitor: its Mongo `_id` as the API prints it."""
    printed = to_printable(visitor_id)
    return printed if isinstance(printed, str) else orjson.dumps(printed).decode()


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
    gram terms and the long-value keys of the substring search (see schema)."""
    custom: dict[str, list[str]] = {}
    grams: set[str] = set()
    long_keys: list[str] = []
    if not isinstance(livechat_data, Mapping):
        return custom, [], long_keys
    for raw_key, value in livechat_data.items():
        key = raw_key if type(raw_key) is str else str(raw_key)
        texts = schema.value_strings(value)
        if not texts:
            continue
        if _flattenable_key(key):
            custom[key] = texts
        prefix = schema.presence_term(key)  # "<key>:", which every gram term of the key starts with
        grams.add(prefix)
        for text in texts:
            grams.update(schema.gram_terms(prefix, text))
        if any(len(text) > schema.GRAM_WINDOW for text in texts):
            long_keys.append(key)
    return custom, sorted(grams), sorted(long_keys)


def _flattenable_key(key: str) -> bool:
    """Keys a `flattened` field accepts; others are still searchable through the grams."""
    return bool(key) and not key.startswith(".") and not key.endswith(".") and ".." not in key


def content_hash(contact: Mapping[str, Any]) -> str:
    """A stable digest of the printed contact, compared by `verify` against MongoDB."""
    return hashlib.blake2b(orjson.dumps(contact, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def to_index_document(visitor: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of a searchable visitor."""
    contact = to_printable(visitor)
    custom, grams, long_keys = custom_field_terms(visitor.get("livechatData"))
    document: dict[str, Any] = {
        schema.FIELD_ID: document_id(visitor.get("_id")),
        schema.FIELD_EMAILS: _addresses(visitor.get("visitorEmails"), "address"),
        schema.FIELD_PHONES: _addresses(visitor.get("phone"), "phoneNumber"),
        schema.FIELD_CUSTOM: custom,
        schema.FIELD_CUSTOM_GRAMS: grams,
        schema.FIELD_CUSTOM_LONG: long_keys,
        schema.FIELD_VISITOR: contact,
        schema.FIELD_CONTENT_HASH: content_hash(contact),
    }
    for field, target in (("ts", schema.FIELD_TS), ("_updatedAt", schema.FIELD_UPDATED_AT)):
        moment = visitor.get(field)
        if isinstance(moment, dt.datetime):
            document[target] = epoch_millis(moment)
    return document
