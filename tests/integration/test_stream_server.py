"""The change-stream wire server of the local stack (mongo-java-server) gives the shapes the indexer relies on.

Runs against MONGO_STREAM_URL, which `deploy/local/stack up` prints; each test uses its own database.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import pytest
from bson import Timestamp
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

HISTORY_LOST = 286

Event = dict[str, Any]


@pytest.fixture
def stream_url() -> str:
    url = os.environ.get("MONGO_STREAM_URL")
    if not url:
        pytest.skip('MONGO_STREAM_URL is not set (`eval "$(deploy/local/stack up)"` sets it)')
    return url


class GetMoreCounter(monitoring.CommandListener):
    """Counts the getMore commands a client sends: a stream that busy-polls sends many."""

    def __init__(self) -> None:
        self.get_mores = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "getMore":
            self.get_mores += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def client(stream_url: str) -> AsyncIterator[AsyncMongoClient[Event]]:
    mongo: AsyncMongoClient[Event] = AsyncMongoClient(stream_url, tz_aware=False)
    try:
        yield mongo
    finally:
        await mongo.close()


@pytest.fixture
async def database_name(client: AsyncMongoClient[Event]) -> AsyncIterator[str]:
    name = f"stream_{uuid.uuid4().hex[:10]}"
    yield name
    await client.drop_database(name)


@pytest.fixture
def visitors(client: AsyncMongoClient[Event], database_name: str) -> AsyncCollection[Event]:
    return client[database_name]["rocketchat_livechat_visitor"]


async def next_events(stream: AsyncChangeStream[Event], count: int, within: float = 15.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + within
    while len(events) < count:
        assert time.monotonic() < deadline, f"{len(events)} of {count} events within {within}s: {events}"
        event = await stream.try_next()
        if event is not None:
            events.append(event)
    return events


async def open_stream(
    collection: AsyncCollection[Event], max_await_time_ms: int = 200, **options: Any
) -> AsyncChangeStream[Event]:
    """A stream from "now": the aggregate that opens it fixes its start, as on MongoDB."""
    return await collection.watch(max_await_time_ms=max_await_time_ms, **options)


async def test_each_write_gives_an_event_of_mongodb_shape(visitors: AsyncCollection[Event], database_name: str) -> None:
    stream = await open_stream(visitors)
    try:
        await visitors.insert_one({"_id": "v1", "name": "Ana", "phone": "+100"})
        await visitors.update_one(
            {"_id": "v1"}, {"$set": {"name": "Ana B", "livechatData.city": "Lx"}, "$unset": {"phone": ""}}
        )
        await visitors.replace_one({"_id": "v1"}, {"name": "Replaced"})
        await visitors.delete_one({"_id": "v1"})
        inserted, updated, replaced, deleted = await next_events(stream, 4)
    finally:
        await stream.close()

    assert [e["operationType"] for e in (inserted, updated, replaced, deleted)] == [
        "insert",
        "update",
        "replace",
        "delete",
    ]
    for event in (inserted, updated, replaced, deleted):
        assert event["documentKey"] == {"_id": "v1"}
        assert event["ns"] == {"db": database_name, "coll": "rocketchat_livechat_visitor"}
        assert set(event["_id"]) == {"_data"}
        assert isinstance(event["clusterTime"], Timestamp)
        assert isinstance(event["wallTime"], datetime)
    assert inserted["fullDocument"] == {"_id": "v1", "name": "Ana", "phone": "+100"}
    assert "fullDocument" not in updated  # only with updateLookup, as in MongoDB
    assert updated["updateDescription"]["updatedFields"] == {"name": "Ana B", "livechatData.city": "Lx"}
    assert updated["updateDescription"]["removedFields"] == ["phone"]
    assert replaced["fullDocument"] == {"_id": "v1", "name": "Replaced"}
    assert "fullDocument" not in deleted
    times = [e["clusterTime"] for e in (inserted, updated, replaced, deleted)]
    assert times == sorted(times) and len(set(times)) == 4


async def test_update_lookup_gives_the_current_document_and_null_once_it_is_deleted(
    visitors: AsyncCollection[Event],
) -> None:
    await visitors.insert_many([{"_id": "kept", "n": 0}, {"_id": "gone", "n": 0}])
    stream = await open_stream(visitors, full_document="updateLookup")
    try:
        await visitors.update_one({"_id": "kept"}, {"$inc": {"n": 1}})
        [kept] = await next_events(stream, 1)
        await visitors.update_one({"_id": "gone"}, {"$inc": {"n": 1}})
        await visitors.delete_one({"_id": "gone"})
        gone, deleted = await next_events(stream, 2)
    finally:
        await stream.close()

    assert kept["operationType"] == "update"
    assert kept["fullDocument"] == {"_id": "kept", "n": 1}
    assert gone["operationType"] == "update"
    assert gone["documentKey"] == {"_id": "gone"}
    assert gone["fullDocument"] is None  # looked up after the delete, as MongoDB does
    assert deleted["operationType"] == "delete"


async def test_find_one_and_modify_writes_are_events(visitors: AsyncCollection[Event]) -> None:
    await visitors.insert_one({"_id": "v", "n": 0})
    stream = await open_stream(visitors)
    try:
        await visitors.find_one_and_update({"_id": "v"}, {"$set": {"n": 1}})
        await visitors.find_one_and_replace({"_id": "v"}, {"n": 2})
        await visitors.find_one_and_update({"_id": "new"}, {"$set": {"n": 3}}, upsert=True)
        await visitors.find_one_and_delete({"_id": "v"})
        events = await next_events(stream, 4)
    finally:
        await stream.close()

    assert [(e["operationType"], e["documentKey"]) for e in events] == [
        ("update", {"_id": "v"}),
        ("replace", {"_id": "v"}),
        ("insert", {"_id": "new"}),
        ("delete", {"_id": "v"}),
    ]
    assert events[0]["updateDescription"]["updatedFields"] == {"n": 1}
    assert events[1]["fullDocument"] == {"_id": "v", "n": 2}
    assert events[2]["fullDocument"] == {"_id": "new", "n": 3}


async def test_a_new_client_resumes_after_a_token_and_gets_the_writes_made_while_away(
    stream_url: str, visitors: AsyncCollection[Event], database_name: str
) -> None:
    # The idle stream's token (postBatchResumeToken) is what the indexer records before a backfill.
    idle = await open_stream(visitors)
    assert await idle.try_next() is None
    before_any_write = idle.resume_token
    await idle.close()
    assert before_any_write is not None

    stream = await open_stream(visitors)
    try:
        await visitors.insert_one({"_id": "seen"})
        [seen] = await next_events(stream, 1)
    finally:
        await stream.close()
    await visitors.insert_one({"_id": "while-away"})
    await visitors.update_one({"_id": "seen"}, {"$set": {"n": 1}})
    await visitors.delete_one({"_id": "while-away"})

    later: AsyncMongoClient[Event] = AsyncMongoClient(stream_url, tz_aware=False)
    try:
        collection = later[database_name][visitors.name]
        resumed = await collection.watch(resume_after=seen["_id"], full_document="updateLookup", max_await_time_ms=200)
        try:
            missed = await next_events(resumed, 3)
        finally:
            await resumed.close()
        from_start = await collection.watch(resume_after=before_any_write, max_await_time_ms=200)
        try:
            everything = await next_events(from_start, 4)
        finally:
            await from_start.close()
    finally:
        await later.close()

    assert [(e["operationType"], e["documentKey"]["_id"]) for e in missed] == [
        ("insert", "while-away"),
        ("update", "seen"),
        ("delete", "while-away"),
    ]
    assert missed[1]["fullDocument"] == {"_id": "seen", "n": 1}
    assert [e["documentKey"]["_id"] for e in everything] == ["seen", "while-away", "seen", "while-away"]


async def test_writes_and_drops_of_other_collections_are_not_in_the_stream(
    client: AsyncMongoClient[Event], visitors: AsyncCollection[Event], database_name: str
) -> None:
    sibling = client[database_name]["rocketchat_room"]
    elsewhere = client[f"{database_name}_other"][visitors.name]
    await sibling.insert_one({"_id": "before"})
    stream = await open_stream(visitors)
    try:
        await sibling.insert_one({"_id": "s"})
        await sibling.update_one({"_id": "s"}, {"$set": {"n": 1}})
        await sibling.delete_one({"_id": "s"})
        await sibling.drop()
        await elsewhere.insert_one({"_id": "same collection name, other database"})
        await client.drop_database(elsewhere.database.name)
        await visitors.insert_one({"_id": "mine"})
        [event] = await next_events(stream, 1)
        assert await stream.try_next() is None
    finally:
        await stream.close()

    assert event["operationType"] == "insert"
    assert event["documentKey"] == {"_id": "mine"}


async def test_dropping_the_collection_gives_drop_then_invalidate_and_ends_the_stream(
    visitors: AsyncCollection[Event],
) -> None:
    await visitors.insert_one({"_id": "v"})
    stream = await open_stream(visitors)
    try:
        await visitors.drop()
        drop, invalidate = await next_events(stream, 2)
        assert not stream.alive
    finally:
        await stream.close()

    assert drop["operationType"] == "drop"
    assert drop["ns"] == {"db": visitors.database.name, "coll": visitors.name}
    assert invalidate["operationType"] == "invalidate"
    assert invalidate["_id"] != drop["_id"]


def older_than_history(token: Mapping[str, Any]) -> dict[str, str]:
    """This server's token for a moment before any history it has (the layout is the server's own: "82", the
    16 hex digits of the oplog timestamp, 2 of kind); MongoDB's tokens are opaque and would need an old oplog."""
    data = token["_data"]
    return {"_data": data[:2] + "0" * 15 + "1" + data[18:]}


