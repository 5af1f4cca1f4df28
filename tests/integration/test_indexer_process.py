"""The worker as a process (`python -m indexer run`) against the real services: SIGTERM, a backend gone at shutdown,
its `/metrics` and `/healthz`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp
import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import documents, metrics
from indexer.collections import VISITORS
from indexer.metrics import Metrics
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import (
    backfill_started,
    checkpoint_of,
    eventually,
    index_side,
    mongo_side,
    sigterm_worker,
)
from tests.processes import process_environment

pytestmark = pytest.mark.usefixtures("services")


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
        environment, lambda: eventually(lambda: backfill_started(database, alias), within=30, interval=0.02), 30
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
