"""A restore converges: after MongoDB went back to an earlier point, `python -m indexer verify --repair` brings the
index back to MongoDB's state, although the index holds newer versions (or remembers newer deletes) than MongoDB."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import backfill, clock, verify
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection
from tests import factories
from tests.conftest import Services
from tests.integration.test_verify import as_stored, stored

SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


async def lookup(api: TestClient[Any, Any], email: str) -> Any:
    response = await api.get(SEARCH, params={"email": email}, headers=AGENT)
    assert response.status == 200
    return (await response.json())["contact"]


async def repair(database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str) -> tuple[int, str]:
    """What `python -m indexer verify --repair` does for the visitors: its exit code and what it prints."""
    code, lines = await verify.command(database, es, VISITORS.with_alias(alias), batch_size=500, repair=True)
    return code, "\n".join(lines)


async def test_a_restored_older_version_is_searchable_again_after_verify_repair(
    services: Services,
    database: AsyncDatabase[dict[str, Any]],
    database_name: str,
    es: AsyncElasticsearch,
    alias: str,
    api: TestClient[Any, Any],
) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    visitors = database[VISITORS.collection]
    spec = VISITORS.with_alias(alias)
    version_a = factories.visitor(_id="v1", name="A", visitorEmails=[{"address": "a@example.com"}])
    version_b = {**version_a, "name": "B", "visitorEmails": [{"address": "b@example.com"}]}
    version_b["_updatedAt"] = version_a["_updatedAt"] + dt.timedelta(days=1)
    # Besides: one disabled at the backup and enabled since, one created after the backup.
    hidden_a = factories.visitor(_id="v2", disabled=True, visitorEmails=[{"address": "hidden@example.com"}])
    hidden_b = {**hidden_a, "disabled": False, "_updatedAt": hidden_a["_updatedAt"] + dt.timedelta(days=1)}
    await visitors.insert_many([version_b, hidden_b, factories.visitor(_id="v3")])
    await backfill.index_once(database, es, spec, 500)
    assert (await lookup(api, "b@example.com"))["name"] == "B"

    # MongoDB goes back to the backup: A, the disabled one, and no v3.
    await visitors.replace_one({"_id": "v1"}, version_a)
    await visitors.replace_one({"_id": "v2"}, hidden_a)
    await visitors.delete_one({"_id": "v3"})
    before = await verify.verify(database, es, spec, batch_size=100)
    assert before.found.drift == 3

    code, printed = await repair(database, es, alias)
    assert code == 0, printed
    assert "re-check: clean" in printed
    assert "of which 2 over a newer version in the index" in printed
    assert (await lookup(api, "a@example.com"))["name"] == "A"
    assert await lookup(api, "b@example.com") is None
    assert await lookup(api, "hidden@example.com") is None
    assert (await verify.verify(database, es, spec, batch_size=100)).found.drift == 0

    # Rocket.Chat goes on from there: the next change of v1 (at the current time) still beats the repair's write.
    changed = {**version_a, "name": "C", "_updatedAt": factories.now()}
    await visitors.replace_one({"_id": "v1"}, changed)
    summary = await backfill.index_once(database, es, spec, 500)
    assert summary.refused == 0
    assert (await lookup(api, "a@example.com"))["name"] == "C"


async def test_a_document_behind_a_newer_delete_tombstone_is_written_again(
    services: Services, database: AsyncDatabase[dict[str, Any]], database_name: str, es: AsyncElasticsearch, alias: str
) -> None:
    visitor = factories.visitor(_id="v1", name="restored")
    await database[VISITORS.collection].insert_one(factories.visitor(_id="v0"))
    await backfill.index_once(database, es, VISITORS.with_alias(alias), 500)
    index = (await es.indices.get_alias(name=alias)).body.popitem()[0]
    # Deleted at a newer version than MongoDB's (as the worker deletes a document gone from MongoDB: at the current
    # time), then MongoDB restored with it: Elasticsearch keeps the delete's version for index.gc_deletes (60 s).
    version = VISITORS.version_of(visitor)
    document = visitors_collection.to_index_document(visitor)
    await es.index(index=index, id="v1", document=document, version=version, version_type="external_gte")
    await es.delete(index=index, id="v1", version=clock.now_millis(), version_type="external_gte", refresh=True)
    await database[VISITORS.collection].insert_one(visitor)

    code, printed = await repair(database, es, alias)
    assert code == 0, printed
    assert await stored(es, index, "v1") == as_stored(visitor)
