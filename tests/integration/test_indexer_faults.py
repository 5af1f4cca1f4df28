"""Slow fault tests of the worker (`make test-slow`): kill -9 during a large backfill, Elasticsearch down for 30 s
during sync, and the freshness of polling (Mongo write → searchable) at the size the test server can serve."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.backfill import realistic_visitor
from contact_index import visitors as visitor_fields
from indexer.collections import VISITORS
from indexer.verify import command as verify
from tests.conftest import Services
from tests.integration.indexer_helpers import (
    checkpoint_of,
    eventually,
    in_sync,
    index_side,
    indexed,
    mongo_side,
    running,
    sigterm_worker,
    worker_settings,
)
from tests.integration.own_stack import OwnStack
from tests.integration.own_stack import own_stack as started_stack
from tests.processes import process_environment

pytestmark = pytest.mark.slow

# Fixed ports for the outage stack, where wanted (by default it takes free ones).
OUTAGE_PORTS = ("ES_PORT", "MONGO_PORT", "MONGO_STREAM_PORT")
LARGE = int(os.environ.get("INDEXER_FAULT_VISITORS", "100000"))
STUCK_AFTER = 900.0


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def seed(database: AsyncDatabase[dict[str, Any]], count: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    collection = database[VISITORS.collection]
    for first in range(0, count, 5000):
        chunk = [realistic_visitor(number, rng) for number in range(first, min(count, first + 5000))]
        await collection.insert_many(chunk, ordered=False)


def worker_environment(services: Services, mongo_url: str, alias: str, **extra: str) -> dict[str, str]:
    return process_environment(
        mongo_url,
        services.es_url,
        alias,
        COLLECTIONS="visitors",
        METRICS_PORT="0",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        LEASE_TTL="2",
        POLL_INTERVAL="0.5",
        **extra,
    )


async def test_kill_9_five_times_during_a_large_backfill_then_a_normal_run_leaves_no_drift(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    await seed(database, LARGE)
    environment = worker_environment(services, mongo_url, alias)
    rng = random.Random(5)
    positions: list[Any] = []
    for _ in range(5):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "indexer", "run", "--no-progress", env=environment
        )
        before = ((await checkpoint_of(database, alias)).get("backfill") or {}).get("after")

        async def moved(before: Any = before, process: asyncio.subprocess.Process = process) -> bool:
            if process.returncode is not None:
                raise AssertionError(f"the worker exited with {process.returncode} before its backfill moved")
            return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("after") not in (None, before)

        # Until the first batch is acknowledged the test server sorts the whole rest of the collection: that
        # takes as long as the machine is busy, so the bound only guards against a worker that never moves.
        # Polling MongoDB is kept sparse: every query in the visitors' database slows the worker's read there.
        await eventually(moved, within=STUCK_AFTER, interval=0.25)
        await asyncio.sleep(rng.uniform(0.0, 4.0))  # a random point: mid-batch, mid-save, between batches
        process.send_signal(signal.SIGKILL)
        await process.wait()
        backfill = (await checkpoint_of(database, alias))["backfill"]
        assert backfill["done"] is False, "the backfill finished before the fifth kill: seed more visitors"
        positions.append(backfill["after"])
    assert positions == sorted(positions) and len(set(positions)) == 5, positions  # each run went further

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environment
    )
    try:
        await eventually(lambda: _synced_after_backfill(database, alias), within=STUCK_AFTER, interval=1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    report = await verify.verify(database, es, VISITORS.with_alias(alias), batch_size=1000)
    assert report.found.drift == 0, verify.describe(report)
    expected, stored = await mongo_side(database), await index_side(es, alias)
    assert len(expected) > LARGE * 0.9
    assert stored == expected


async def _synced_after_backfill(database: AsyncDatabase[dict[str, Any]], alias: str) -> bool:
    saved = await checkpoint_of(database, alias)
    backfill = saved.get("backfill") or {}
    return backfill.get("done") is True and saved.get("synced_at", dt.datetime.min) > backfill["finished_at"]


@pytest.fixture
def own_stack() -> Iterator[OwnStack]:
    """A separate Elasticsearch (never stop the shared one), from the same cached download."""
    ports = {name: os.environ[f"OUTAGE_{name}"] for name in OUTAGE_PORTS if os.environ.get(f"OUTAGE_{name}")}
    with started_stack(nodes=1, **ports) as stack:
        yield stack


@pytest.fixture
async def outage_es(own_stack: OwnStack) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(own_stack.es_url, request_timeout=10)
    try:
        yield client
    finally:
        await client.close()


async def test_elasticsearch_down_for_30s_during_sync_loses_nothing_and_the_worker_recovers(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    own_stack: OwnStack,
    outage_es: AsyncElasticsearch,
    alias: str,
) -> None:
    visitors = database[VISITORS.collection]
    await seed(database, 2000)
    outage_services = Services(own_stack.es_url, services.mongo_url, services.change_streams)
    settings = worker_settings(outage_services, mongo_url, alias, stall_after=300.0)
    async with running(settings, database, outage_es) as worker:
        await eventually(lambda: in_sync(database, outage_es, alias), within=120)
        await asyncio.to_thread(own_stack.stop)
        stopped = time.monotonic()
        rng = random.Random(3)
        written: list[str] = []
        while time.monotonic() - stopped < 30:
            visitor = realistic_visitor(100_000 + len(written), rng) | {"_updatedAt": now()}
            await visitors.insert_one(visitor)
            written.append(visitor["_id"])
            await visitors.update_one({"_id": written[0]}, {"$set": {"name": f"n{len(written)}", "_updatedAt": now()}})
            await asyncio.sleep(0.5)
        await visitors.update_one({"_id": written[1]}, {"$set": {"disabled": True, "_updatedAt": now()}})
        assert not worker.task.done()
        await asyncio.to_thread(own_stack.start)
        await eventually(lambda: in_sync(database, outage_es, alias), within=180, interval=1.0)
        assert worker.metrics.retried > 0  # it did hit the outage, and got over it by itself
        assert not worker.task.done()
        assert await indexed(outage_es, alias, written[-1]) is not None
        assert await indexed(outage_es, alias, written[1]) is None
        # The index is the outage instance's: clean it here, the `es` fixture only knows the shared one.
        await outage_es.indices.delete(index=f"{alias}-v1")


async def test_sigterm_after_both_backends_went_away_still_exits_0(own_stack: OwnStack, alias: str) -> None:
    mongo_url = f"mongodb://127.0.0.1:{own_stack.environment['MONGO_PORT']}/gone"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=False)
    try:
        database = client.get_default_database()
        await seed(database, 50)
        environment = process_environment(
            mongo_url,
            own_stack.es_url,
            alias,
            COLLECTIONS="visitors",
            METRICS_PORT="0",
            LEASE_TTL="3",
            POLL_INTERVAL="0.5",
        )

        async def synced_then_backends_gone() -> None:
            await eventually(lambda: _synced_after_backfill(database, alias), within=120, interval=0.5)
            # Closed before its server goes: PyMongo 4.20 leaks the socket of a monitor connection that a close
            # cancels mid-connect (`_async_create_connection` closes it on OSError and timeouts only), and the
            # unclosed socket fails the run later as an unraisable ResourceWarning.
            await client.close()
            await asyncio.to_thread(own_stack.stop)
            await asyncio.sleep(3)  # the worker is now failing on both sides, its lease heartbeat included

        # PyMongo's server selection turns the cancellation of a pending lease renewal into a timeout error;
        # the worker must still notice that it was cancelled (it once kept renewing forever instead).
        returncode, stderr = await sigterm_worker(environment, synced_then_backends_gone, 90)
    finally:
        await client.close()
    assert returncode == 0, stderr.decode()[-2000:]


async def test_polling_freshness_from_mongo_write_to_searchable(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every poll is a full scan on the test server (~1-2k documents/s here), so freshness is measured at a size
    # it serves within a poll or two; MongoDB uses an index on `_updatedAt` (and change streams in production).
    size = int(os.environ.get("FRESHNESS_VISITORS", "2000"))
    await seed(database, size)
    visitors = database[VISITORS.collection]
    settings = worker_settings(services, mongo_url, alias, batch_size=500, poll_interval=0.5, overlap_window=5.0)
    latencies: list[float] = []
    rng = random.Random(9)
    async with running(settings, database, es) as worker:

        async def backfilled() -> bool:
            if worker.task.done():  # the wait below would only end at STUCK_AFTER
                raise AssertionError("the worker stopped before its backfill was done") from (
                    None if worker.task.cancelled() else worker.task.exception()
                )
            return await _synced_after_backfill(database, alias)

        try:
            await eventually(backfilled, within=STUCK_AFTER, interval=1.0)
        except AssertionError as error:
            # Say where it stood: a one-in-many failure here is only worth something with the worker's state.
            metrics = worker.metrics
            raise AssertionError(
                f"{error}; phase {metrics.phase}, leader {metrics.leader}, indexed {metrics.indexed}, "
                f"retried {metrics.retried}, checkpoint {await checkpoint_of(database, alias)}"
            ) from error
        ids = [visitor["_id"] async for visitor in visitors.find({"disabled": {"$ne": True}}, {"_id": 1}).limit(200)]
        for sample in range(int(os.environ.get("FRESHNESS_SAMPLES", "50"))):
            target = rng.choice(ids)
            marker = f"fresh-{sample}-{rng.randrange(10**9)}"
            written = time.monotonic()
            await visitors.update_one({"_id": target}, {"$set": {"livechatData.marker": marker, "_updatedAt": now()}})
            while True:
                found = await es.search(
                    index=alias,
                    query={"term": {f"{visitor_fields.FIELD_CUSTOM}.marker": marker}},
                    size=1,
                    track_total_hits=False,
                )
                if found.body["hits"]["hits"]:
                    break
                assert time.monotonic() - written < 120, f"write {sample} not searchable after 120 s"
                await asyncio.sleep(0.02)
            latencies.append(time.monotonic() - written)
            await asyncio.sleep(rng.uniform(0, 1.0))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    with capsys.disabled():
        print(
            f"\npolling freshness at {size:,} visitors (poll {settings.poll_interval}s, refresh 1s): "
            f"p50 {p50:.2f}s p99 {p99:.2f}s max {latencies[-1]:.2f}s over {len(latencies)} writes"
        )
    assert p99 < 30
