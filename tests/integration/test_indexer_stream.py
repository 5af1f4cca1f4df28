"""The change-stream path against a MongoDB replica set (testcontainers where a Docker engine answers)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import visitors as visitor_fields
from indexer import source
from indexer.collections import VISITORS
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import checkpoint_of, eventually, in_sync, indexed, running, worker_settings


@pytest.fixture
def replica_set(services: Services) -> Services:
    if not services.change_streams:
        pytest.skip("no MongoDB replica set here (change streams need one; testcontainers runs this where Docker does)")
    return services


async def test_the_worker_follows_the_change_stream(
    replica_set: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
) -> None:
    visitors = database[VISITORS.collection]
    seeded = [factories.visitor(_updatedAt=factories.moment(3)) for _ in range(200)]
    await visitors.insert_many(seeded)
    assert await source.change_streams_available(database, VISITORS)
    async with running(worker_settings(replica_set, mongo_url, alias), database, es) as worker:
        await eventually(lambda: in_sync(database, es, alias), within=60)
        assert "resume_token" in (await checkpoint_of(database, alias))["stream"]
        inserted = factories.visitor()
        await visitors.insert_one(inserted)
        await visitors.update_one({"_id": seeded[0]["_id"]}, {"$set": {"name": "renamed"}})  # _updatedAt untouched
        await visitors.delete_one({"_id": seeded[1]["_id"]})
        await visitors.update_one({"_id": seeded[2]["_id"]}, {"$set": {"disabled": True}})

        async def followed() -> bool:
            renamed = await indexed(es, alias, seeded[0]["_id"])
            return (
                await indexed(es, alias, inserted["_id"]) is not None
                and renamed is not None
                and renamed[visitor_fields.FIELD_VISITOR].get("name") == "renamed"
                and await indexed(es, alias, seeded[1]["_id"]) is None
                and await indexed(es, alias, seeded[2]["_id"]) is None
            )

        await eventually(followed, within=30)
        assert worker.metrics.phase == "sync"
    # A restart resumes from the stored token: a write made while no worker ran is picked up.
    missed = factories.visitor()
    await visitors.insert_one(missed)
    async with running(worker_settings(replica_set, mongo_url, alias), database, es):
        await eventually(lambda: _is_indexed(es, alias, missed["_id"]), within=30)
        await asyncio.sleep(0)


async def _is_indexed(es: AsyncElasticsearch, alias: str, document_id: str) -> bool:
    return await indexed(es, alias, document_id) is not None
