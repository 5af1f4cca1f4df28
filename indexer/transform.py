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

from indexer import schema

_JSON_SCALARS = frozenset({str, int, float, bool})


def iso_millis(moment: dt.datetime) -> str:
    """A date as Rocket.Chat's JSON prints it: ISO-8601 UTC with milliseconds, `2024-05-02T10:31:07.512Z`."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def epoch_millis(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def to_printable(value: Any) -> Any:
    """A BSON value as the JSON that Rocket.Chat's REST API sends for it."""
    # Plain JSON types first: they are nearly every value, and this runs for every field of every visitor.
    if value is None or type(value) in _JSON_SCALARS:
        return value
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


def version_of(visitor: Mapping[str, Any]) -> int:
    """The external version of a visitor write: its `_updatedAt` in ms (Rocket.Chat sets it on every write)."""
    for field in ("_updatedAt", "ts"):
        moment = visitor.get(field)
        if isinstance(moment, dt.datetime):
            return epoch_millis(moment)
    return 1


def _addresses(entries: Any, key: str) -> list[str]:
    if not isinstance(entries, list):
        return []
    found = (entry.get(key) for entry in entries if isinstance(entry, Mapping))
    return [value for value in found if isinstance(value, str)]


def custom_field_terms(livechat_data: Any) -> tuple[list[str], list[str]]:
    """Gram terms and long-value keys of `livechatData`, for the substring search (see schema)."""
    grams: set[str] = set()
    long_keys: set[str] = set()
    if not isinstance(livechat_data, Mapping):
        return [], []
    for key, value in livechat_data.items():
        prefix = schema.presence_term(str(key))  # "<key>:", which every gram term of the key starts with
        for text in schema.value_strings(value):
            grams.add(prefix)
            grams.update([prefix + gram for gram in schema.value_grams(text)])
            if len(text) > schema.GRAM_WINDOW:
                long_keys.add(str(key))
    return sorted(grams), sorted(long_keys)


def _flattenable_key(key: str) -> bool:
    """Keys a `flattened` field accepts; others are still searchable through the grams."""
    return bool(key) and not key.startswith(".") and not key.endswith(".") and ".." not in key


def content_hash(contact: Mapping[str, Any]) -> str:
    """A stable digest of the printed contact, compared by `verify` against MongoDB."""
    return hashlib.blake2b(orjson.dumps(contact, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def to_index_document(visitor: Mapping[str, Any]) -> dict[str, Any]:
    """The Elasticsearch document of a searchable visitor."""
    contact = to_printable(visitor)
    livechat_data = visitor.get("livechatData")
    grams, long_keys = custom_field_terms(livechat_data)
    custom = (
        {
            str(key): strings
            for key, value in livechat_data.items()
            if _flattenable_key(str(key)) and (strings := list(schema.value_strings(value)))
        }
        if isinstance(livechat_data, Mapping)
        else {}
    )
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
