"""Pure helpers every synced collection's documents use: BSON values as Rocket.Chat's JSON prints them, dates as
epoch milliseconds, the Elasticsearch `_id` of a Mongo `_id`, and the content digest `verify` compares."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import orjson
from bson import Binary, Decimal128, ObjectId, Regex, Timestamp

from contact_index import shared

# A keyword longer than Lucene's term limit (32,766 bytes) is refused; sorting by the first characters is the same
# order but for values equal that far.
SORT_KEYWORD_CHARS: Final = 8000
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


def path_strings(document: Any, path: str) -> list[str]:
    """The strings among `path_values`: what a MongoDB regex or string equality on the path can match."""
    return [value for value in path_values(document, path) if isinstance(value, str)]


def sort_values(document: Any, path: str, kind: str) -> list[Any]:
    """The values MongoDB sorts `path` by, as an index field of `kind` ("date": epoch ms, "keyword": strings)."""
    values = path_values(document, path)
    if kind == "date":
        return [epoch_millis(value) for value in values if isinstance(value, dt.datetime)]
    return [value[:SORT_KEYWORD_CHARS] for value in values if isinstance(value, str)]


def sort_fields(document: Any, table: Mapping[str, tuple[str, str]]) -> dict[str, list[Any]]:
    """Every sort field of a document for a table of `path -> (index field, kind)` (the id field is written apart)."""
    return {
        field: sort_values(document, path, kind) for path, (field, kind) in table.items() if field != shared.FIELD_ID
    }
