"""The service's probes reflect the pod, not the shared backends: ready through an Elasticsearch and a MongoDB
outage, unready only once shutdown began; `?verbose=1` checks every alias the service reads; `backend_up` says
which backend is away."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer, service_settings, serving
from tests.integration.indexer_helpers import eventually
from tests.integration.tcp_proxy import proxy_to

SEARCH = "/api/v1/omnichannel/contact.search"
CONTACTS = "/api/v1/omnichannel/contacts.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


async def backend_up(metrics_port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{metrics_port}/metrics") as answer:
        text = await answer.text()
    return {
        sample.labels["backend"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "contact_search_backend_up"
        for sample in family.samples
    }


async def readiness(client: TestClient[Any, Any], query: str = "") -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz" + query)
    return response.status, await response.json()


async def test_an_elasticsearch_outage_leaves_the_pod_ready_and_shows_in_backend_up_and_verbose(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", factories.DEFAULT_ROLES)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await index_visitors()
    metrics_port = free_port()
    async with proxy_to(services.es_url) as proxy:
        settings = service_settings(services, mongo_url, alias, es_url=proxy.url, metrics_port=metrics_port)
        async with serving(settings) as client:
            assert (await client.get(SEARCH + "?email=a@b.c", headers=AGENT)).status == 200
            status, body = await readiness(client, "?verbose=1")
            assert status == 200 and body["ready"] is True
            # Every alias the service reads: the visitors' (indexed) and the contacts' (never indexed here).
            assert body["backends"] == {
                "elasticsearch": {alias: "ok", settings.es_contacts_index: "alias missing"},
                "mongodb": "ok",
            }

            async def mongodb_up() -> bool:
                # PyMongo hands topology events to listeners from a queue it drains about once a second.
                return (await backend_up(metrics_port)).get("mongodb") == 1.0

            await eventually(mongodb_up, within=30)
            assert (await backend_up(metrics_port))["elasticsearch"] == 1.0

            await proxy.cut()
            for path in (SEARCH + "?email=a@b.c", CONTACTS):
                assert (await client.get(path, headers=AGENT)).status == 503
                assert (await backend_up(metrics_port)) == {"elasticsearch": 0.0, "mongodb": 1.0}, path
            assert await readiness(client) == (200, {"ready": True, "draining": False})
            status, body = await readiness(client, "?verbose=1")
            assert status == 200
            assert body["backends"]["elasticsearch"] == {
                alias: "ConnectionError",
                settings.es_contacts_index: "ConnectionError",
            }

            await proxy.open()
            assert (await client.get(SEARCH + "?email=a@b.c", headers=AGENT)).status == 200
            assert (await backend_up(metrics_port))["elasticsearch"] == 1.0


async def test_a_mongodb_outage_leaves_the_pod_ready(services: Services, alias: str) -> None:
    metrics_port = free_port()
    settings = service_settings(
        services, "mongodb://127.0.0.1:1/rocketchat", alias, backend_timeout=0.5, metrics_port=metrics_port
    )
    async with serving(settings) as client:
        assert (await client.get(SEARCH + "?email=a@b.c", headers=AGENT)).status == 503
        assert await readiness(client) == (200, {"ready": True, "draining": False})
        status, body = await readiness(client, "?verbose=1")
        assert (status, body["backends"]["mongodb"]) == (200, "ServerSelectionTimeoutError")
        assert (await backend_up(metrics_port))["mongodb"] == 0.0


async def test_the_pod_is_unready_once_shutdown_begins(api: TestClient[Any, Any]) -> None:
    assert await readiness(api) == (200, {"ready": True, "draining": False})
    await api.app.shutdown()  # what SIGTERM starts: the on_shutdown hooks, while in-flight requests finish
    assert await readiness(api) == (503, {"ready": False, "draining": True})
    assert (await api.get("/healthz")).status == 200  # alive all the same: draining is not a reason to restart
