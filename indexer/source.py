"""MongoDB reads of the indexer: the visitor collection in `_id` or `_updatedAt` order, Rocket.Chat 6's trash, the
visitor ids for reconciliation and the change stream. Thin: the records they become are built in `changes`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from indexer import changes, schema, transform

# Errors that mean the stored resume token points before the oldest change the server still has.
HISTORY_LOST_CODES: Final = frozenset({260, 280, 286})  # InvalidResumeToken, ChangeStreamFatalError, HistoryLost

log = logging.getLogger(__name__)


async def all_visitors(database: AsyncDatabase[dict[str, Any]], batch_size: int) -> AsyncIterator[dict[str, Any]]:
    """Every visitor, through one cursor (on the test server every re-query is a full scan)."""
    cursor = database[schema.VISITORS_COLLECTION].find({}, batch_size=batch_size)
    async with cursor:
        async for visitor in cursor:
            yield visitor


async def estimated_visitors(database: AsyncDatabase[dict[str, Any]]) -> int:
    """How many visitors there are, from the collection's statistics (for progress and backlog only).

    `$collStats` reads the storage engine's count on every server; the `count` command behind PyMongo's
    `estimated_document_count` is as cheap on MongoDB but scans the whole collection on FerretDB, which delayed
    the backfill's first read by as long as reading everything.
    """
    collection = database[schema.VISITORS_COLLECTION]
    try:
        shards = await (await collection.aggregate([{"$collStats": {"count": {}}}])).to_list(None)
    except OperationFailure:
        return await collection.estimated_document_count()
    return sum(int(shard.get("count") or 0) for shard in shards)


def after_id_filter(after: Any) -> dict[str, Any]:
    """Visitors sorting after `after` in `_id` order. MongoDB compares only within one BSON type, and
    ObjectIds sort after strings, so resuming after a string must also take every ObjectId."""
    if after is None:
        return {}
    if isinstance(after, str):
        return {"$or": [{"_id": {"$gt": after}}, {"_id": {"$type": "objectId"}}]}
    return {"_id": {"$gt": after}}


async def visitors_by_id(
    database: AsyncDatabase[dict[str, Any]], after: Any, batch_size: int
) -> AsyncIterator[dict[str, Any]]:
    """Visitors in `_id` order after `after` (None: from the start), through one cursor for the whole pass."""
    cursor = database[schema.VISITORS_COLLECTION].find(after_id_filter(after), batch_size=batch_size).sort("_id", 1)
    async with cursor:
        async for visitor in cursor:
            yield visitor


async def visitor_batches_by_id(
    database: AsyncDatabase[dict[str, Any]], after: Any, batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """`visitors_by_id` a server batch at a time (one cursor for the whole pass)."""
    cursor = database[schema.VISITORS_COLLECTION].find(after_id_filter(after), batch_size=batch_size).sort("_id", 1)
    async with cursor:
        while visitors := await cursor.to_list(batch_size):
            yield visitors


async def visitors_updated_since(
    database: AsyncDatabase[dict[str, Any]], since: dt.datetime, batch_size: int
) -> AsyncIterator[dict[str, Any]]:
    """Visitors written at or after `since`, oldest write first."""
    cursor = (
        database[schema.VISITORS_COLLECTION]
        .find({"_updatedAt": {"$gte": since}}, batch_size=batch_size)
        .sort([("_updatedAt", 1), ("_id", 1)])
    )
    async with cursor:
        async for visitor in cursor:
            yield visitor


async def trash_since(
    database: AsyncDatabase[dict[str, Any]], since: dt.datetime, batch_size: int
) -> AsyncIterator[dict[str, Any]]:
    """Rocket.Chat 6 trash entries of visitors deleted at or after `since`, oldest first."""
    cursor = (
        database[schema.TRASH_COLLECTION]
        .find({"__collection__": schema.TRASH_VISITOR_MARK, "_deletedAt": {"$gte": since}}, batch_size=batch_size)
        .sort([("_deletedAt", 1), ("_id", 1)])
    )
    async with cursor:
        async for entry in cursor:
            yield entry


async def _ids_of_type(database: AsyncDatabase[dict[str, Any]], bson_type: str) -> AsyncIterator[str]:
    cursor = (
        database[schema.VISITORS_COLLECTION]
        .find({"_id": {"$type": bson_type}}, {"_id": 1}, batch_size=5000)
        .sort("_id", 1)
    )
    async with cursor:
        async for visitor in cursor:
            yield str(visitor["_id"])


def visitor_ids(database: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[str]:
    """Every visitor's index id in ascending string order, streamed.

    Rocket.Chat's ids are strings; ObjectIds (imports) print as hex and are merged in. Other id types are not
    produced by Rocket.Chat and are left out (their index entries are then never removed by reconciliation).
    """
    return changes.merge_sorted([_ids_of_type(database, "string"), _ids_of_type(database, "objectId")], key=str)


def id_candidates(document_id: str) -> list[Any]:
    """The stored `_id` values an index id may stand for."""
    candidates: list[Any] = [document_id]
    if ObjectId.is_valid(document_id) and len(document_id) == 24:
        candidates.append(ObjectId(document_id))
    return candidates


async def exists(database: AsyncDatabase[dict[str, Any]], document_id: str) -> bool:
    """Whether a visitor with this index id is in MongoDB (an exact `_id` lookup, fast on every server)."""
    collection = database[schema.VISITORS_COLLECTION]
    for candidate in id_candidates(document_id):
        if await collection.find_one({"_id": candidate}, {"_id": 1}) is not None:
            return True
    return False


async def visitors_by_ids(database: AsyncDatabase[dict[str, Any]], ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The current documents of these visitors, keyed by index id (missing ones are absent)."""
    wanted = list(ids)
    if not wanted:
        return {}
    found: dict[str, dict[str, Any]] = {}
    async for visitor in database[schema.VISITORS_COLLECTION].find({"_id": {"$in": wanted}}):
        found[transform.document_id(visitor["_id"])] = visitor
    return found


