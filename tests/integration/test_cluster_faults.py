"""Slow fault tests on a real three-node Elasticsearch cluster and on one node (`make test-slow`).

- `kill -9` of a data node while the service answers lookups at a steady rate and the indexer writes; the node comes
  back and the cluster turns green: every lookup answered, nothing lost (`python -m indexer verify`).
- The wire server (FerretDB) restarted under the worker: it resumes, nothing lost.
- The index switched read-only (the flood-stage block): the worker pauses, dead-letters nothing, keeps its checkpoint,
  and resumes once the block is lifted, nothing lost.

Every wait polls a condition under a generous ceiling; the figures are printed for docs/reliability.md's table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.backfill import realistic_visitor
from benchmarks.lookup import free_port, wait_ready
from indexer import documents, indices
from indexer.collections import VISITORS
from indexer.dead_letters import DEAD_LETTERS_COLLECTION
from indexer.verify import command as verify
from tests import factories
from tests.conftest import Services, with_database
from tests.integration.indexer_helpers import checkpoint_of, eventually, in_sync, indexed, running, worker_settings
from tests.integration.own_stack import OwnStack, own_stack
from tests.processes import process_environment

pytestmark = pytest.mark.slow

SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
LOOKUP_VISITORS = 100
LOOKUPS_PER_SECOND = 20
WRITES_PER_SECOND = 5
# Ceilings of the waits: far above what each step takes on a busy 2-core machine, only there to end a stuck run.
CEILING = 600.0
# The stated bounds, out of every lookup sent while a node dies and comes back: lookups answered 5xx, and lookups
# the service had to send again. elastic-transport tries a dead node again on a timer (1, 2, 4 ... 30 s after each
# failure, and once per failure that queued it: each request in flight when the node died queues it again), so
# retries grow with the outage's length, about 0.3 a second here; at 20 lookups a second 5% is one a second.
MAX_FAILED_SHARE = 0.01
MAX_RETRIED_SHARE = 0.05


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@pytest.fixture(scope="module")
def cluster() -> Iterator[OwnStack]:
    """Three Elasticsearch nodes (and a FerretDB) of this module's own."""
    with own_stack(nodes=3) as stack:
        yield stack


def cluster_client(stack: OwnStack) -> AsyncElasticsearch:
    return AsyncElasticsearch(stack.es_nodes, request_timeout=30, max_retries=3)


async def seed(database: AsyncDatabase[dict[str, Any]], count: int) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    rng = random.Random(17)
    visitors = database[VISITORS.collection]
    await visitors.insert_many([realistic_visitor(number, rng) for number in range(count)])
    await visitors.insert_many(
        [
            factories.visitor(_id=f"lookup-{number}", visitorEmails=[{"address": f"lookup-{number}@example.com"}])
            for number in range(LOOKUP_VISITORS)
        ]
    )


def cluster_environment(stack: OwnStack, mongo_url: str, alias: str, **extra: str) -> dict[str, str]:
    return process_environment(
        mongo_url,
        stack.es_url,
        alias,
        COLLECTIONS="visitors",  # what these tests seed and check (each test has its own alias)
        ES_SHARDS="2",
        ES_REPLICAS="1",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        POLL_INTERVAL="0.5",
        LEASE_TTL="5",
        **extra,
    )


async def start(module: str, environment: dict[str, str], log: Path, *args: str) -> asyncio.subprocess.Process:
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, env=environment, stdout=sink, stderr=sink
        )


async def sigterm(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


async def run_verify(environment: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "indexer",
        "verify",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), CEILING)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def health(es: AsyncElasticsearch) -> dict[str, Any]:
    return dict((await es.cluster.health()).body)


def node_service(node_name: str) -> str:
    """The stack's service name of a cluster node: `node-1` is `elasticsearch`, `node-2` is `elasticsearch-2`."""
    number = int(node_name.removeprefix("node-"))
    return "elasticsearch" if number == 1 else f"elasticsearch-{number}"


