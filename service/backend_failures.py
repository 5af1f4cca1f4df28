"""The one rule that turns a backend failure into the contract's error: 503 when it passes (unreachable, timed out,
overloaded, the index missing, shards that failed, a credential refused), 502 when the backend answered something we
cannot use. Every route and both Elasticsearch clients (the lookup's own and elasticsearch-py) go through it, so one
failure never gets two statuses, and an answer with failed shards or a timeout is never served as a 200.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import elasticsearch
import orjson
import pymongo.errors

from service.errors import ApiError, BackendFailed, BackendUnavailable

UNAVAILABLE: Final = "Search backend is unavailable"
INDEX_MISSING: Final = "Search index is not available"
OVERLOADED: Final = "Search backend is overloaded"
REFUSED: Final = "Search backend refused our credentials"
FAILED: Final = "Search backend failed"
DATABASE_UNAVAILABLE: Final = "Database is unavailable"
DATABASE_FAILED: Final = "Database failed"

# Shards that failed on every copy (partial results are refused): a node went away mid-search, which passes.
_TRANSIENT_TYPES: Final = frozenset({"search_phase_execution_exception", "no_shard_available_action_exception"})


def error_type(body: Any) -> str | None:
    """Elasticsearch's `error.type` of an error body (a dict, or raw JSON bytes), or None."""
    if isinstance(body, bytes | bytearray):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    error = body.get("error") if isinstance(body, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    return kind if isinstance(kind, str) else None


def for_status(status: int, kind: str | None) -> ApiError:
    """An Elasticsearch error answer (status, `error.type`) → the contract's error."""
    if status in {401, 403}:
        return BackendUnavailable(REFUSED)
    if kind in _TRANSIENT_TYPES or status in {502, 504}:
        return BackendUnavailable(UNAVAILABLE)
    if status == 404:
        return BackendUnavailable(INDEX_MISSING)
    if status in {429, 503}:
        return BackendUnavailable(OVERLOADED)
    return BackendFailed(FAILED)


def for_answer(answer: Any) -> ApiError | None:
    """A 200 that must not be served: not a JSON object, timed out, or with failed shards (a partial answer)."""
    if not isinstance(answer, Mapping):
        return BackendFailed(FAILED)
    shards = answer.get("_shards")
    failed = shards.get("failed") if isinstance(shards, Mapping) else None
    if answer.get("timed_out") is True or (isinstance(failed, int) and failed > 0):
        return BackendUnavailable(UNAVAILABLE)
    return None


def parse_answer(raw: bytes) -> dict[str, Any]:
    """The JSON object of a 200 from Elasticsearch; raises the contract's error for one that must not be served."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BackendFailed(FAILED) from None
    refused = for_answer(answer)
    if refused is not None:
        raise refused
    return answer  # type: ignore[no-any-return]


def for_exception(failure: BaseException) -> ApiError | None:
    """The contract's error for a client library's exception (elasticsearch-py, PyMongo, a socket), or None for
    anything that is not a backend's failure."""
    if isinstance(failure, elasticsearch.ApiError):
        return for_status(failure.meta.status, error_type(failure.body))
    if isinstance(failure, elasticsearch.SerializationError):
        return BackendFailed(FAILED)
    if isinstance(failure, elasticsearch.TransportError | TimeoutError | ConnectionError):
        return BackendUnavailable(UNAVAILABLE)
    if isinstance(failure, pymongo.errors.ConnectionFailure | pymongo.errors.ServerSelectionTimeoutError):
        return BackendUnavailable(DATABASE_UNAVAILABLE)
    if isinstance(failure, pymongo.errors.PyMongoError):
        return BackendFailed(DATABASE_FAILED)
    return None
