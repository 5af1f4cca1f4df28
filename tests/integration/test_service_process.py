"""The service as its own process: graceful SIGTERM under load, what it logs, and how it meets abusive clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.lookup import free_port, wait_ready
from common import process_metrics
from common.logs import JsonFormatter
from indexer.collections import VISITORS
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer, service_settings, start_client
from tests.processes import process_environment

SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


async def seed(database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await factories.define_custom_field(database, "plan")
    await database[VISITORS.collection].insert_one(
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
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        ES_CONTACTS_INDEX=f"{alias}-lc",
        COLLECTIONS="visitors",
    )
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


async def test_request_log_is_off_by_default(
    api: TestClient[Any, Any],
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database, index_visitors)
    caplog.set_level(logging.INFO)
    assert (await api.get(SEARCH + "?email=secret.person@example.com", headers=AGENT)).status == 200
    assert [record for record in caplog.records if record.getMessage() == "request"] == []


async def test_request_log_has_no_personal_data(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database, index_visitors)
    caplog.set_level(logging.INFO)
    api = await start_client(service_settings(services, mongo_url, alias, request_log=1.0))
    try:
        await _log_two_requests(api)
    finally:
        await api.close()
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


async def _log_two_requests(api: TestClient[Any, Any]) -> None:
    response = await api.get(
        SEARCH + "?email=secret.person@example.com&custom=%7B%22plan%22%3A%22gold%22%7D", headers=AGENT
    )
    assert response.status == 200
    await api.get(SEARCH + "?email=secret.person@example.com", headers={**AGENT, "X-Auth-Token": "wrong-token"})


KEEPALIVE_TIMEOUT = 1.0


@dataclass
class Process:
    """A running `python -m service` and where it listens."""

    process: asyncio.subprocess.Process
    port: int
    metrics_port: int
    stderr: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> str:
        """SIGTERM, then everything the process wrote to stderr."""
        if self.stderr is None:
            self.process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(self.process.communicate(), timeout=20)
            self.stderr = stderr.decode()
        return self.stderr


@pytest.fixture
async def service_process(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> AsyncIterator[Process]:
    await seed(database, index_visitors)
    port, metrics_port = free_port(), free_port()
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        ES_CONTACTS_INDEX=f"{alias}-lc",
        COLLECTIONS="visitors",
    )
    environment |= {"PORT": str(port), "KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT), "LOG_LEVEL": "INFO"}
    environment |= {"METRICS_PORT": str(metrics_port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", env=environment, stderr=asyncio.subprocess.PIPE
    )
    running = Process(process, port, metrics_port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, running.base)
        yield running
    finally:
        await running.stop()


async def raw_request(port: int, request: bytes) -> bytes:
    """Sends bytes as they are and returns everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


async def still_serves(running: Process) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(running.base + SEARCH + "?email=secret.person@example.com", headers=AGENT) as response,
    ):
        assert response.status == 200
        assert (await response.json())["contact"]["_id"] == "v1"


async def test_server_header_names_no_software_or_version(service_process: Process) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", SEARCH + "?email=a@b.c", "/nothing"):
            async with session.get(service_process.base + path, headers=AGENT) as response:
                assert response.headers["Server"] == "contact-search", path
    refused = await raw_request(service_process.port, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert refused.startswith(b"HTTP/1.") and b"\r\nServer: contact-search\r\n" in refused
    assert b"aiohttp" not in refused and b"Python" not in refused


async def test_oversized_query_string_and_headers_get_a_400_and_are_not_logged(service_process: Process) -> None:
    long_query = b"GET " + SEARCH.encode() + b"?email=secret.person%40example.com&custom=" + b"x" * 20_000
    oversized = {
        "20 kB query string": long_query + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "20 kB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Auth-Token: agent-token" + b"t" * 20_000 + b"\r\n\r\n",
        "too many headers": b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200)) + b"\r\n",
    }
    for name, request in oversized.items():
        answer = await raw_request(service_process.port, request)
        assert answer.startswith(b"HTTP/1.1 400 ") or answer.startswith(b"HTTP/1.0 400 "), (name, answer[:200])
    await still_serves(service_process)
    log = await service_process.stop()
    assert log.count("refused a malformed or oversized request") == len(oversized), log
    for secret in ("secret.person", "agent-token", "Traceback"):
        assert secret not in log


async def test_a_slow_client_is_disconnected(service_process: Process) -> None:
    started = time.monotonic()
    half_request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    assert await raw_request(service_process.port, half_request) == b""
    assert time.monotonic() - started < KEEPALIVE_TIMEOUT + 3

    # Still sending, one header byte every 0.2 s: the timer is not reset by each byte.
    reader, writer = await asyncio.open_connection("127.0.0.1", service_process.port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
    try:
        while not reader.at_eof() and time.monotonic() - started < KEEPALIVE_TIMEOUT + 5:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), timeout=0.2)
            with contextlib.suppress(ConnectionError):
                writer.write(b"a")
        closed_after = time.monotonic() - started
    finally:
        writer.close()
    assert reader.at_eof()
    assert closed_after < KEEPALIVE_TIMEOUT + 3

    # An idle keep-alive connection is closed too, after answering its request.
    answer = await raw_request(service_process.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    await still_serves(service_process)


async def test_metrics_are_scraped_on_their_own_port(
    service_process: Process, services: Services, alias: str, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    contacts_get = service_process.base + "/api/v1/omnichannel/contacts.get?contactId=nobody"
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            await still_serves(service_process)
        async with session.get(service_process.base + SEARCH + "?email=a@b.c") as response:
            assert response.status == 401
        # The contacts routes' Elasticsearch calls are counted like the lookup's: a missing index is a failed call,
        # a contact that does not exist an answer.
        async with session.get(contacts_get, headers=AGENT) as response:
            assert response.status == 503
        async with session.put(f"{services.es_url}/{alias}-lc") as response:
            assert response.status == 200
        try:
            async with session.get(contacts_get, headers=AGENT) as response:
                assert response.status == 404
        finally:
            async with session.delete(f"{services.es_url}/{alias}-lc"):
                pass
        async with session.get(service_process.base + "/metrics") as response:
            assert response.status == 404  # not on the API's port
        async with session.get(f"http://127.0.0.1:{service_process.metrics_port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
    route = 'route="/api/v1/omnichannel/contact.search"'
    assert f'contact_search_http_requests_total{{{route},status="200"}} 3.0' in text
    assert f'contact_search_http_requests_total{{{route},status="401"}} 1.0' in text
    assert 'contact_search_http_requests_total{route="unmatched",status="404"} 1.0' in text
    assert f"contact_search_http_request_duration_seconds_count{{{route}}} 4.0" in text
    assert 'contact_search_backend_request_duration_seconds_count{backend="elasticsearch"} 4.0' in text
    assert 'contact_search_backend_errors_total{backend="elasticsearch",error="NotFoundError"} 1.0' in text
    assert 'contact_search_http_requests_total{route="/api/v1/omnichannel/contacts.get",status="404"} 1.0' in text
    # The standard process series under their usual names, and the version.
    assert "\nprocess_cpu_seconds_total " in text
    assert "\nprocess_resident_memory_bytes " in text
    assert f'contact_search_build_info{{version="{process_metrics.version()}"}} 1.0' in text
    assert 'contact_search_backend_request_duration_seconds_count{backend="mongo"}' in text
    assert 'contact_search_cache_hits_total{cache="auth"} 4.0' in text
    assert 'contact_search_cache_misses_total{cache="auth"} 1.0' in text
    assert "secret.person" not in text