async def metric(port: int, name: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


@dataclass
class Lookups:
    """Lookups sent at a steady rate, each outcome counted."""

    base: str
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def answered(self) -> int:
        return self.outcomes["200"]

    async def one(self, session: aiohttp.ClientSession, number: int) -> None:
        url = f"{self.base}{SEARCH}?email=lookup-{number}@example.com"
        async with session.get(url, headers=AGENT) as response:
            body = orjson.loads(await response.read())
        if response.status == 200 and (body.get("contact") or {}).get("_id") != f"lookup-{number}":
            self.outcomes["wrong"] += 1
        else:
            self.outcomes[str(response.status)] += 1

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        interval = 1 / LOOKUPS_PER_SECOND
        began = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(self.one(session, self.sent % LOOKUP_VISITORS))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            self.sent += 1
            await asyncio.sleep(max(0.0, began + self.sent * interval - time.monotonic()))
        await asyncio.gather(*self.tasks)

    async def answered_more(self, count: int) -> None:
        target = self.answered + count
        await eventually(lambda: _true(self.answered >= target), within=CEILING, interval=0.1)


async def _true(value: bool) -> bool:
    return value


@dataclass
class Writes:
    """Visitor writes in MongoDB at a steady rate: updates, new visitors, and now and then a removal."""

    database: AsyncDatabase[dict[str, Any]]
    ids: list[Any]
    count: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        visitors = self.database[VISITORS.collection]
        rng = random.Random(23)
        while not stop.is_set():
            self.count += 1
            if self.count % 3 == 0:
                await visitors.insert_one(realistic_visitor(10_000 + self.count, rng) | {"_updatedAt": now()})
            elif self.count % 25 == 0:
                await visitors.update_one(
                    {"_id": rng.choice(self.ids)}, {"$set": {"disabled": True, "_updatedAt": now()}}
                )
            else:
                await visitors.update_one(
                    {"_id": rng.choice(self.ids)}, {"$set": {"name": f"written-{self.count}", "_updatedAt": now()}}
                )
            await asyncio.sleep(1 / WRITES_PER_SECOND)


async def test_kill_9_of_a_data_node_under_lookups_and_writes_answers_every_lookup_and_loses_nothing(
    cluster: OwnStack,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    alias: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed(database, 2000)
    ids = [visitor["_id"] async for visitor in database[VISITORS.collection].find({"username": {"$exists": 1}})]
    ids = [each for each in ids if not str(each).startswith("lookup-")]
    metrics_port, service_port = free_port(), free_port()
    environment = cluster_environment(cluster, mongo_url, alias)
    indexer = await start("indexer", environment | {"METRICS_PORT": str(metrics_port)}, tmp_path / "indexer.log")
    # BACKEND_TIMEOUT is raised from 5 s: a node starting up shares these 2 cores with two more nodes and the test.
    service_environment = environment | {"PORT": str(service_port), "BACKEND_TIMEOUT": "20"}
    service = await start("service", service_environment, tmp_path / "service.log")
    es = cluster_client(cluster)
    try:
        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=1.0)
        index = await indices.current_index(es, alias)
        assert index is not None
        laid = (await es.indices.get_settings(index=index)).body[index]["settings"]["index"]
        assert (laid["number_of_shards"], laid["number_of_replicas"]) == ("2", "1")  # ES_SHARDS, ES_REPLICAS
        await eventually(lambda: _green(es), within=CEILING, interval=1.0)  # every replica assigned

        base = f"http://127.0.0.1:{service_port}"
        stop_lookups, stop_writes = asyncio.Event(), asyncio.Event()
        writes = Writes(database, ids)
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
            lookups = Lookups(base)
            lookup_task = asyncio.create_task(lookups.run(session, stop_lookups))
            write_task = asyncio.create_task(writes.run(stop_writes))
            await lookups.answered_more(100)

            shards = (await es.cat.shards(index=index, format="json")).body
            primaries = Counter(shard["node"] for shard in shards if shard["prirep"] == "p")
            victim = sorted(primaries, key=lambda node: (-primaries[node], node))[0]
            sent_before_kill = lookups.sent
            cluster.kill_9(node_service(victim))
            killed = time.monotonic()

            async def node_left() -> bool:
                return int((await health(es))["number_of_nodes"]) == 2

            await eventually(node_left, within=CEILING, interval=0.5)
            left_after = time.monotonic() - killed
            # The write path works without the node: a visitor written now gets indexed (a primary was promoted).
            marker = factories.visitor(_id=f"after-kill-{random.randrange(10**9)}", _updatedAt=now())
            await database[VISITORS.collection].insert_one(marker)

            async def marker_indexed() -> bool:
                return await indexed(es, alias, marker["_id"]) is not None

            await eventually(marker_indexed, within=CEILING, interval=0.5)
            await lookups.answered_more(200)
            restart_after = time.monotonic() - killed

            restarting = time.monotonic()
            await asyncio.to_thread(cluster.start)
            await eventually(lambda: _green(es), within=CEILING, interval=1.0)
            green_after = time.monotonic() - restarting
            await lookups.answered_more(100)
            stop_lookups.set()
            stop_writes.set()
            await asyncio.gather(lookup_task, write_task)

        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=1.0)
        bulk_retries = await metric(metrics_port, "bulk_retries_total")
        failed_documents = await metric(metrics_port, "documents_failed_total")
        assert await sigterm(indexer) == 0
        assert await sigterm(service) == 0
        code, report = await run_verify(environment)
        assert code == 0, report
    finally:
        for process in (indexer, service):
            if process.returncode is None:
                process.kill()
                await process.wait()
        await es.close()

    service_log = (tmp_path / "service.log").read_text()
    retried = service_log.count("Retrying request after")
    indexer_retried = (tmp_path / "indexer.log").read_text().count("Retrying request after")
    failed = sum(count for outcome, count in lookups.outcomes.items() if outcome.startswith("5"))
    with capsys.disabled():
        print(
            f"\nkill -9 of {victim} (holding {primaries[victim]} of 2 primaries) under load: "
            f"lookups sent {lookups.sent} ({sent_before_kill} before the kill), answered {lookups.answered}, "
            f"retried by the service {retried}, failed {failed}, outcomes {dict(lookups.outcomes)}; "
            f"documents written {writes.count} (Mongo writes), lost 0 (verify exit 0), bulk requests "
            f"sent again to another node {indexer_retried}, bulk items retried {bulk_retries}, refused "
            f"{failed_documents}; node seen gone after {left_after:.1f}s, restarted "
            f"{restart_after:.1f}s after the kill, back and green {green_after:.1f}s later"
        )
    assert lookups.outcomes["wrong"] == 0, lookups.outcomes
    assert set(lookups.outcomes) <= {"200", "503"}, lookups.outcomes
    assert failed <= MAX_FAILED_SHARE * lookups.sent, lookups.outcomes
    assert lookups.answered + failed == lookups.sent
    # A lookup that met the dead node went on to another one: a retry, never a failure.
    assert retried <= MAX_RETRIED_SHARE * lookups.sent, retried
    assert failed_documents == 0


