"""Pure helpers every synced collection's documents use: BSON values as Rocket.Chat's JSON prints them, dates as
epoch milliseconds, the Elasticsearch `_id` of a Mongo `_id`, and the content digest `verify` compares."""

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


def document_id(mongo_id: Any) -> str:
    """The Elasticsearch `_id` of a document: its Mongo `_id` as the API prints it."""
    printed = to_printable(mongo_id)
    return printed if isinstance(printed, str) else orjson.dumps(printed).decode()


def content_hash(printed: Mapping[str, Any]) -> str:
    """A stable digest of a printed document, compared by `verify` against MongoDB."""
    return hashlib.blake2b(orjson.dumps(printed, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()
