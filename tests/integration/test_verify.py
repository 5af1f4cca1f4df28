"""`verify [--repair]` against the real services: drift made by hand on both sides is found, bucketed and repaired."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from bson import ObjectId
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import shared
from contact_index import visitors as visitor_fields
from indexer import backfill, documents, indices, repairs, scans, verify
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection
from indexer.drift import DRIFT_KINDS, EXAMPLES
from indexer.settings import Settings
from tests import factories
from tests.conftest import Services, with_database
from tests.integration.indexer_helpers import verify_command

ALL = 10_000  # examples per kind: every drifting id, so tests compare whole buckets


def buckets(tally: verify.Tally) -> dict[str, set[str]]:
    return {kind.value: set(tally.example_ids[kind]) for kind in DRIFT_KINDS}


def no_drift() -> dict[str, set[str]]:
    return {kind.value: set() for kind in DRIFT_KINDS}


async def seed_and_index(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, visitors: list[dict[str, Any]]
) -> str:
    await database[VISITORS.collection].insert_many([dict(visitor) for visitor in visitors])
    await backfill.index_once(database, es, VISITORS.with_alias(alias), 500)
    index = await indices.current_index(es, alias)
    assert index is not None
    return index


async def check(
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    *,
    repair: bool = False,
    batch_size: int = 7,
    spill_size: int = scans.SPILL_SIZE,
) -> verify.Report:
    spec = VISITORS.with_alias(alias)
    return await verify.verify(
        database, es, spec, batch_size=batch_size, repair=repair, spill_size=spill_size, examples=ALL
    )


async def stored(es: AsyncElasticsearch, index: str, document_id: str) -> dict[str, Any] | None:
    found = await es.options(ignore_status=404).get(index=index, id=document_id)
    return found.body["_source"] if found.body.get("found") else None


def as_stored(visitor: dict[str, Any]) -> dict[str, Any]:
    """The `_source` the index keeps of a visitor: its document without the substring tokens (indexed only)."""
    written = visitors_collection.to_index_document(visitor)
    return {key: value for key, value in written.items() if key not in visitor_fields.TOKEN_FIELDS}


def later(visitor: dict[str, Any]) -> dt.datetime:
    moment: dt.datetime = visitor["_updatedAt"]
    return moment + dt.timedelta(hours=1)


async def test_drift_on_both_sides_is_bucketed_then_repaired(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    strings = [factories.visitor(visitorEmails=[{"address": f"v{n}@example.com"}]) for n in range(40)]
    object_ids = [factories.visitor(_id=ObjectId()) for _ in range(10)]
    index = await seed_and_index(database, es, alias, strings + object_ids)
    visitors = database[VISITORS.collection]
    ids = [documents.document_id(visitor["_id"]) for visitor in strings + object_ids]

    # Elasticsearch side: a lost document, one MongoDB never had, one without `id`, one with a stale hash.
    # (Deleted at the version they had, as a versioned delete does: an unversioned one would leave a tombstone
    # newer than the visitor, which a repair must not and does not overwrite.)
    for lost in (strings[0], object_ids[5]):
        document_id = documents.document_id(lost["_id"])
        await es.delete(index=index, id=document_id, version=VISITORS.version_of(lost), version_type="external_gte")
    ghost = factories.visitor(_id="ghost")
    await es.index(index=index, id="ghost", document=visitors_collection.to_index_document(ghost))
    # A version ahead of this host's clock (a Rocket.Chat server's clock ahead of ours): still deleted.
    ahead = factories.visitor(_id="ahead", _updatedAt=dt.datetime(2100, 1, 1))
    await es.index(
        index=index,
        id="ahead",
        document=visitors_collection.to_index_document(ahead),
        version=VISITORS.version_of(ahead),
        version_type="external",
    )
    await es.index(index=index, id="no-id-field", document={shared.FIELD_CONTENT_HASH: "x"})
    stale = {**strings[1], "name": "Before the last write"}
    await es.index(
        index=index,
        id=ids[1],
        document=visitors_collection.to_index_document(stale),
        version=VISITORS.version_of(stale),
        version_type="external_gte",
    )
    # MongoDB side: an update, a soft removal and hard deletes the index never heard of.
    await visitors.update_one({"_id": ids[2]}, {"$set": {"name": "Renamed", "_updatedAt": later(strings[2])}})
    await visitors.update_one({"_id": ids[3]}, {"$set": {"disabled": True, "_updatedAt": later(strings[3])}})
    await visitors.delete_one({"_id": ids[4]})
    await visitors.delete_one({"_id": object_ids[6]["_id"]})
    await es.indices.refresh(index=index)

    expected = {
        "missing": {ids[0], ids[45]},
        "extra": {"ghost", "ahead", "no-id-field", ids[3], ids[4], ids[46]},
        "different": {ids[1], ids[2]},
    }
    report = await check(database, es, alias)
    assert buckets(report.found) == expected
    assert report.exit_code == 1
    assert report.found.documents == 48
    assert report.found.entries == 51
    assert report.found.checked == 53  # 48 visitors, and "ghost", "ahead", "no-id-field", ids[4], ids[46] of the index

    repaired = await check(database, es, alias, repair=True)
    assert buckets(repaired.found) == expected
    assert repaired.repaired is not None
    assert (repaired.repaired.written, repaired.repaired.rejected) == (10, 0)
    assert repaired.recheck is not None
    assert buckets(repaired.recheck) == no_drift()
    assert repaired.exit_code == 0

    for gone in ("ghost", "ahead", "no-id-field", ids[3], ids[4], ids[46]):
        assert await stored(es, index, gone) is None, gone
    for visitor_id in (strings[0]["_id"], strings[1]["_id"], strings[2]["_id"], object_ids[5]["_id"]):
        visitor = await visitors.find_one({"_id": visitor_id})
        assert visitor is not None
        assert await stored(es, index, documents.document_id(visitor_id)) == as_stored(visitor)

    after = await check(database, es, alias)
    assert buckets(after.found) == no_drift()
    assert after.exit_code == 0


async def test_mixed_id_types_merge_in_printed_order(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    """Every BSON type of `_id` at once: server-sorted passes and the spilled external sort agree with the index."""
    odd_ids: list[Any] = [5, 40, 300, -7, 2.5, dt.datetime(2024, 1, 2, 3, 4, 5), {"k": 1}, True, ObjectId().binary]
    string_ids = ["Z", "a", "aa", "é", "\uffff", "\U0001f600", "0123456789abcdef01234567", "4 0"]
    object_ids = [ObjectId(f"{n:024x}") for n in (1, 0xAB, 0xFF00000000)] + [ObjectId() for _ in range(4)]
    visitors = [factories.visitor(_id=visitor_id) for visitor_id in odd_ids + string_ids + object_ids]
    index = await seed_and_index(database, es, alias, visitors)

    for batch_size, spill_size in ((3, 2), (7, 4), (500, scans.SPILL_SIZE)):
        clean = await check(database, es, alias, batch_size=batch_size, spill_size=spill_size)
        assert buckets(clean.found) == no_drift(), (batch_size, spill_size)
        assert clean.found.checked == len(visitors)

    for lost in (visitors[1], visitors[len(odd_ids) + 5], visitors[len(odd_ids) + len(string_ids) + 1]):
        document_id = documents.document_id(lost["_id"])
        await es.delete(index=index, id=document_id, version=VISITORS.version_of(lost), version_type="external_gte")
    await es.indices.refresh(index=index)
    await database[VISITORS.collection].delete_many({"_id": {"$in": [300, "aa", object_ids[0]]}})
    await database[VISITORS.collection].update_one({"_id": {"k": 1}}, {"$set": {"name": "changed"}})

    report = await check(database, es, alias, batch_size=3, spill_size=2)
    assert buckets(report.found) == {
        "missing": {"40", "\U0001f600", str(object_ids[1])},
        "extra": {"300", "aa", str(object_ids[0])},
        "different": {'{"k":1}'},
    }
    repaired = await check(database, es, alias, repair=True, batch_size=3, spill_size=2)
    assert repaired.exit_code == 0
    assert (await check(database, es, alias, batch_size=3, spill_size=2)).exit_code == 0


async def test_repair_never_overwrites_a_newer_document(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor = factories.visitor(name="Older")
    index = await seed_and_index(database, es, alias, [visitor])
    # The worker wrote a newer state of this visitor that verify's read of MongoDB predates.
    newer = {**visitor, "name": "Newer", "_updatedAt": later(visitor)}
    await es.index(
        index=index,
        id=visitor["_id"],
        document=visitors_collection.to_index_document(newer),
        version=VISITORS.version_of(newer),
        version_type="external_gte",
        refresh=True,
    )
    flush = repairs.Repairs.flush

    async def after_the_worker(self: repairs.Repairs) -> None:
        # By the time the repair writes, MongoDB holds that newer state (the worker read it from there).
        await database[VISITORS.collection].replace_one({"_id": visitor["_id"]}, newer)
        await flush(self)

    monkeypatch.setattr(repairs.Repairs, "flush", after_the_worker)
    report = await check(database, es, alias, repair=True)
    assert buckets(report.found) == {**no_drift(), "different": {visitor["_id"]}}
    assert report.recheck is not None and buckets(report.recheck) == no_drift()
    assert await stored(es, index, visitor["_id"]) == as_stored(newer)


def settings_for(services: Services, mongo_url: str, alias: str) -> Settings:
    return Settings(
        mongo_url=mongo_url, es_url=services.es_url, es_index=alias, batch_size=7, log_level="INFO", log_format="text"
    )


async def test_command_without_an_index_reports_every_visitor_missing_then_creates_it(
    services: Services,
    database: AsyncDatabase[dict[str, Any]],
    database_name: str,
    es: AsyncElasticsearch,
    alias: str,
) -> None:
    visitors = [
        factories.visitor(
            visitorEmails=[{"address": f"private{n}@example.com"}],
            phone=[{"phoneNumber": f"+5511{n:09d}"}],
            livechatData={"plan": f"secret-plan-{n}"},
        )
        for n in range(15)
    ]
    visitors.append(factories.visitor(disabled=True))
    await database[VISITORS.collection].insert_many(visitors)
    settings = settings_for(services, with_database(services.mongo_url, database_name), alias)

    code, printed = await verify_command(settings, VISITORS.with_alias(alias), False)
    assert code == 1
    lines = printed.splitlines()
    assert lines[0].startswith(
        f"verify (no index behind alias {alias}): checked 16 ids "
        "(16 documents in MongoDB: 0 indexed, 1 excluded by rule; 0 "
    )
    assert "15 missing, 0 extra, 0 different; 0 dead-lettered" in lines[0]
    assert lines[1].startswith("  missing: ")
    assert len(lines[1].removeprefix("  missing: ").split()) == EXAMPLES + 1  # ten ids and "..."
    assert "@" not in printed and "+5511" not in printed and "secret-plan" not in printed
    assert await indices.current_index(es, alias) is None

    code, printed = await verify_command(settings, VISITORS.with_alias(alias), True)
    assert code == 0
    assert "re-check: clean" in printed
    index = await indices.current_index(es, alias)
    assert index is not None
    assert (await es.count(index=index))["count"] == 15

    code, printed = await verify_command(settings, VISITORS.with_alias(alias), False)
    assert code == 0
    assert "0 missing, 0 extra, 0 different" in printed
    assert len(printed.splitlines()) == 1


async def test_clean_index_exits_zero(
    services: Services,
    database: AsyncDatabase[dict[str, Any]],
    database_name: str,
    es: AsyncElasticsearch,
    alias: str,
) -> None:
    await seed_and_index(database, es, alias, [factories.visitor() for _ in range(20)])
    settings = settings_for(services, with_database(services.mongo_url, database_name), alias)
    for repair in (False, True):
        code, printed = await verify_command(settings, VISITORS.with_alias(alias), repair)
        assert code == 0
        assert "checked 20 ids" in printed
        assert "repair" not in printed


async def test_command_that_cannot_reach_elasticsearch_exits_two(
    services: Services, database: AsyncDatabase[dict[str, Any]], database_name: str, alias: str
) -> None:
    await database[VISITORS.collection].insert_one(factories.visitor())
    settings = settings_for(services, with_database(services.mongo_url, database_name), alias)
    unreachable = dataclasses.replace(settings, es_url="http://127.0.0.1:1")
    code, printed = await verify_command(unreachable, VISITORS.with_alias(alias), False)
    assert code == 2
    assert printed.startswith(f"verify {alias}: not done: ConnectionError")
