"""MongoDB reads of the indexer for one spec: the collection in `_id` or version order, Rocket.Chat 6's trash, exact
`_id` lookups and the change stream. Thin: the records they become are built in `changes`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from indexer import documents
from indexer.specs import TRASH_COLLECTION, Spec

# Errors that mean the stored resume token points before the oldest change the server still has.
HISTORY_LOST_CODES: Final = frozenset({260, 280, 286})  # InvalidResumeToken, ChangeStreamFatalError, HistoryLost

Database = AsyncDatabase[dict[str, Any]]

log = logging.getLogger(__name__)


async def estimated_count(database: Database, spec: Spec) -> int:
    """How many documents there are, from the collection's statistics (for progress and backlog only).

    `$collStats` reads the storage engine's count on every server; the `count` command behind PyMongo's
    `estimated_document_count` is as cheap on MongoDB but scans the whole collection on FerretDB, which delayed
    the backfill's first read by as long as reading everything.
    """
    collection = database[spec.collection]
    try:
        shards = await (await collection.aggregate([{"$collStats": {"count": {}}}])).to_list(None)
    except OperationFailure:
        return await collection.estimated_document_count()
    return sum(int(shard.get("count") or 0) for shard in shards)


def after_id_filter(after: Any) -> dict[str, Any]:
    """Documents sorting after `after` in `_id` order. MongoDB compares only within one BSON type, and
    ObjectIds sort after strings, so resuming after a string must also take every ObjectId."""
    if after is None:
        return {}
    if isinstance(after, str):
        return {"$or": [{"_id": {"$gt": after}}, {"_id": {"$type": "objectId"}}]}
    return {"_id": {"$gt": after}}


async def batches_by_id(
    database: Database, spec: Spec, after: Any, batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Documents in `_id` order after `after` (None: from the start), a server batch at a time, through one cursor
    for the whole pass (on the test server every re-query is a full scan)."""
    cursor = database[spec.collection].find(after_id_filter(after), batch_size=batch_size).sort("_id", 1)
    async with cursor:
        while documents := await cursor.to_list(batch_size):
            yield documents


async def written_since(
    database: Database, spec: Spec, since: dt.datetime, batch_size: int
) -> AsyncIterator[dict[str, Any]]:
    """Documents written at or after `since`, oldest write first."""
    field = spec.version_field
    cursor = (
        database[spec.collection].find({field: {"$gte": since}}, batch_size=batch_size).sort([(field, 1), ("_id", 1)])
    )
    async with cursor:
        async for document in cursor:
            yield document


async def trash_since(
    database: Database, spec: Spec, since: dt.datetime, batch_size: int
) -> AsyncIterator[dict[str, Any]]:
    """Rocket.Chat 6 trash entries of the spec's documents deleted at or after `since`, oldest first."""
    if spec.trash_mark is None:
        return
    cursor = (
        database[TRASH_COLLECTION]
        .find({"__collection__": spec.trash_mark, "_deletedAt": {"$gte": since}}, batch_size=batch_size)
        .sort([("_deletedAt", 1), ("_id", 1)])
    )
    async with cursor:
        async for entry in cursor:
            yield entry


def id_candidates(document_id: str) -> list[Any]:
    """The stored `_id` values an index id may stand for."""
    candidates: list[Any] = [document_id]
    if ObjectId.is_valid(document_id) and len(document_id) == 24:
        candidates.append(ObjectId(document_id))
    return candidates


async def exists(database: Database, spec: Spec, document_id: str) -> bool:
    """Whether a document with this index id is in MongoDB (an exact `_id` lookup, fast on every server)."""
    collection = database[spec.collection]
    for candidate in id_candidates(document_id):
        if await collection.find_one({"_id": candidate}, {"_id": 1}) is not None:
            return True
    return False


async def by_ids(database: Database, spec: Spec, ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The current documents with these `_id`s, keyed by index id (missing ones are absent)."""
    wanted = list(ids)
    if not wanted:
        return {}
    found: dict[str, dict[str, Any]] = {}
    async for document in database[spec.collection].find({"_id": {"$in": wanted}}):
        found[documents.document_id(document["_id"])] = document
    return found


# The change stream (a MongoDB replica set; FerretDB has none).


class HistoryLost(Exception):
    """The change stream cannot resume from the stored token: a re-backfill is needed."""


def is_history_lost(error: OperationFailure) -> bool:
    return error.code in HISTORY_LOST_CODES or "ChangeStreamHistoryLost" in str(error.details or "")


async def change_streams_available(database: Database, spec: Spec) -> bool:
    """Whether the server supports change streams on the spec's collection (a replica set)."""
    try:
        stream = await database[spec.collection].watch(max_await_time_ms=1)
    except OperationFailure as error:
        log.info("change streams unavailable (%s): polling", error.code)
        return False
    await stream.close()
    return True


async def current_resume_token(database: Database, spec: Spec) -> Mapping[str, Any]:
    """A resume token for "now": recorded before a backfill so that the stream later starts where it began."""
    stream = await database[spec.collection].watch(max_await_time_ms=1)
    try:
        await stream.try_next()
        token = stream.resume_token
    finally:
        await stream.close()
    if token is None:
        raise RuntimeError("the change stream gave no resume token")
    return token


async def change_events(
    database: Database, spec: Spec, resume_token: Mapping[str, Any] | None, max_await_ms: int
) -> AsyncIterator[Mapping[str, Any] | None]:
    """Raw change events after `resume_token`; None when the server had nothing new for `max_await_ms`.

    Raises HistoryLost when the token is older than the server's history.
    """
    try:
        stream = await database[spec.collection].watch(
            full_document="updateLookup", resume_after=resume_token, max_await_time_ms=max_await_ms
        )
    except OperationFailure as error:
        if is_history_lost(error):
            raise HistoryLost(str(error.code)) from error
        raise
    async with stream:
        while stream.alive:
            try:
                event = await stream.try_next()
            except OperationFailure as error:
                if is_history_lost(error):
                    raise HistoryLost(str(error.code)) from error
                raise
            yield event
