"""The fallback to Rocket.Chat: with ROCKETCHAT_URL set and Elasticsearch cut, every route's request reaches a
stand-in that answers like Rocket.Chat, with the caller's query and credentials, and its answer is relayed as it is;
a request refused with a 4xx never goes there, nor a request that came from a fallback, and a Rocket.Chat that does
not answer in time leaves the caller with the contract's 503."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer, service_settings, serving
from tests.integration.tcp_proxy import TcpProxy, proxy_to

SEARCH = "/api/v1/omnichannel/contact.search"
CONTACTS_SEARCH = "/api/v1/omnichannel/contacts.search"
CONTACTS_GET = "/api/v1/omnichannel/contacts.get"
TOKEN = "agent-token-3f9Zq"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": TOKEN}
UNAVAILABLE = {"success": False, "error": "Search backend is unavailable"}


@dataclass
class StandIn:
    """Answers like Rocket.Chat's routes; notes what it was sent; `hang` makes it never answer."""

    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hang: bool = False

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append((request.path_qs, dict(request.headers)))
        if self.hang:
            await asyncio.Event().wait()
        if request.path == SEARCH:
            return web.json_response({"contact": {"_id": "from-rocketchat"}, "success": True})
        return web.json_response({"success": False, "error": "Rocket.Chat's own 404"}, status=404)


@pytest.fixture
async def rocket_chat() -> AsyncIterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stand_in.answer)
    server = TestServer(app)
    await server.start_server()
    try:
        yield stand_in, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@dataclass
class World:
    client: TestClient[Any, Any]
    proxy: TcpProxy
    metrics_port: int


@pytest.fixture
async def world(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    rocket_chat: tuple[StandIn, str],
) -> AsyncIterator[World]:
    """The service with ROCKETCHAT_URL at the stand-in, Elasticsearch behind a proxy the test can cut."""
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", factories.DEFAULT_ROLES)
    await factories.add_user(database, "agent", TOKEN, ["livechat-agent"])
    await database["rocketchat_livechat_visitor"].insert_one(
        factories.visitor(_id="ours", visitorEmails=[{"address": "a@b.c"}])
    )
    await index_visitors()
    metrics_port = free_port()
    async with proxy_to(services.es_url) as proxy:
        settings = service_settings(
            services,
            mongo_url,
            alias,
            es_url=proxy.url,
            rocketchat_url=rocket_chat[1],
            fallback_timeout=1.0,
            metrics_port=metrics_port,
        )
        async with serving(settings) as client:
            yield World(client, proxy, metrics_port)


async def fallbacks(metrics_port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{metrics_port}/metrics") as answer:
        text = await answer.text()
    return {
        sample.labels["route"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "contact_search_fallbacks"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def get(client: TestClient[Any, Any], path: str, headers: dict[str, str] = AGENT) -> tuple[int, Any]:
    response = await client.get(path, headers=headers)
    return response.status, await response.json()


async def test_an_elasticsearch_outage_is_answered_by_rocket_chat_on_every_route(
    world: World, rocket_chat: tuple[StandIn, str], caplog: pytest.LogCaptureFixture
) -> None:
    stand_in, _ = rocket_chat
    assert (await get(world.client, SEARCH + "?email=a%40b.c"))[1]["contact"]["_id"] == "ours"
    assert stand_in.seen == []  # Elasticsearch answers: nothing goes to Rocket.Chat

    await world.proxy.cut()
    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        assert await get(world.client, SEARCH + "?email=a%40b.c") == (
            200,
            {"contact": {"_id": "from-rocketchat"}, "success": True},
        )
        # Rocket.Chat's answer as it is, its status included.
        assert await get(world.client, CONTACTS_SEARCH + "?searchText=ab&count=5") == (
            404,
            {"success": False, "error": "Rocket.Chat's own 404"},
        )
        assert (await get(world.client, CONTACTS_GET + "?contactId=c1"))[0] == 404
        print(f"\n3 requests answered by Rocket.Chat in {time.monotonic() - started:.2f} s")

    assert [path for path, _ in stand_in.seen] == [
        SEARCH + "?email=a@b.c",  # as the caller (aiohttp) sent it
        CONTACTS_SEARCH + "?searchText=ab&count=5",
        CONTACTS_GET + "?contactId=c1",
    ]
    for _, headers in stand_in.seen:
        assert headers["X-User-Id"] == "agent" and headers["X-Auth-Token"] == TOKEN
        assert headers["X-Contact-Search-Fallback"] == "1"
    assert await fallbacks(world.metrics_port) == {SEARCH: 1.0, CONTACTS_SEARCH: 1.0, CONTACTS_GET: 1.0}
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("answered /api/v1/omnichannel/contact.search by Rocket.Chat" in r.getMessage() for r in warnings)
    logged = "\n".join(record.getMessage() for record in warnings)
    assert TOKEN not in logged and "a@b.c" not in logged and "a%40b.c" not in logged


async def test_refusals_and_forwarded_requests_never_go_to_rocket_chat(
    world: World, rocket_chat: tuple[StandIn, str]
) -> None:
    stand_in, _ = rocket_chat
    await world.proxy.cut()
    assert (await get(world.client, SEARCH + "?email=a%40b.c", {}))[0] == 401
    assert (await get(world.client, SEARCH + "?custom=not-json"))[0] == 400
    assert (await get(world.client, CONTACTS_SEARCH + "?count=x"))[0] == 400
    assert (await world.client.post(SEARCH, headers=AGENT)).status == 405
    # A request that a fallback sent already: ROCKETCHAT_URL leads back to us, so it stops here.
    looped = {**AGENT, "X-Contact-Search-Fallback": "1"}
    assert await get(world.client, SEARCH + "?email=a%40b.c", looped) == (503, UNAVAILABLE)
    assert stand_in.seen == []
    assert await fallbacks(world.metrics_port) == {}


async def test_a_rocket_chat_that_does_not_answer_in_time_leaves_the_contract_s_503(
    world: World, rocket_chat: tuple[StandIn, str]
) -> None:
    stand_in, _ = rocket_chat
    stand_in.hang = True
    await world.proxy.cut()
    started = time.monotonic()
    assert await get(world.client, SEARCH + "?email=a%40b.c") == (503, UNAVAILABLE)
    assert len(stand_in.seen) == 1
    print(f"\nRocket.Chat silent: our 503 after {time.monotonic() - started:.2f} s (FALLBACK_TIMEOUT 1 s)")


async def test_without_rocketchat_url_an_outage_is_the_contract_s_503(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", TOKEN, ["livechat-agent"])
    async with (
        proxy_to(services.es_url) as proxy,
        serving(service_settings(services, mongo_url, alias, es_url=proxy.url)) as client,
    ):
        await proxy.cut()
        assert await get(client, SEARCH + "?email=a%40b.c") == (503, UNAVAILABLE)
