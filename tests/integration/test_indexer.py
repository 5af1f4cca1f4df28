"""The worker (`python -m indexer run`) against the real services, in polling mode: backfill, sync of every kind of
change, versions, handover, checkpoints, dead letters, the lease, reindex and SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp
import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import shared
from contact_index import visitors as visitor_fields
from indexer import changes, documents, indices, metrics, reindex, specs
from indexer.checkpoint import Checkpoint, CheckpointStore, ReindexRequests
from indexer.collections import VISITORS
from indexer.dead_letters import DEAD_LETTERS_COLLECTION
from indexer.lease import CHECKPOINTS_COLLECTION, Lease, LeaseLost
from indexer.metrics import Metrics
from indexer.sync import next_alias
from indexer.writer import batch_actions
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import (
    checkpoint_of,
    eventually,
    in_sync,
    index_side,
    indexed,
    mongo_side,
    quiet_progress,
    running,
    sigterm_worker,
    start_worker,
    worker_settings,
)
from tests.processes import process_environment

pytestmark = pytest.mark.usefixtures("services")


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def past_visitor(**fields: Any) -> dict[str, Any]:
    """A visitor last written long ago, outside the poller's overlap window (its re-reads do not count as writes)."""
    return factories.visitor(**{"_updatedAt": factories.moment(3), **fields})


def fresh_visitor(**fields: Any) -> dict[str, Any]:
    """A visitor written now, as Rocket.Chat would (its `_updatedAt` is the write time)."""
    return factories.visitor(_updatedAt=now(), **fields)


@pytest.mark.usefixtures("sync_mode")
async def test_backfill_then_sync_follows_every_kind_of_change(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    sync_mode: str,
) -> None:
    visitors = database[VISITORS.collection]
    old = [past_visitor(livechatData={"plan": f"gold-{n}"}) for n in range(250)]
    await visitors.insert_many(old)
    # Polling finds hard deletes by reconciliation; a change stream sees them at once, so it gets none here.
    settings = worker_settings(
        services, mongo_url, alias, sync_mode=sync_mode, reconcile_interval=1.0 if sync_mode == "poll" else 3600.0
    )
    async with running(settings, database, es) as worker:
        await eventually(lambda: in_sync(database, es, alias))
        assert worker.metrics.leader

        async def backfill_saved_done() -> bool:
            # The index can be in sync a moment before the checkpoint records the end of the backfill.
            return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("done") is True

        await eventually(backfill_saved_done)
        saved = await checkpoint_of(database, alias)
        assert ("resume_token" in saved["stream"]) == (sync_mode == "stream")
        assert ("updated_at" in saved["poll"]) == (sync_mode == "poll")

        inserted = fresh_visitor(visitorEmails=[{"address": "new@example.com"}])
        await visitors.insert_one(inserted)
        await visitors.update_one(
            {"_id": old[0]["_id"]}, {"$set": {"livechatData.plan": "platinum", "_updatedAt": now()}}
        )
        await visitors.update_one({"_id": old[1]["_id"]}, {"$set": {"disabled": True, "_updatedAt": now()}})
        await visitors.delete_one({"_id": old[2]["_id"]})  # a hard delete
        trashed = await visitors.find_one_and_delete({"_id": old[3]["_id"]})
        assert trashed is not None
        await database[specs.TRASH_COLLECTION].insert_one(
            {**trashed, "__collection__": VISITORS.trash_mark, "_deletedAt": now()}
        )

        async def followed() -> bool:
            return (
                (await indexed(es, alias, inserted["_id"])) is not None
                and ((await indexed(es, alias, old[0]["_id"])) or {}).get(visitor_fields.FIELD_CUSTOM, {}).get("plan")
                == ["platinum"]
                and await indexed(es, alias, old[1]["_id"]) is None
                and await indexed(es, alias, old[2]["_id"]) is None
                and await indexed(es, alias, old[3]["_id"]) is None
            )

        await eventually(followed)
        assert await in_sync(database, es, alias)
        assert worker.metrics.deleted >= 3
        assert worker.metrics.failed == 0