# The change stream (a MongoDB replica set; the test server has none).


def _history_lost(error: OperationFailure) -> bool:
    return error.code in HISTORY_LOST_CODES or "ChangeStreamHistoryLost" in str(error.details or "")


class HistoryLost(Exception):
    """The change stream cannot resume from the stored token: a re-backfill is needed."""


async def change_streams_available(database: AsyncDatabase[dict[str, Any]]) -> bool:
    """Whether the server supports change streams on the visitor collection (a replica set)."""
    try:
        stream = await database[schema.VISITORS_COLLECTION].watch(max_await_time_ms=1)
    except OperationFailure as error:
        log.info("change streams unavailable (%s): polling", error.code)
        return False
    await stream.close()
    return True


async def current_resume_token(database: AsyncDatabase[dict[str, Any]]) -> Mapping[str, Any]:
    """A resume token for "now": recorded before a backfill so that the stream later starts where it began."""
    stream = await database[schema.VISITORS_COLLECTION].watch(max_await_time_ms=1)
    try:
        await stream.try_next()
        token = stream.resume_token
    finally:
        await stream.close()
    if token is None:
        raise RuntimeError("the change stream gave no resume token")
    return token


async def change_events(
    database: AsyncDatabase[dict[str, Any]], resume_token: Mapping[str, Any] | None, max_await_ms: int
) -> AsyncIterator[Mapping[str, Any] | None]:
    """Raw change events after `resume_token`; None when the server had nothing new for `max_await_ms`.

    Raises HistoryLost when the token is older than the server's history.
    """
    try:
        stream = await database[schema.VISITORS_COLLECTION].watch(
            full_document="updateLookup", resume_after=resume_token, max_await_time_ms=max_await_ms
        )
    except OperationFailure as error:
        if _history_lost(error):
            raise HistoryLost(str(error.code)) from error
        raise
    async with stream:
        while stream.alive:
            try:
                event = await stream.try_next()
            except OperationFailure as error:
                if _history_lost(error):
                    raise HistoryLost(str(error.code)) from error
                raise
            yield event
