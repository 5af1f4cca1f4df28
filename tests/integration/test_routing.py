"""deploy/nginx/contact-search.conf in a real nginx in front of the real service and a stand-in Rocket.Chat:
exactly our paths reach the service, everything else Rocket.Chat; and Rocket.Chat answers our paths when the
service cannot be reached at all. nginx is installed by `make test-tools` (`make test` runs it)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port
from indexer.collections import VISITORS
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer, service_settings, serving

SNIPPET = Path(__file__).resolve().parents[2] / "deploy/nginx/contact-search.conf"
SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


@pytest.fixture(autouse=True)
def nginx_installed() -> None:
    assert shutil.which("nginx"), "nginx is not installed: `make test-tools` installs it (Debian's nginx-light)"


async def rocket_chat_stand_in(request: web.Request) -> web.Response:
    seen = {"X-Seen-Query": request.rel_url.raw_query_string, "X-Seen-User": request.headers.get("X-User-Id", "")}
    return web.json_response({"answered_by": "rocketchat", "path": request.path}, headers=seen)


@pytest.fixture
async def rocket_chat() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rocket_chat_stand_in)
    server = TestServer(app)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def started_nginx(tmp_path: Path, service_port: int, rocket_chat_port: int) -> AsyncIterator[str]:
    """nginx with the snippet pointed at the service and at the Rocket.Chat stand-in for its fallback, and
    `location /` at the stand-in; its base URL."""
    snippet = tmp_path / "contact-search.conf"
    text = SNIPPET.read_text()
    for address, port in (("http://127.0.0.1:8080;", service_port), ("http://127.0.0.1:3000;", rocket_chat_port)):
        assert text.count(address) == 1, address
        text = text.replace(address, f"http://127.0.0.1:{port};")
    snippet.write_text(text)
    port = free_port()
    (tmp_path / "nginx.conf").write_text(
        f"""
pid {tmp_path}/nginx.pid;
error_log stderr;
daemon off;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    server {{
        listen 127.0.0.1:{port};
        include {snippet};
        location / {{ proxy_pass http://127.0.0.1:{rocket_chat_port}; }}
    }}
}}
"""
    )
    process = await asyncio.create_subprocess_exec(
        "nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(base + "/"):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)


@pytest.fixture
async def nginx(api: TestClient[Any, Any], rocket_chat: TestServer, tmp_path: Path) -> AsyncIterator[str]:
    assert api.port is not None and rocket_chat.port is not None
    async with started_nginx(tmp_path, api.port, rocket_chat.port) as base:
        yield base


async def test_nginx_sends_exactly_the_lookup_to_the_service(
    nginx: str, database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await database[VISITORS.collection].insert_one(
        factories.visitor(_id="v1", visitorEmails=[{"address": "santa@example.com"}])
    )
    await index_visitors()
    async with aiohttp.ClientSession() as session:
        async with session.get(nginx + SEARCH + "?email=santa%40example.com", headers=AGENT) as response:
            assert response.status == 200
            assert (await response.json())["contact"]["_id"] == "v1"
        async with session.get(nginx + SEARCH + "?email=santa%40example.com") as response:
            assert response.status == 401
        for ours in (
            "/api/v1/omnichannel/contacts.search",
            "/api/v1/omnichannel/contacts.get",
            "/api/v1/livechat/visitors.search",
            "/api/v1/livechat/visitors.autocomplete",
        ):
            async with session.get(nginx + ours) as response:
                assert response.status == 401  # the service's answer: Rocket.Chat's stand-in answers 200
        for path in (
            SEARCH + "/more",
            SEARCH + "x",
            "/api/v1/omnichannel/contacts.searchx",
            "/api/v1/omnichannel/contacts.get/1",
            "/api/v1/livechat/visitor",
            "/api/v1/livechat/visitors.searchx",
            "/api/v1/livechat/visitors.autocomplete/1",
            "/api/v1/livechat/visitors.info",
            "/",
        ):
            async with session.get(nginx + path, headers=AGENT) as response:
                assert await response.json() == {"answered_by": "rocketchat", "path": path}, path


async def test_rocket_chat_answers_our_paths_when_the_service_cannot_be_reached(
    rocket_chat: TestServer, tmp_path: Path
) -> None:
    assert rocket_chat.port is not None
    gone = free_port()  # nothing listens there: the service is down
    async with started_nginx(tmp_path, gone, rocket_chat.port) as base, aiohttp.ClientSession() as session:
        for path in (SEARCH, "/api/v1/omnichannel/contacts.search", "/api/v1/omnichannel/contacts.get"):
            async with session.get(base + path + "?email=santa%40example.com", headers=AGENT) as response:
                assert response.status == 200
                assert await response.json() == {"answered_by": "rocketchat", "path": path}
                # The caller's query and credentials went along.
                assert response.headers["X-Seen-Query"] == "email=santa@example.com"  # as aiohttp sent it
                assert response.headers["X-Seen-User"] == "agent"


async def test_the_service_s_own_503_is_passed_on_not_replaced(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    rocket_chat: TestServer,
    tmp_path: Path,
) -> None:
    assert rocket_chat.port is not None
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    unreachable_es = Services("http://127.0.0.1:1", services.mongo_url, False)
    async with serving(service_settings(unreachable_es, mongo_url, alias)) as api:
        assert api.port is not None
        async with (
            started_nginx(tmp_path, api.port, rocket_chat.port) as base,
            aiohttp.ClientSession() as session,
            session.get(base + SEARCH + "?email=a%40b.c", headers=AGENT) as response,
        ):
            assert response.status == 503
            assert await response.json() == {"success": False, "error": "Search backend is unavailable"}