@pytest.mark.usefixtures("sync_mode")
async def test_an_older_write_never_replaces_a_newer_one(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    stale = factories.visitor(name="old name", _updatedAt=factories.moment(1))
    newer = {**stale, "name": "new name", "_updatedAt": factories.moment(2)}
    await database[VISITORS.collection].insert_one(stale)
    index, _ = await indices.ensure_alias(es, VISITORS.with_alias(alias))
    await es.index(**_as_request(batch_actions([changes.upsert(VISITORS, newer)], [index])[0]), refresh=True)
    async with running(worker_settings(services, mongo_url, alias), database, es):
        await eventually(lambda: _backfill_done(database, alias))
        stored = await indexed(es, alias, stale["_id"])
        assert stored is not None
        assert stored[visitor_fields.FIELD_VISITOR]["name"] == "new name"
        # A delete older than the indexed write loses as well.
        await es.options(ignore_status=409).delete(
            index=index, id=stale["_id"], version=VISITORS.version_of(stale), version_type="external_gte"
        )
        assert await indexed(es, alias, stale["_id"]) is not None


def _as_request(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": action["_index"],
        "id": action["_id"],
        "document": action["_source"],
        "version": action["version"],
        "version_type": action["version_type"],
    }


async def _backfill_done(database: AsyncDatabase[dict[str, Any]], alias: str) -> bool:
    return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("done") is True


@pytest.mark.usefixtures("sync_mode")
async def test_writes_during_the_backfill_are_not_lost(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    seeded = [past_visitor() for _ in range(3000)]
    await visitors.insert_many(seeded)
    settings = worker_settings(services, mongo_url, alias, batch_size=50, queue_depth=1)
    async with running(settings, database, es) as worker:
        await eventually(lambda: _backfill_started(database, alias), interval=0.01)
        # Behind the backfill cursor (low ids, already read) and ahead of it, while it runs.
        for position in (0, 1, 2, 2990, 2991):
            await visitors.update_one(
                {"_id": seeded[position]["_id"]}, {"$set": {"name": f"renamed {position}", "_updatedAt": now()}}
            )
        early = fresh_visitor(_id="0000-inserted-first")  # sorts before every id the backfill already passed
        await visitors.insert_one(early)
        assert not await _backfill_done(database, alias), "the backfill ended before the writes: make it longer"
        await eventually(lambda: in_sync(database, es, alias), within=60)
        assert worker.metrics.failed == 0


async def _backfill_started(database: AsyncDatabase[dict[str, Any]], alias: str) -> bool:
    return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("after") is not None


@pytest.mark.usefixtures("sync_mode")
async def test_a_stopped_backfill_resumes_from_its_checkpoint(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    await database[VISITORS.collection].insert_many([past_visitor() for _ in range(2000)])
    settings = worker_settings(services, mongo_url, alias, batch_size=50, queue_depth=1)
    first = start_worker(settings, database, es)
    await eventually(lambda: _backfill_started(database, alias), interval=0.01)
    await first.stop_and_wait()
    saved = (await checkpoint_of(database, alias))["backfill"]
    assert saved["done"] is False
    assert saved["after"] is not None
    written_before = first.metrics.indexed
    assert 0 < written_before < 2000
    async with running(settings, database, es) as second:
        await eventually(lambda: _backfill_done(database, alias), within=60)
        await eventually(lambda: in_sync(database, es, alias))
        # Resumed after the saved id: the second run did not start over.
        assert second.metrics.indexed <= 2000 - written_before + settings.batch_size


@pytest.mark.usefixtures("sync_mode")
async def test_a_visitor_elasticsearch_refuses_is_dead_lettered_and_the_rest_goes_on(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    # A keyword longer than Lucene's 32766-byte term limit: the document cannot be indexed.
    refused = factories.visitor(visitorEmails=[{"address": "x" * 40_000 + "@example.com"}])
    await visitors.insert_many([factories.visitor() for _ in range(20)] + [refused])
    async with running(worker_settings(services, mongo_url, alias), database, es) as worker:
        await eventually(lambda: _backfill_done(database, alias))
        later = fresh_visitor()
        await visitors.insert_one(later)
        await eventually(lambda: _is_indexed(es, alias, later["_id"]))
        assert worker.metrics.failed == 1
    letters = [letter async for letter in database[DEAD_LETTERS_COLLECTION].find({})]
    assert [letter["document_id"] for letter in letters] == [refused["_id"]]
    assert letters[0]["reason"]["type"]
    assert len(await index_side(es, alias)) == 21


async def _is_indexed(es: AsyncElasticsearch, alias: str, document_id: str) -> bool:
    return await indexed(es, alias, document_id) is not None


@pytest.mark.usefixtures("sync_mode")
async def test_one_writer_at_a_time_and_the_follower_takes_over(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    await visitors.insert_many([factories.visitor() for _ in range(300)])
    # A lease short enough for a quick takeover, long enough to be renewed on a loaded machine.
    settings = worker_settings(services, mongo_url, alias, lease_ttl=4.0)
    first = start_worker(settings, database, es, holder="first")
    await eventually(lambda: _backfill_done(database, alias), within=60)
    second = start_worker(settings, database, es, holder="second")
    try:
        for _ in range(5):
            await visitors.insert_one(fresh_visitor())
            await asyncio.sleep(0.3)
        await eventually(lambda: in_sync(database, es, alias))
        assert first.metrics.leader and not second.metrics.leader
        assert second.writes == []
        token = (await checkpoint_of(database, alias))["lease"]["token"]

        await first.die()
        died = asyncio.get_running_loop().time()
        after_death = fresh_visitor()
        await visitors.insert_one(after_death)
        # The follower takes over once the dead leader's lease expires (LEASE_TTL); how fast is a figure, not an
        # assertion (a loaded machine delays it), so the wait is a generous ceiling and the time is printed.
        await eventually(lambda: _is_indexed(es, alias, after_death["_id"]), within=60)
        took = asyncio.get_running_loop().time() - died
        print(f"takeover: the first write after the leader's death was indexed {took:.1f} s later")
        assert second.metrics.leader
        lease = (await checkpoint_of(database, alias))["lease"]
        assert lease["holder"].startswith("second") or lease["holder"] == "second"
        assert lease["token"] > token
        # Never both: every write of the second began after the first's last write ended.
        assert first.writes and second.writes
        assert min(began for began, _ in second.writes) > max(ended for _, ended in first.writes)
        await eventually(lambda: in_sync(database, es, alias))
    finally:
        await second.stop_and_wait()


@pytest.mark.usefixtures("sync_mode")
async def test_reindex_under_writes_keeps_answering_and_ends_clean(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    # Past-dated: an update stamped now() must win in the index. The factory's `_updatedAt`s run to 2027-01; a
    # seeded visitor dated after the test's now() keeps that newer external version in Elasticsearch, the update's
    # write is settled as a 409, and the index never matches MongoDB (this failed whenever the writer got that far).
    seeded = [past_visitor(visitorEmails=[{"address": f"v{n}@example.com"}]) for n in range(2000)]
    await visitors.insert_many(seeded)
    settings = worker_settings(services, mongo_url, alias, batch_size=200)
    async with running(settings, database, es):
        await eventually(lambda: _backfill_done(database, alias), within=60)
        await es.indices.refresh(index=alias)  # the last batch of the backfill is searchable before we start
        old_index = await indices.current_index(es, alias)
        done = asyncio.Event()
        lookups = {"answered": 0, "missed": 0}

        async def write_steadily() -> int:
            count = 0
            while not done.is_set():
                await visitors.insert_one(fresh_visitor())
                target = seeded[count % len(seeded)]
                await visitors.update_one({"_id": target["_id"]}, {"$set": {"name": f"n{count}", "_updatedAt": now()}})
                count += 1
                await asyncio.sleep(0.02)
            return count

        async def look_up_steadily() -> None:
            n = 0
            while not done.is_set():
                email = f"v{n % len(seeded)}@example.com"
                found = await es.search(index=alias, query={"term": {visitor_fields.FIELD_EMAILS: email}}, size=1)
                lookups["answered" if found.body["hits"]["hits"] else "missed"] += 1
                n += 1

        writer = asyncio.create_task(write_steadily())
        reader = asyncio.create_task(look_up_steadily())
        try:
            rebuilt = await reindex.reindex(
                settings,
                VISITORS.with_alias(alias),
                database,
                es,
                stop=asyncio.Event(),
                progress=quiet_progress,
            )
        finally:
            done.set()
            writes = await writer
            await reader
        assert writes > 10
        assert lookups["missed"] == 0 and lookups["answered"] > 10, lookups
        assert rebuilt == reindex.Rebuilt(shared.index_name(alias, 2), refused=0)
        assert await indices.current_index(es, alias) == rebuilt.index
        assert not await es.indices.exists(index=str(old_index))
        assert not await es.indices.exists_alias(name=next_alias(alias))
        assert await ReindexRequests(database[CHECKPOINTS_COLLECTION], alias).load() is None
        await eventually(lambda: in_sync(database, es, alias), within=30)


@pytest.mark.usefixtures("sync_mode")
async def test_sigterm_finishes_the_batch_saves_the_checkpoint_and_exits_0(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    await database[VISITORS.collection].insert_many([factories.visitor() for _ in range(5000)])
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        COLLECTIONS="visitors",
        BATCH_SIZE="200",
        METRICS_PORT="0",
        LOG_FORMAT="json",
    )
    returncode, stderr = await sigterm_worker(
        environment, lambda: eventually(lambda: _backfill_started(database, alias), within=30, interval=0.02), 30
    )
    assert returncode == 0, stderr.decode()[-2000:]
    saved = await checkpoint_of(database, alias)
    assert saved["backfill"]["after"] is not None
    assert saved["lease"]["expires_at"] < dt.datetime.now(dt.UTC).replace(tzinfo=None)  # released
    # Everything up to the checkpoint is in the index: the batch in flight was finished first.
    expected = await mongo_side(database)
    stored = await index_side(es, alias)
    after = documents.document_id(saved["backfill"]["after"])
    assert {key for key in expected if key <= after} <= set(stored)
    assert b"stopped" in stderr


async def test_sigterm_while_mongodb_is_unreachable_still_exits_0_promptly(
    services: Services, alias: str, unused_tcp_port: int
) -> None:
    environment = process_environment(
        f"mongodb://127.0.0.1:{unused_tcp_port}/absent?serverSelectionTimeoutMS=2000",
        services.es_url,
        alias,
        # Nothing listens there; a short server selection stands for MongoDB going away under a running worker.
        COLLECTIONS="visitors",
        METRICS_PORT="0",
        LEASE_TTL="4",
    )
    # Past the first failed server selection the worker is retrying; SIGTERM then must not wait for MongoDB.
    returncode, stderr = await sigterm_worker(
        environment, lambda: asyncio.sleep(0), 15, logged=b"cannot reach MongoDB for the lease"
    )
    assert returncode == 0, stderr.decode()[-2000:]


async def test_metrics_and_healthz_are_served(unused_tcp_port: int) -> None:
    state = Metrics(stall_after=0.5, alias="contacts")
    state.indexed, state.leader = 12, True
    async with metrics.serve([state], unused_tcp_port, host="127.0.0.1"), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{unused_tcp_port}"
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
        assert 'contact_search_indexer_documents_indexed_total{alias="contacts"} 12.0' in text
        assert 'contact_search_indexer_leader{alias="contacts"} 1.0' in text
        assert "\nprocess_cpu_seconds_total " in text  # the standard name, so stock dashboards work
        assert 'contact_search_indexer_build_info{version="' in text
        assert 'contact_search_indexer_dead_letters_waiting{alias="contacts"} 0.0' in text  # the leader's count
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
        await asyncio.sleep(0.6)  # no progress since: stuck
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 503
            assert (await response.json())["healthy"] is False


async def test_a_deposed_leader_can_neither_renew_nor_save(database: AsyncDatabase[dict[str, Any]], alias: str) -> None:
    first, second = Lease(database, alias, "first", ttl=0.5), Lease(database, alias, "second", ttl=0.5)
    first_store, second_store = CheckpointStore(first), CheckpointStore(second)
    assert await first.try_acquire()
    assert not await second.try_acquire()  # held and not expired
    await first_store.save(Checkpoint(poll_updated_at=1))
    await asyncio.sleep(0.6)
    assert not first.is_held()  # it stops writing on its own once it could not renew in time
    assert await second.try_acquire()
    assert second.token == first.token + 1  # the fencing token grows with each acquisition
    assert not await first.renew()
    with pytest.raises(LeaseLost):
        await first_store.save(Checkpoint(poll_updated_at=99))
    await second_store.save(Checkpoint(poll_updated_at=2))
    assert (await first_store.load()).poll_updated_at == 2
    await second.release()
    assert await first.try_acquire()  # a released lease is free at once


@pytest.mark.usefixtures("sync_mode")
async def test_a_deleted_index_is_recreated_and_backfilled(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    await visitors.insert_many([past_visitor() for _ in range(100)])
    async with running(worker_settings(services, mongo_url, alias), database, es) as worker:
        await eventually(lambda: in_sync(database, es, alias))
        await es.indices.delete(index=shared.index_name(alias, 1))
        await visitors.insert_one(fresh_visitor())  # its write finds no index behind the alias
        await eventually(lambda: in_sync(database, es, alias), within=30)
        assert worker.metrics.failed == 0
        assert not await database[DEAD_LETTERS_COLLECTION].find_one({})


@pytest.mark.parametrize("sync_mode", ["stream"], indirect=True)
async def test_a_lost_change_history_means_a_rebackfill_and_a_reconciliation_never_start_from_now(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    sync_mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    visitors = database[VISITORS.collection]
    seeded = [past_visitor() for _ in range(300)]
    await visitors.insert_many(seeded)
    settings = worker_settings(services, mongo_url, alias, sync_mode=sync_mode)
    async with running(settings, database, es):
        await eventually(lambda: in_sync(database, es, alias))
    # While no worker runs, the server's history moves past the stored token (here: a token it never issued, which
    # it answers as MongoDB answers a token older than its oplog: 286), and visitors change.
    await database[CHECKPOINTS_COLLECTION].update_one(
        {"_id": alias}, {"$set": {"stream.resume_token": {"_data": "8266F1C3A7000000012B022C0100296E5A1004"}}}
    )
    inserted = fresh_visitor()
    await visitors.insert_one(inserted)
    await visitors.delete_one({"_id": seeded[0]["_id"]})  # a hard delete the lost history held
    async with running(settings, database, es) as worker:
        await eventually(lambda: in_sync(database, es, alias), within=60)
        assert await indexed(es, alias, inserted["_id"]) is not None
        assert await indexed(es, alias, seeded[0]["_id"]) is None
        assert "change history lost (286): rebuilding from MongoDB, then reconciling" in caplog.text

        async def rebuilt_and_reconciled() -> bool:
            # The checkpoint is saved up to CHECKPOINT_INTERVAL after the index caught up: wait for it, not a guess.
            backfill = (await checkpoint_of(database, alias))["backfill"]
            return backfill.get("done") is True and backfill.get("reconcile") is False

        await eventually(rebuilt_and_reconciled, within=60)
        saved = await checkpoint_of(database, alias)
        assert saved["stream"]["resume_token"] != {"_data": "8266F1C3A7000000012B022C0100296E5A1004"}
        # Live changes flow again from the new token.
        later = fresh_visitor()
        await visitors.insert_one(later)
        await eventually(lambda: _is_indexed(es, alias, later["_id"]))
        assert worker.metrics.failed == 0


async def test_a_running_worker_is_scraped_over_http(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], alias: str, unused_tcp_port: int
) -> None:
    await database[VISITORS.collection].insert_many([factories.visitor() for _ in range(30)])
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        METRICS_PORT=str(unused_tcp_port),
        SYNC_MODE="poll",
    )
    scraped: dict[str, str] = {}

    async def scrape() -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as response:
                    scraped["metrics"] = await response.text()
                async with http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as response:
                    scraped["healthz"] = f"{response.status} {await response.text()}"
            except aiohttp.ClientConnectionError:
                return False
        # Both: the phase turns to sync just after the backfill's last write is counted.
        indexed = f'contact_search_indexer_documents_indexed_total{{alias="{alias}"}} 30.0' in scraped["metrics"]
        return indexed and f'contact_search_indexer_phase{{alias="{alias}",phase="sync"}} 1.0' in scraped["metrics"]

    returncode, stderr = await sigterm_worker(environment, lambda: eventually(scrape, within=60, interval=0.2), 30)
    assert returncode == 0, stderr.decode()[-2000:]
    assert scraped["healthz"].startswith("200 ")
    assert f'"{alias}": {{"healthy": true' in scraped["healthz"]
