"""deploy/nginx/contact-search.conf in a real nginx in front of the real service and a stand-in Rocket.Chat:
exactly the lookup's path reaches the service, everything else Rocket.Chat. Skipped where nginx is not installed."""

from __future__ import annotations

import asyncio
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
from tests.integration.conftest import Indexer

SNIPPET = Path(__file__).resolve().parents[2] / "deploy/nginx/contact-search.conf"
SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed here (apt-get install nginx-light)"
)


async def rocket_chat_stand_in(request: web.Request) -> web.Response:
    return web.json_response({"answered_by": "rocketchat", "path": request.path})


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


@pytest.fixture
async def nginx(api: TestClient[Any, Any], rocket_chat: TestServer, tmp_path: Path) -> AsyncIterator[str]:
    """nginx with the snippet pointed at the test service, and `location /` at the stand-in; its base URL."""
    assert api.port is not None and rocket_chat.port is not None
    snippet = tmp_path / "contact-search.conf"
    snippet.write_text(SNIPPET.read_text().replace("http://127.0.0.1:8080;", f"http://127.0.0.1:{api.port};"))
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
        location / {{ proxy_pass http://127.0.0.1:{rocket_chat.port}; }}
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
