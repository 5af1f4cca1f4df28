"""The service as its own process: graceful SIGTERM under load, and what it logs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port, wait_ready
from common.logs import JsonFormatter
from indexer import specs
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer

SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


async def seed(database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await factories.define_custom_field(database, "plan")
    await database[specs.VISITORS.collection].insert_one(
        factories.visitor(
            _id="v1", visitorEmails=[{"address": "secret.person@example.com"}], livechatData={"plan": "gold"}
        )
    )
    await index_visitors()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_under_load_drops_no_request_and_exits_0(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    workers: int,
) -> None:
    await seed(database, index_visitors)
    port = free_port()
    environment = {**os.environ, "MONGO_URL": mongo_url, "ES_URL": services.es_url, "ES_INDEX": alias}
    environment |= {"PORT": str(port), "SHUTDOWN_GRACE": "10", "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "--workers", str(workers), env=environment
    )
    base = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    stopping = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)

            async def client() -> None:
                # Each request is sent before SIGTERM; none may fail, including those in flight at SIGTERM.
                while not stopping.is_set():
                    async with session.get(base + SEARCH + "?email=secret.person@example.com", headers=AGENT) as r:
                        body = orjson.loads(await r.read())
                        statuses.append(r.status)
                        assert body["contact"]["_id"] == "v1"

            clients = [asyncio.create_task(client()) for _ in range(8)]
            await asyncio.sleep(1.0)
            process.send_signal(signal.SIGTERM)
            stopping.set()
            await asyncio.gather(*clients)
        exit_code = await asyncio.wait_for(process.wait(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert exit_code == 0
    assert len(statuses) > 20
    assert set(statuses) == {200}


async def test_request_log_has_no_personal_data(
    api: TestClient[Any, Any],
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database, index_visitors)
    caplog.set_level(logging.INFO)
    response = await api.get(
        SEARCH + "?email=secret.person@example.com&custom=%7B%22plan%22%3A%22gold%22%7D", headers=AGENT
    )
    assert response.status == 200
    await api.get(SEARCH + "?email=secret.person@example.com", headers={**AGENT, "X-Auth-Token": "wrong-token"})
    lines = [JsonFormatter().format(record) for record in caplog.records if record.levelno >= logging.INFO]
    requests = [orjson.loads(line) for line in lines if orjson.loads(line)["message"] == "request"]
    assert [(entry["method"], entry["path"], entry["status"]) for entry in requests] == [
        ("GET", SEARCH, 200),
        ("GET", SEARCH, 401),
    ]
    assert all(isinstance(entry["duration_ms"], float) for entry in requests)
    text = "\n".join(lines)
    for secret in ("secret.person", "gold", "agent-token", "wrong-token", "example.com"):
        assert secret not in text