async def _green(es: AsyncElasticsearch) -> bool:
    return (await health(es))["status"] == "green"


async def test_the_wire_server_restarted_under_the_worker_it_resumes_and_loses_nothing(
    cluster: OwnStack, alias: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mongo_url = with_database(cluster.mongo_url, f"restart_{alias.replace('-', '_')}")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=False)
    database = client.get_default_database()
    es = cluster_client(cluster)
    environment = cluster_environment(cluster, mongo_url, alias, METRICS_PORT="0")
    indexer = await start("indexer", environment, tmp_path / "indexer.log")
    try:
        await seed(database, 1000)
        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=1.0)
        # Closed before its server goes: PyMongo 4.20 leaks the socket of a monitor connection that a close cancels
        # mid-connect, which fails the run later as an unraisable ResourceWarning.
        await client.close()
        log = tmp_path / "indexer.log"
        logged_before = log.stat().st_size
        stopped = time.monotonic()
        await asyncio.to_thread(cluster.stop, "ferretdb")

        async def worker_saw_it() -> bool:
            assert indexer.returncode is None, log.read_text()[-2000:]
            return log.stat().st_size > logged_before  # it logged the failing reads (WARNING and above only)

        await eventually(worker_saw_it, within=CEILING, interval=0.5)
        await asyncio.to_thread(cluster.start)
        outage = time.monotonic() - stopped
        client = AsyncMongoClient(mongo_url, tz_aware=False)
        database = client.get_default_database()
        visitors = database[VISITORS.collection]
        rng = random.Random(31)
        written = [realistic_visitor(50_000 + number, rng) | {"_updatedAt": now()} for number in range(50)]
        await visitors.insert_many(written)
        await visitors.update_one({"_id": written[0]["_id"]}, {"$set": {"disabled": True, "_updatedAt": now()}})
        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=1.0)
        assert indexer.returncode is None  # it got over the restart by itself
        assert await sigterm(indexer) == 0
        code, report = await run_verify(environment)
        assert code == 0, report
        lines = log.read_bytes()[logged_before:].decode().splitlines()
        seeded = 1000 + LOOKUP_VISITORS
    finally:
        if indexer.returncode is None:
            indexer.kill()
            await indexer.wait()
        await es.close()
        await client.close()
    with capsys.disabled():
        print(
            f"\nFerretDB restarted under the worker: out for {outage:.1f}s (stop and start), worker logged "
            f"{len(lines)} lines from then on and kept running; documents written {seeded} before, "
            f"{len(written) + 1} changes after the restart, lost 0 (verify exit 0)"
        )


