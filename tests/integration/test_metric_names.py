"""Every metric name the dashboard and the alerts use is one the running processes expose: the real service and
indexer are started against the test stack and scraped, and the names are read from their /metrics."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from elasticsearch import AsyncElasticsearch
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port, wait_ready
from tests import factories
from tests.conftest import Services
from tests.processes import process_environment

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
NAME = re.compile(r"\b(?:contact_search_[a-z_]+|process_[a-z_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


def used_names() -> set[str]:
    """The metric names in the alerts' expressions and the dashboard's queries (and its variables)."""
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    expressions += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    return {name for expression in expressions for name in NAME.findall(expression)}


def exposed_names(text: str) -> set[str]:
    """Every series name a scrape declares, also of families with no sample yet (an error counter before any error)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


async def scrape(session: aiohttp.ClientSession, port: int) -> str:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


@pytest.fixture
async def scraped(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch
) -> AsyncIterator[set[str]]:
    """What a running service and a running, leading indexer expose after a few lookups."""
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await database["rocketchat_livechat_visitor"].insert_one(factories.visitor(_id="v1"))
    service_port, service_metrics, indexer_metrics = free_port(), free_port(), free_port()
    common = {"ES_CONTACTS_INDEX": f"{alias}-lc", "COLLECTIONS": "visitors", "LOG_LEVEL": "WARNING"}
    indexer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "indexer",
        "run",
        env=process_environment(mongo_url, services.es_url, alias, **common, METRICS_PORT=indexer_metrics),
    )
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        env=process_environment(
            mongo_url, services.es_url, alias, **common, PORT=service_port, METRICS_PORT=service_metrics
        ),
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://127.0.0.1:{service_port}")
            lookup = f"http://127.0.0.1:{service_port}/api/v1/omnichannel/contact.search?email=a@b.c"
            for headers in ({"X-User-Id": "agent", "X-Auth-Token": "agent-token"}, {}):
                async with session.get(lookup, headers=headers) as response:
                    assert response.status in (200, 401, 404, 503)
            # The indexer leads once it has backfilled: its per-collection series are all there then.
            for _ in range(600):
                try:
                    indexer_text = await scrape(session, indexer_metrics)
                except aiohttp.ClientConnectionError:
                    indexer_text = ""
                if f'contact_search_indexer_leader{{alias="{alias}"}} 1.0' in indexer_text:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the indexer did not take the lead within 60 s")
            yield exposed_names(await scrape(session, service_metrics)) | exposed_names(indexer_text)
    finally:
        for process in (service, indexer):
            process.terminate()
        for process in (service, indexer):
            await asyncio.wait_for(process.wait(), timeout=30)


async def test_dashboard_and_alerts_use_only_exposed_names(scraped: set[str]) -> None:
    used = used_names()
    # The parser finds names of both processes, the backend-up gauges and the fallbacks among them.
    assert {
        "contact_search_http_requests_total",
        "contact_search_indexer_lag_seconds",
        "contact_search_backend_up",
        "contact_search_indexer_backend_up",
        "contact_search_fallbacks_total",
        "process_cpu_seconds_total",
    } <= used
    assert sorted(used - scraped) == []
