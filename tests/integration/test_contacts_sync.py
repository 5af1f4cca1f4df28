"""Rocket.Chat 7 contacts through the whole machinery, seen through the service: backfill, live changes, disabling,
re-enabling, hard deletes, a reindex that keeps the index settings, `verify` clean; in both sync modes. And the
indexer process syncing both collections at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp.test_utils import TestClient
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import livechat_contacts
from indexer import backfill, indices, reindex
from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from indexer.verify import command as verify
from service.app import CONTACTS_GET_PATH, CONTACTS_SEARCH_PATH
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import service_settings, serving, start_client
from tests.integration.indexer_helpers import eventually, quiet_progress, running, worker_settings
from tests.processes import process_environment

AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def search(api: TestClient[Any, Any], **query: str) -> dict[str, Any]:
    response = await api.get(f"{CONTACTS_SEARCH_PATH}?{urlencode(query)}", headers=AGENT)
    assert response.status == 200
    return dict(orjson.loads(await response.read()))


async def found(api: TestClient[Any, Any], text: str) -> list[str]:
    return [contact["_id"] for contact in (await search(api, searchText=text, count="0"))["contacts"]]


@pytest.mark.usefixtures("sync_mode")
async def test_contacts_are_synced_live_and_verify_clean(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    spec = LIVECHAT_CONTACTS.with_alias(alias)
    contacts = database[spec.collection]
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await contacts.insert_many(
        [
            factories.livechat_contact(f"Backfilled {number:04d}", emails=[{"address": f"b{number}@x.io"}])
            for number in range(300)
        ]
    )
    settings = worker_settings(services, mongo_url, alias, reconcile_interval=1.0)
    api = await start_client(service_settings(services, mongo_url, "unused", es_contacts_index=alias))
    try:
        async with running(settings, database, es, spec=spec):

            async def backfilled() -> bool:
                return await es.indices.exists_alias(name=alias) and (await search(api))["total"] == 300

            await eventually(backfilled, within=120)

            zelda = factories.livechat_contact("Zelda Live", _updatedAt=now(), createdAt=now())
            await contacts.insert_one(zelda)
            await eventually(lambda: _equals(found(api, "zelda l"), [zelda["_id"]]))

            await contacts.update_one({"_id": zelda["_id"]}, {"$set": {"name": "Link", "_updatedAt": now()}})
            await eventually(lambda: _equals(found(api, "link"), [zelda["_id"]]))
            assert await found(api, "zelda") == []

            await contacts.update_one({"_id": zelda["_id"]}, {"$set": {"enabled": False, "_updatedAt": now()}})
            await eventually(lambda: _equals(found(api, "link"), []))
            response = await api.get(f"{CONTACTS_GET_PATH}?contactId={zelda['_id']}", headers=AGENT)
            assert response.status == 404

            await contacts.update_one({"_id": zelda["_id"]}, {"$set": {"enabled": True, "_updatedAt": now()}})
            await eventually(lambda: _equals(found(api, "link"), [zelda["_id"]]))

            gone = await contacts.find_one({"name": "Backfilled 0007"})
            assert gone is not None
            await contacts.delete_one({"_id": gone["_id"]})  # hard: the stream's delete, or reconciliation
            await eventually(lambda: _equals(found(api, "backfilled 0007"), []), within=60)

            rebuilt = await reindex.reindex(settings, spec, database, es, stop=asyncio.Event(), progress=quiet_progress)
            assert rebuilt.refused == 0
            index_settings = await es.indices.get_settings(index=rebuilt.index)
            window = index_settings.body[rebuilt.index]["settings"]["index"]["max_result_window"]
            assert int(window) == livechat_contacts.MAX_RESULT_WINDOW
            assert await indices.current_index(es, alias) == rebuilt.index
            assert (await search(api))["total"] == 300
            assert (await search(api, offset="299", count="5"))["contacts"][0]["name"] == "Link"
    finally:
        await api.close()

    report = await verify.verify(database, es, spec, batch_size=500)
    assert report.exit_code == verify.CLEAN, verify.describe(report)
    assert (report.found.documents, report.found.indexed) == (300, 300)


async def _equals(actual: Any, expected: list[str]) -> bool:
    return bool(await actual == expected)


async def test_the_indexer_process_syncs_both_collections(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    await database[VISITORS.collection].insert_many([factories.visitor() for _ in range(20)])
    await database[LIVECHAT_CONTACTS.collection].insert_many(
        [factories.livechat_contact(f"c{number}") for number in range(30)]
        + [factories.livechat_contact("off", enabled=False)]
    )
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        ES_CONTACTS_INDEX=f"{alias}-lc",
        METRICS_PORT="0",
    )

    async def indexer(*arguments: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "indexer", *arguments, env=environment, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=300)
        return process.returncode or 0, stdout.decode()

    code, printed = await indexer("--once")
    assert code == 0, printed
    assert f"{alias}: 20 indexed" in printed and f"{alias}-lc: 30 indexed" in printed
    code, printed = await indexer("verify")
    assert code == verify.CLEAN, printed
    assert printed.count("0 dead-lettered") == 2, printed
    code, printed = await indexer("verify", "--collection", "livechat_contacts")
    assert code == verify.CLEAN and printed.count("dead-lettered") == 1, printed


async def test_every_match_is_read_in_pages_past_the_first(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    """count=0 (every match) and a negative count larger than a page read on after the first 1,000 hits."""
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await database[LIVECHAT_CONTACTS.collection].insert_many(
        [factories.livechat_contact(f"Paged {number:05d}") for number in range(2300)]
    )
    summary = await backfill.index_once(database, es, LIVECHAT_CONTACTS.with_alias(alias), 500)
    assert summary.indexed == 2300
    async with serving(service_settings(services, mongo_url, "unused", es_contacts_index=alias)) as api:
        every = await search(api, count="0")
        names = [contact["name"] for contact in every["contacts"]]
        assert (every["total"], every["count"], names) == (2300, 0, [f"Paged {number:05d}" for number in range(2300)])
        assert len((await search(api, count="-1500"))["contacts"]) == 1500
        rest = await search(api, count="0", offset="1000")
        assert [contact["name"] for contact in rest["contacts"]] == names[1000:]