async def test_flood_stage_block_pauses_the_worker_without_dead_letters_and_it_resumes_when_lifted(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(41)
    visitors = database[VISITORS.collection]
    await visitors.insert_many([realistic_visitor(number, rng) for number in range(500)])
    settings = worker_settings(services, mongo_url, alias, stall_after=600.0)
    async with running(settings, database, es) as worker:
        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=0.5)
        index = await indices.current_index(es, alias)
        assert index is not None
        # What Elasticsearch sets on every index of a node past the flood-stage disk watermark.
        await es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
        blocked_at = time.monotonic()
        first_write = now()
        ids = [visitor["_id"] async for visitor in visitors.find({"disabled": {"$ne": True}}, {"_id": 1}).limit(20)]
        written = [realistic_visitor(1000 + number, rng) | {"_updatedAt": now()} for number in range(30)]
        await visitors.insert_many(written)
        for number, visitor_id in enumerate(ids[:18]):
            await visitors.update_one({"_id": visitor_id}, {"$set": {"name": f"blocked-{number}", "_updatedAt": now()}})
        for visitor_id in ids[18:]:  # removals: a delete is blocked too
            await visitors.update_one({"_id": visitor_id}, {"$set": {"disabled": True, "_updatedAt": now()}})

        async def retried_twice() -> bool:
            return worker.metrics.retried >= 2 * len(written)

        await eventually(retried_twice, within=CEILING, interval=0.2)
        assert not worker.task.done()
        assert worker.metrics.failed == 0
        assert await database[DEAD_LETTERS_COLLECTION].count_documents({}) == 0
        saved = (await checkpoint_of(database, alias)).get("poll", {}).get("updated_at")
        # Nothing blocked is acknowledged: the saved poll position (ms) stays before the first blocked write.
        assert saved is not None and saved < documents.epoch_millis(first_write), (saved, first_write)
        assert not await in_sync(database, es, alias)
        retried_while_blocked = worker.metrics.retried

        await es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})
        lifted_at = time.monotonic()
        await eventually(lambda: in_sync(database, es, alias), within=CEILING, interval=0.5)
        resumed_after = time.monotonic() - lifted_at
        assert not worker.task.done()
        assert worker.metrics.failed == 0
    report = await verify.verify(database, es, VISITORS.with_alias(alias), batch_size=500)
    assert report.found.drift == 0, verify.describe(report)
    assert await database[DEAD_LETTERS_COLLECTION].count_documents({}) == 0
    with capsys.disabled():
        print(
            f"\nflood-stage block (429 cluster_block_exception on every item): 50 documents written "
            f"(30 new, 18 changed, 2 removed), blocked {lifted_at - blocked_at:.1f}s, bulk items retried "
            f"{retried_while_blocked} while blocked, dead-lettered 0, lost 0 (drift 0); in sync "
            f"{resumed_after:.1f}s after the block was lifted"
        )
