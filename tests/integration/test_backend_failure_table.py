"""Every Elasticsearch failure mode on every route gets the same contract status and body (the one rule in
`service.backend_failures`): a stand-in Elasticsearch answers every request with one failure; MongoDB is the real wire
server (authentication and permissions are read from it as in production)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from tests import factories
from tests.conftest import Services
from tests.integration.conftest import service_settings, start_client

AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
ROUTES = {
    "contact.search": "/api/v1/omnichannel/contact.search?email=a%40b.c",
    "contacts.search": "/api/v1/omnichannel/contacts.search?searchText=ab",
    "contacts.get": "/api/v1/omnichannel/contacts.get?contactId=c1",
    "visitors.search": "/api/v1/livechat/visitors.search?term=ab",
    "visitors.autocomplete": "/api/v1/livechat/visitors.autocomplete?selector=%7B%22term%22%3A%22ab%22%7D",
}
ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
UNAVAILABLE = (503, {"success": False, "error": "Search backend is unavailable"})
FAILED = (502, {"success": False, "error": "Search backend failed"})


def _error(status: int, kind: str) -> web.Response:
    body = {"error": {"type": kind, "reason": "stand-in"}, "status": status}
    return web.json_response(body, status=status, headers=ES_HEADERS)


def _ok(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, headers=ES_HEADERS)


PARTIAL = {"took": 1, "timed_out": False, "_shards": {"total": 2, "successful": 1, "skipped": 0, "failed": 1}}
EMPTY_HITS = {"total": {"value": 0, "relation": "eq"}, "hits": []}

# failure mode → (what the stand-in answers to a search, to a get) and what every route must answer.
MODES: dict[str, tuple[web.Response | None, tuple[int, dict[str, Any]]]] = {
    "all shards failed": (_error(500, "search_phase_execution_exception"), UNAVAILABLE),
    "no shard available": (_error(503, "no_shard_available_action_exception"), UNAVAILABLE),
    "rejected (429)": (
        _error(429, "es_rejected_execution_exception"),
        (503, {"success": False, "error": "Search backend is overloaded"}),
    ),
    "index missing": (
        _error(404, "index_not_found_exception"),
        (503, {"success": False, "error": "Search index is not available"}),
    ),
    "credential refused": (
        _error(401, "security_exception"),
        (503, {"success": False, "error": "Search backend refused our credentials"}),
    ),
    "bad request": (_error(400, "parsing_exception"), FAILED),
    "gateway timeout": (web.Response(status=504, text="<html>gateway timeout</html>"), UNAVAILABLE),
    "internal error": (_error(500, "exception"), FAILED),
    "a 200 that is not JSON": (
        web.Response(status=200, text="<html>a proxy's page</html>", headers=ES_HEADERS),
        FAILED,
    ),
}
# Answers only a search can give (a get has no shards): served to searches, a search-shaped 200 to gets is a miss.
SEARCH_ONLY_MODES: dict[str, dict[str, Any]] = {
    "a 200 with a failed shard": {**PARTIAL, "hits": EMPTY_HITS},
    "a 200 that timed out": {**PARTIAL, "timed_out": True, "_shards": {**PARTIAL["_shards"], "failed": 0}},
}


class StandIn:
    """An HTTP server on a free port that answers every Elasticsearch request as `mode` says."""

    def __init__(self) -> None:
        self.mode = ""
        self.searches = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        if self.mode in SEARCH_ONLY_MODES:
            if request.path.endswith("/_mapping"):
                # The visitor lists first check the index's generation: a current one, so the search is reached.
                return _ok({"contacts-v2": {"mappings": {"_meta": {"version": 2}}}})
            if request.path.endswith("/_search"):
                self.searches += 1
                return _ok(SEARCH_ONLY_MODES[self.mode])
            return _ok({"_index": "x", "_id": "c1", "found": False})
        if request.path.endswith("/_search"):
            self.searches += 1
        response, _ = MODES[self.mode]
        assert response is not None
        # A prepared aiohttp response can be sent once: send a copy of it.
        return web.Response(status=response.status, body=response.body, headers={**response.headers}, content_type=None)


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    state = StandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    stand_in: tuple[StandIn, str],
) -> AsyncIterator[TestClient[Any, Any]]:
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    api = await start_client(service_settings(services, mongo_url, alias, es_url=stand_in[1]))
    try:
        yield api
    finally:
        await api.close()


async def _answer(api: TestClient[Any, Any], route: str) -> tuple[int, Any]:
    response = await api.get(ROUTES[route], headers=AGENT)
    assert response.content_type == "application/json"
    return response.status, orjson.loads(await response.read())


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("mode", sorted(MODES))
async def test_each_failure_gets_one_status_on_every_route(
    client: TestClient[Any, Any], stand_in: tuple[StandIn, str], mode: str, route: str
) -> None:
    stand_in[0].mode = mode
    assert await _answer(client, route) == MODES[mode][1]


@pytest.mark.parametrize("route", ["contact.search", "contacts.search", "visitors.search", "visitors.autocomplete"])
@pytest.mark.parametrize("mode", sorted(SEARCH_ONLY_MODES))
async def test_a_partial_search_answer_is_never_served_as_a_200(
    client: TestClient[Any, Any], stand_in: tuple[StandIn, str], mode: str, route: str
) -> None:
    stand_in[0].mode = mode
    assert await _answer(client, route) == UNAVAILABLE
    assert stand_in[0].searches >= 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_unreachable_and_timed_out_elasticsearch_are_503_on_every_route(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]], route: str
) -> None:
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    # A listener that accepts and never answers: the request times out after backend_timeout.
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    try:
        for es_url in (f"http://127.0.0.1:{_closed_port()}", f"http://127.0.0.1:{silent_port}"):
            api = await start_client(service_settings(services, mongo_url, alias, es_url=es_url, backend_timeout=0.5))
            try:
                assert await _answer(api, route) == UNAVAILABLE, es_url
            finally:
                await api.close()
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