@pytest.mark.parametrize("kind", ["bogus", "older than history"])
async def test_a_token_the_server_has_no_history_for_fails_with_history_lost(
    visitors: AsyncCollection[Event], kind: str
) -> None:
    idle = await open_stream(visitors)
    current = idle.resume_token
    await idle.close()
    assert current is not None
    token = {"_data": "not-a-token-of-this-server"} if kind == "bogus" else older_than_history(current)
    await visitors.insert_one({"_id": "v"})

    with pytest.raises(OperationFailure) as failure:
        stream = await visitors.watch(resume_after=token, max_await_time_ms=100)
        try:
            await stream.try_next()
        finally:
            await stream.close()
    assert failure.value.code == HISTORY_LOST


async def test_an_idle_stream_waits_max_await_time_per_get_more_instead_of_polling(
    stream_url: str, database_name: str
) -> None:
    counter = GetMoreCounter()
    mongo: AsyncMongoClient[Event] = AsyncMongoClient(stream_url, tz_aware=False, event_listeners=[counter])
    try:
        stream = await open_stream(mongo[database_name]["rocketchat_livechat_visitor"], max_await_time_ms=400)
        try:
            started = time.monotonic()
            results = [await stream.try_next() for _ in range(3)]
            elapsed = time.monotonic() - started
        finally:
            await stream.close()
    finally:
        await mongo.close()

    assert results == [None, None, None]
    # One getMore per try_next, each held by the server for about max_await_time_ms.
    assert counter.get_mores == 3
    assert 1.0 <= elapsed < 10, elapsed


