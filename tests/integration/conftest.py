"""Fixtures that run the real service and the real indexer against the test services."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common import config
from indexer import backfill
from indexer.collections import VISITORS
from service.app import create_app
from service.settings import Settings
from tests.conftest import Services, with_database

Indexer = Callable[[], Awaitable[int]]


# The callers of the list routes' tests and Rocket.Chat's 401 and 403 bodies, written out as Rocket.Chat sends them.
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
PLAIN = {"X-User-Id": "plain", "X-Auth-Token": "plain-token"}
FORBIDDEN = {
    "success": False,
    "error": "User does not have the permissions required for this action [error-unauthorized]",
}
UNAUTHORIZED = {
    "success": False,
    "status": "error",
    "message": "You must be logged in to do this.",
    "error": "You must be logged in to do this.",
}


def service_settings(services: Services, mongo_url: str, alias: str, **overrides: Any) -> Settings:
    defaults: dict[str, Any] = {
        "auth_cache_ttl": 0.5,
        "custom_fields_ttl": 0.5,
        "backend_timeout": 3.0,
        "log_format": "text",
    }
    # Rocket.Chat 7's contacts behind an alias of the test's own too.
    defaults["es_contacts_index"] = f"{alias}-lc"
    defaults["es_url"] = services.es_url
    return Settings(mongo_url=mongo_url, es_index=alias, **(defaults | overrides))


async def start_client(settings: Settings) -> TestClient[Any, Any]:
    # As `python -m service` runs it: no aiohttp access log (its lines carry the query string).
    server = TestServer(create_app(settings))
    await server.start_server(access_log=None)
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    return client


@dataclass(frozen=True)
class ModuleWorld:
    """A database and an alias of one test module's own, with clients to both."""

    database: AsyncDatabase[dict[str, Any]]
    es: AsyncElasticsearch
    mongo_url: str
    alias: str


@contextlib.asynccontextmanager
async def module_world(services: Services, prefix: str) -> AsyncIterator[ModuleWorld]:
    """For a module-scoped world: dropped, with every index of its alias, on the way out."""
    run_id = uuid.uuid4().hex[:10]
    name, alias = f"test_{run_id}", f"{prefix}-{run_id}"
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(services.mongo_url, tz_aware=False)
    es = AsyncElasticsearch(config.es_nodes(services.es_url), request_timeout=30)
    try:
        yield ModuleWorld(mongo[name], es, with_database(services.mongo_url, name), alias)
    finally:
        await mongo.drop_database(name)
        found = await es.indices.get(index=f"{alias}*")
        if found.body:
            await es.indices.delete(index=",".join(found.body))
        await es.close()
        await mongo.close()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start_client(settings)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def api(services: Services, mongo_url: str, alias: str) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start_client(service_settings(services, mongo_url, alias))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def index_visitors(database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str) -> Indexer:
    """Runs the real indexer's full pass over the test database."""

    async def run() -> int:
        summary = await backfill.index_once(database, es, VISITORS.with_alias(alias), 500)
        assert summary.refused == 0, summary
        return summary.indexed

    return run
