"""The whole machinery on a second, small spec: a collection is a spec, not a copy of the worker.

Backfill, live inserts, updates, exclusions and hard deletes, a worker that vanishes mid-backfill and a successor
that resumes from the checkpoint, and `verify` with zero drift, all on a `notes` collection with its own mapping.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import shared
from indexer import documents
from indexer.specs import Spec
from indexer.verify import command as verify
from tests.conftest import Services
from tests.integration.indexer_helpers import checkpoint_of, eventually, running, start_worker, worker_settings

pytestmark = pytest.mark.usefixtures("services")

_numbers = itertools.count(1)

NOTES_MAPPING = {
    "dynamic": "strict",
    "properties": {
        shared.FIELD_ID: {"type": "keyword"},
        "text": {"type": "keyword"},
        shared.FIELD_CONTENT_HASH: {"type": "keyword", "index": False, "doc_values": False},
    },
}


def note_hash(note: Mapping[str, Any]) -> str:
    return documents.content_hash({"text": note.get("text")})


def note_document(note: Mapping[str, Any]) -> dict[str, Any]:
    return {
        shared.FIELD_ID: documents.document_id(note["_id"]),
        "text": note.get("text"),
        shared.FIELD_CONTENT_HASH: note_hash(note),
    }


def notes_spec(alias: str) -> Spec:
    return Spec(
        name="notes",
        collection="test_notes",
        alias=alias,
        to_document=note_document,
        content_hash=note_hash,
        mapping=NOTES_MAPPING,
        version_fields=("changed",),
        excluded=lambda note: note.get("hidden") is True,
    )


def long_ago(day: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(days=day)


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def note(**fields: Any) -> dict[str, Any]:
    number = next(_numbers)
    return {"_id": f"note{number:08d}", "text": f"text {number}", "changed": long_ago(number % 300), **fields}


async def notes_indexed(es: AsyncElasticsearch, alias: str) -> dict[str, str]:
    await es.indices.refresh(index=alias)
    found = await es.search(index=alias, size=10_000, query={"match_all": {}})
    return {hit["_id"]: hit["_source"]["text"] for hit in found.body["hits"]["hits"]}


async def notes_expected(database: AsyncDatabase[dict[str, Any]]) -> dict[str, str]:
    return {doc["_id"]: doc["text"] async for doc in database["test_notes"].find({}) if doc.get("hidden") is not True}


async def test_a_second_spec_backfills_follows_resumes_and_verifies_clean(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    spec = notes_spec(alias)
    notes = database["test_notes"]
    await notes.insert_many([note() for _ in range(3000)])
    settings = worker_settings(services, mongo_url, alias, batch_size=100, reconcile_interval=1.0)

    # A worker that vanishes mid-backfill (no last save, no lease release), like a killed process.
    first = start_worker(settings, database, es, holder="first", spec=spec)

    async def backfill_moved() -> bool:
        return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("after") is not None

    await eventually(backfill_moved, within=60, interval=0.02)
    await first.die()
    resumed_after = (await checkpoint_of(database, alias))["backfill"]["after"]

    async with running(settings, database, es, holder="second", spec=spec) as second:

        async def synced() -> bool:
            return await notes_indexed(es, alias) == await notes_expected(database)

        await eventually(synced, within=120)
        assert second.metrics.indexed < 3000  # it resumed after `resumed_after`, not from the start
        assert resumed_after is not None

        changed, hidden, deleted = "note-live-1", (await notes.find_one({}))["_id"], "note-live-2"
        await notes.insert_many([note(_id=changed, changed=now()), note(_id=deleted, changed=now())])
        await eventually(synced)
        await notes.update_one({"_id": changed}, {"$set": {"text": "edited", "changed": now()}})
        await notes.update_one({"_id": hidden}, {"$set": {"hidden": True, "changed": now()}})
        await notes.delete_one({"_id": deleted})  # a hard delete: found by the reconciliation
        await eventually(synced, within=60)
        assert (await notes_indexed(es, alias))[changed] == "edited"

    report = await verify.verify(database, es, spec, batch_size=500)
    assert report.found.drift == 0, verify.describe(report)
    assert report.exit_code == verify.CLEAN
    assert (report.found.documents, report.found.excluded, report.found.indexed) == (3001, 1, 3000)
    mapping = await es.indices.get_mapping(index=alias)
    assert set(next(iter(mapping.body.values()))["mappings"]["properties"]) == {"id", "text", "content_hash"}
