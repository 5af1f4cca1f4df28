"""The indexer's liveness probe means "a restart would help": an Elasticsearch outage longer than STALL_AFTER under
the real `python -m indexer run` leaves `/healthz` 200 throughout (the outage shows in `backend_up`), loses nothing,
and the same process catches up once Elasticsearch is back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import aiohttp
from elasticsearch import AsyncElasticsearch
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port
from indexer.collections import VISITORS
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import eventually, in_sync, indexed
from tests.integration.tcp_proxy import proxy_to

STALL_AFTER = 2.0


async def samples(session: aiohttp.ClientSession, base: str, family_name: str, label: str) -> dict[str, float]:
    async with session.get(base + "/metrics") as response:
        text = await response.text()
    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == family_name
        for sample in family.samples
    }


async def backend_up(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    return await samples(session, base, "contact_search_indexer_backend_up", "backend")


async def test_an_elasticsearch_outage_longer_than_stall_after_keeps_the_worker_alive_and_loses_nothing(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    await visitors.insert_many([factories.visitor(_id=f"v{number}", name=f"before {number}") for number in range(50)])
    metrics_port = free_port()
    base = f"http://127.0.0.1:{metrics_port}"
    async with proxy_to(services.es_url) as proxy, aiohttp.ClientSession() as session:
        environment = {
            **os.environ,
            "MONGO_URL": mongo_url,
            "ES_URL": proxy.url,
            "ES_INDEX": alias,
            "COLLECTIONS": "visitors",
            "SYNC_MODE": "poll",
            "METRICS_PORT": str(metrics_port),
            "STALL_AFTER": str(STALL_AFTER),
            "LEASE_TTL": "2",
            "POLL_INTERVAL": "0.2",
            "LOG_LEVEL": "WARNING",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "indexer", "run", "--no-progress", env=environment, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await eventually(lambda: in_sync(database, es, alias), within=120, interval=0.5)

            async def both_up() -> bool:
                # PyMongo hands topology events to listeners from a queue it drains about once a second.
                return (await backend_up(session, base)) == {"elasticsearch": 1.0, "mongodb": 1.0}

            await eventually(both_up, within=30)

            await proxy.cut()
            cut_at = time.monotonic()
            await visitors.insert_one(factories.visitor(_id="during", name="new", _updatedAt=factories.now()))
            await visitors.update_one({"_id": "v1"}, {"$set": {"name": "changed", "_updatedAt": factories.now()}})
            await visitors.update_one({"_id": "v2"}, {"$set": {"disabled": True, "_updatedAt": factories.now()}})
            probes: list[int] = []
            up_seen: list[dict[str, float]] = []
            # The scenario is an outage that outlasts STALL_AFTER (twice over); /healthz is probed all along.
            while time.monotonic() - cut_at < 2 * STALL_AFTER or not up_seen or up_seen[-1]["elasticsearch"]:
                async with session.get(base + "/healthz") as response:
                    probes.append(response.status)
                up_seen.append(await backend_up(session, base))
                await asyncio.sleep(0.1)
            assert probes and set(probes) == {200}, probes
            assert up_seen[-1] == {"elasticsearch": 0.0, "mongodb": 1.0}
            assert process.returncode is None

            outage = time.monotonic() - cut_at
            await proxy.open()
            back_at = time.monotonic()
            await eventually(lambda: in_sync(database, es, alias), within=120, interval=0.5)
            caught_up = time.monotonic() - back_at
            assert process.returncode is None  # the same process caught up: nothing restarted it
            assert (await indexed(es, alias, "during")) is not None
            assert (await indexed(es, alias, "v2")) is None
            async with session.get(base + "/healthz") as response:
                assert response.status == 200
            await eventually(both_up, within=30)
            retries = await samples(session, base, "contact_search_indexer_bulk_retries", "alias")
            print(
                f"\nElasticsearch cut {outage:.1f} s (STALL_AFTER {STALL_AFTER:.0f} s): /healthz {len(probes)} probes, "
                f"all 200; bulk items retried {retries.get(alias, 0):.0f}; 3 changes made during the outage, "
                f"in sync {caught_up:.1f} s after Elasticsearch was back, same process"
            )
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=60) == 0
