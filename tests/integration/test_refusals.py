"""A visitor the real Elasticsearch refuses, sent through every entry point (worker, `--once`, `verify --repair`,
`reindex`): it ends as a dead letter with Elasticsearch's reason, is counted as failed and never as indexed, shows in
the command's summary and exit status, and `verify` reports it apart from drift. Once the visitor changes, it is
retried and its dead letter goes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import backfill, reindex
from indexer.collections import VISITORS
from indexer.dead_letters import DEAD_LETTERS_COLLECTION, DeadLetters
from indexer.metrics import Metrics
from indexer.settings import Settings
from indexer.verify import command as verify
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import (
    eventually,
    index_side,
    indexed,
    quiet_progress,
    running,
    verify_command,
    worker_settings,
)
from tests.processes import process_environment

pytestmark = pytest.mark.usefixtures("services")

# Lucene refuses a keyword term over 32,766 bytes: the mapping cannot take this address, whatever the server.
IMMENSE_EMAIL = "x" * 40_000 + "@example.com"


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def refusable(**fields: Any) -> dict[str, Any]:
    return factories.visitor(visitorEmails=[{"address": IMMENSE_EMAIL}], **fields)


async def seed_with_one_refusable(database: AsyncDatabase[dict[str, Any]], others: int) -> dict[str, Any]:
    """`others` visitors and one the index refuses, all last written long ago; returns the refusable one."""
    refused = refusable(_updatedAt=factories.moment(3))
    rest = [factories.visitor(_updatedAt=factories.moment(3)) for _ in range(others)]
    await database[VISITORS.collection].insert_many([*rest, refused])
    return refused


async def dead_letters(database: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    return [letter async for letter in database[DEAD_LETTERS_COLLECTION].find({})]


def settings_for(services: Services, mongo_url: str, alias: str) -> Settings:
    return Settings(mongo_url=mongo_url, es_url=services.es_url, es_index=alias, batch_size=7, log_format="text")


async def run_verify(settings: Settings, alias: str, repair: bool = False) -> tuple[int, str]:
    return await verify_command(settings, VISITORS.with_alias(alias), repair)


async def test_once_dead_letters_a_refused_visitor_says_so_and_exits_1(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    refused = refusable()
    await database[VISITORS.collection].insert_many([factories.visitor() for _ in range(20)] + [refused])
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        COLLECTIONS="visitors",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "indexer",
        "--once",
        "--no-progress",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 1, stderr.decode()[-2000:]
    assert f"{alias}: 20 indexed, 0 removed, 1 refused (dead-lettered)" in stdout.decode()
    assert IMMENSE_EMAIL not in stderr.decode()  # personal data stays out of the logs
    letters = await dead_letters(database)
    assert [(letter["document_id"], letter["alias"]) for letter in letters] == [(refused["_id"], alias)]
    assert letters[0]["reason"]["type"] == "document_parsing_exception"
    assert letters[0]["version"] == VISITORS.version_of(refused)
    assert len(await index_side(es, alias)) == 20

    code, printed = await run_verify(settings_for(services, mongo_url, alias), alias)
    assert code == verify.DEAD_LETTERED, printed
    assert "0 missing, 0 extra, 0 different; 1 dead-lettered" in printed
    assert "21 documents in MongoDB: 20 indexed, 0 excluded by rule" in printed
    assert f"  dead_lettered: {refused['_id']}" in printed


async def test_the_one_shot_pass_counts_a_refusal_as_failed_never_as_indexed(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    await database[VISITORS.collection].insert_many([refusable(), factories.visitor(disabled=True)])
    summary = await backfill.index_once(database, es, VISITORS.with_alias(alias), 500)
    assert summary == backfill.Summary(indexed=0, deleted=1, refused=1)


async def test_verify_repair_dead_letters_what_it_cannot_write_and_retries_it_once_the_visitor_changed(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    target = factories.visitor(_updatedAt=factories.moment(3))
    await visitors.insert_many([factories.visitor(_updatedAt=factories.moment(3)) for _ in range(10)] + [target])
    assert (await backfill.index_once(database, es, VISITORS.with_alias(alias), 500)).refused == 0
    settings = settings_for(services, mongo_url, alias)
    # Changed while no worker ran, into something the index cannot take.
    await visitors.update_one(
        {"_id": target["_id"]}, {"$set": {"visitorEmails": [{"address": IMMENSE_EMAIL}], "_updatedAt": now()}}
    )
    code, printed = await run_verify(settings, alias)
    assert code == verify.DRIFT and "1 different; 0 dead-lettered" in printed, printed

    code, printed = await run_verify(settings, alias, repair=True)
    assert code == verify.DRIFT, printed  # the repair could not be written
    assert "repair: 0 written, 1 refused (dead-lettered)" in printed
    assert "re-check: clean: 0 missing, 0 extra, 0 different; 1 dead-lettered" in printed
    assert [letter["document_id"] for letter in await dead_letters(database)] == [target["_id"]]

    code, printed = await run_verify(settings, alias)
    assert code == verify.DEAD_LETTERED, printed  # known and kept apart from drift

    # Fixed in Rocket.Chat: the dead letter is stale, the drift shows again, and a repair writes it.
    await visitors.update_one(
        {"_id": target["_id"]}, {"$set": {"visitorEmails": [{"address": "fixed@example.com"}], "_updatedAt": now()}}
    )
    code, printed = await run_verify(settings, alias)
    assert code == verify.DRIFT and "1 different; 0 dead-lettered" in printed, printed
    code, printed = await run_verify(settings, alias, repair=True)
    assert code == verify.CLEAN, printed
    assert await dead_letters(database) == []
    stored = await indexed(es, alias, target["_id"])
    assert stored is not None and stored["emails"] == ["fixed@example.com"]


async def test_the_worker_retries_a_dead_lettered_visitor_once_it_changed(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    visitors = database[VISITORS.collection]
    refused = await seed_with_one_refusable(database, 5)
    async with running(worker_settings(services, mongo_url, alias), database, es) as worker:
        await eventually(lambda: _dead_lettered(database, refused["_id"]))
        assert worker.metrics.failed == 1
        assert worker.metrics.indexed == 5
        await eventually(lambda: _gauge_is(worker.metrics, 1))  # the gauge of what waits
        await visitors.update_one(
            {"_id": refused["_id"]}, {"$set": {"visitorEmails": [{"address": "ok@example.com"}], "_updatedAt": now()}}
        )
        await eventually(lambda: _is_indexed(es, alias, refused["_id"]))
        await eventually(lambda: _no_dead_letters(database))
        await eventually(lambda: _gauge_is(worker.metrics, 0))
    code, printed = await run_verify(settings_for(services, mongo_url, alias), alias)
    assert code == verify.CLEAN, printed


async def _gauge_is(metrics: Metrics, waiting: int) -> bool:
    return metrics.dead_letters == waiting


async def test_a_new_leader_counts_the_dead_letters_already_waiting(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    """Dead letters left by an earlier leader (or by `reindex`) show in the gauge, those of other aliases do not."""
    await database[VISITORS.collection].insert_many([factories.visitor() for _ in range(3)])
    letters = DeadLetters(database, alias)
    for document_id in ("gone-1", "gone-2"):
        await letters.add(document_id, 1, f"{alias}-v1", {"type": "mapper_parsing_exception"})
    await DeadLetters(database, f"{alias}-other").add("elsewhere", 1, "x", {"type": "x"})
    async with running(worker_settings(services, mongo_url, alias), database, es) as worker:
        await eventually(lambda: _gauge_is(worker.metrics, 2))


async def test_reindex_dead_letters_what_the_new_index_refuses_and_says_so(
    services: Services, mongo_url: str, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str
) -> None:
    refused = await seed_with_one_refusable(database, 30)
    settings = worker_settings(services, mongo_url, alias)
    async with running(settings, database, es):
        await eventually(lambda: _dead_lettered(database, refused["_id"]))
        rebuilt = await reindex.reindex(
            settings, VISITORS.with_alias(alias), database, es, stop=asyncio.Event(), progress=quiet_progress
        )
    assert rebuilt.refused == 1
    letters = await dead_letters(database)
    assert [(letter["document_id"], letter["alias"]) for letter in letters] == [(refused["_id"], alias)]
    assert letters[0]["target"] == f"{alias}-next"  # refused by the index being built
    assert len(await index_side(es, alias)) == 30
    code, printed = await run_verify(settings_for(services, mongo_url, alias), alias)
    assert code == verify.DEAD_LETTERED, printed


async def _dead_lettered(database: AsyncDatabase[dict[str, Any]], document_id: str) -> bool:
    return any(letter["document_id"] == document_id for letter in await dead_letters(database))


async def _no_dead_letters(database: AsyncDatabase[dict[str, Any]]) -> bool:
    return await dead_letters(database) == []


async def _is_indexed(es: AsyncElasticsearch, alias: str, document_id: str) -> bool:
    return await indexed(es, alias, document_id) is not None