async def test_a_waiting_get_more_returns_as_soon_as_a_write_arrives(visitors: AsyncCollection[Event]) -> None:
    stream = await open_stream(visitors, max_await_time_ms=20_000)

    async def write_soon() -> None:
        await asyncio.sleep(0.3)
        await visitors.insert_one({"_id": "late"})

    try:
        writer = asyncio.create_task(write_soon())
        started = time.monotonic()
        event = await stream.try_next()
        elapsed = time.monotonic() - started
        await writer
    finally:
        await stream.close()

    assert event is not None and event["documentKey"] == {"_id": "late"}
    assert elapsed < 10, elapsed  # far below the 20 s the server may wait


async def test_a_database_stream_sees_its_collections_and_ends_when_the_database_is_dropped(
    client: AsyncMongoClient[Event], database_name: str
) -> None:
    database = client[database_name]
    elsewhere = client[f"{database_name}_other"]
    await database["rocketchat_room"].insert_one({"_id": "before"})
    stream = await database.watch(max_await_time_ms=200)
    try:
        await database["rocketchat_livechat_visitor"].insert_one({"_id": "v"})
        await elsewhere["rocketchat_livechat_visitor"].insert_one({"_id": "not in this database"})
        await database["rocketchat_room"].insert_one({"_id": "r"})
        await client.drop_database(elsewhere.name)
        await client.drop_database(database_name)
        events = await next_events(stream, 6)
        assert not stream.alive
    finally:
        await stream.close()

    shapes = [(e["operationType"], e.get("ns"), e.get("documentKey")) for e in events]
    assert shapes[:2] == [
        ("insert", {"db": database_name, "coll": "rocketchat_livechat_visitor"}, {"_id": "v"}),
        ("insert", {"db": database_name, "coll": "rocketchat_room"}, {"_id": "r"}),
    ]
    assert sorted(e["ns"]["coll"] for e in events[2:4] if e["operationType"] == "drop") == [
        "rocketchat_livechat_visitor",
        "rocketchat_room",
    ]
    assert shapes[4:] == [("dropDatabase", {"db": database_name}, None), ("invalidate", None, None)]


async def test_a_stream_keeps_answering_under_the_indexers_mixed_traffic(
    stream_url: str, client: AsyncMongoClient[Event], database_name: str
) -> None:
    """The traffic of the reindex-under-writes test, compressed: a worker client that follows an updateLookup stream
    and, on the same pool, takes a lease with an upsert, saves its checkpoint and clears dead letters with a 200-clause
    `$or`; a reindex client polling and updating the same checkpoint document; a writer inserting and updating
    visitors. Every command must be answered (bounded here: a lost reply would otherwise hang the test) and the
    stream must deliver every visitor write once, in order, with the document as it is now. A guard, not a
    reproduction: the reindex test's failures that looked like a stream hang were its test data (see test_indexer)."""
    rounds = 150
    worker: AsyncMongoClient[Event] = AsyncMongoClient(stream_url, tz_aware=False)
    reindexer: AsyncMongoClient[Event] = AsyncMongoClient(stream_url, tz_aware=False)
    visitors = client[database_name]["rocketchat_livechat_visitor"]
    await visitors.insert_many([{"_id": f"seed{n:04d}", "name": "seeded"} for n in range(rounds)])
    await worker[database_name]["contact_search_dead_letters"].insert_many([{"_id": f"dl{n}"} for n in range(300)])

    async def bounded(operation: Any) -> Any:
        return await asyncio.wait_for(operation, timeout=15)

    async def write() -> None:
        for n in range(rounds):
            await bounded(visitors.insert_one({"_id": f"new{n:04d}", "name": f"new {n}"}))
            await bounded(visitors.update_one({"_id": f"seed{n:04d}"}, {"$set": {"name": f"renamed {n}"}}))

    async def work() -> None:
        checkpoints = worker[database_name]["contact_search_checkpoints"]
        letters = worker[database_name]["contact_search_dead_letters"]
        for n in range(rounds):
            await bounded(
                checkpoints.find_one_and_update(
                    {"_id": "lease"}, {"$set": {"holder": "worker", "round": n}}, upsert=True
                )
            )
            await bounded(checkpoints.update_one({"_id": "alias"}, {"$set": {"stream": n}}, upsert=True))
            if n % 10 == 0:
                clauses = [{"_id": f"dl{k}"} for k in range(n, n + 200)]
                await bounded(letters.delete_many({"$or": clauses}))
            await bounded(worker[database_name]["rocketchat_livechat_visitor"].find_one({"_id": f"seed{n:04d}"}))

    async def poll_reindex_request() -> None:
        checkpoints = reindexer[database_name]["contact_search_checkpoints"]
        for n in range(rounds):
            await bounded(checkpoints.find_one({"_id": "alias"}))
            await bounded(checkpoints.update_one({"_id": "alias"}, {"$set": {"request": n}}, upsert=True))

    try:
        stream = await open_stream(worker[database_name]["rocketchat_livechat_visitor"], full_document="updateLookup")
        writers = asyncio.gather(write(), work(), poll_reindex_request())
        try:
            events: list[Event] = []
            deadline = time.monotonic() + 60
            while len(events) < 2 * rounds:
                assert time.monotonic() < deadline, f"{len(events)} of {2 * rounds} events within 60 s"
                event = await bounded(stream.try_next())
                if event is not None:
                    events.append(event)
            await bounded(writers)
        finally:
            if not writers.done():
                writers.cancel()
            await stream.close()
    finally:
        await worker.close()
        await reindexer.close()

    assert [(event["operationType"], event["documentKey"]["_id"]) for event in events] == [
        (kind, f"{prefix}{n:04d}") for n in range(rounds) for kind, prefix in (("insert", "new"), ("update", "seed"))
    ]
    assert all(event["fullDocument"]["name"] == f"renamed {n}" for n, event in enumerate(events[1::2]))
