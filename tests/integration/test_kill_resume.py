"""`kill -9` of the real worker process during its backfill and again while it follows changes, in both sync modes;
each successor resumes from the stored checkpoint (the backfill's last `_id`, the poll cursors or the resume token)
and `verify` finds no drift. The 100,000-visitor version of the backfill kill is a slow test (test_indexer_faults).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from indexer.verify import command as verify
from tests import factories
from tests.conftest import Services
from tests.integration.indexer_helpers import checkpoint_of, eventually, in_sync
from tests.processes import process_environment

pytestmark = pytest.mark.usefixtures("services")


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def start(environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environment
    )


async def kill_9(process: asyncio.subprocess.Process) -> None:
    assert process.returncode is None, f"the worker exited with {process.returncode} before it was killed"
    process.send_signal(signal.SIGKILL)
    await process.wait()


async def test_kill_9_during_backfill_and_during_sync_then_resume_leaves_no_drift(
    services: Services,
    mongo_url: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    alias: str,
    sync_mode: str,
) -> None:
    visitors = database[VISITORS.collection]
    seeded = [factories.visitor(_updatedAt=factories.moment(3)) for _ in range(4000)]
    await visitors.insert_many(seeded)
    # Rocket.Chat 7's contacts are synced by a second worker in the same process, killed with it.
    contacts = database[LIVECHAT_CONTACTS.collection]
    seeded_contacts = [factories.livechat_contact(f"c{number}") for number in range(1500)]
    await contacts.insert_many(seeded_contacts)
    contacts_spec = LIVECHAT_CONTACTS.with_alias(f"{alias}-lc")
    environment = process_environment(
        mongo_url,
        services.es_url,
        alias,
        ES_CONTACTS_INDEX=contacts_spec.alias,
        SYNC_MODE=sync_mode,
        BATCH_SIZE="100",
        CHECKPOINT_INTERVAL="0.2",
        POLL_INTERVAL="0.2",
        LEASE_TTL="2",
        METRICS_PORT="0",
        LOG_LEVEL="WARNING",
    )

    async def backfill_moved() -> bool:
        return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("after") is not None

    async def backfill_done() -> bool:
        return ((await checkpoint_of(database, alias)).get("backfill") or {}).get("done") is True

    process = await start(environment)
    await eventually(backfill_moved, within=120, interval=0.05)
    await kill_9(process)
    assert not await backfill_done(), "the backfill finished before the kill: seed more visitors"
    killed_at = (await checkpoint_of(database, alias))["backfill"]["after"]

    process = await start(environment)
    try:
        await eventually(backfill_done, within=120, interval=0.2)
        finished_at = (await checkpoint_of(database, alias))["backfill"]["finished_at"]
        assert (await checkpoint_of(database, alias))["backfill"]["after"] > killed_at

        # Changes while it follows, and a kill in the middle of them.
        written = 0

        async def write_steadily(until: asyncio.Event) -> None:
            nonlocal written
            while not until.is_set():
                target = seeded[written % len(seeded)]
                await visitors.insert_one(factories.visitor(_updatedAt=now()))
                await visitors.update_one(
                    {"_id": target["_id"]}, {"$set": {"name": f"n{written}", "_updatedAt": now()}}
                )
                if written % 10 == 5:
                    await visitors.delete_one({"_id": seeded[-1 - written]["_id"]})
                    await contacts.insert_one(factories.livechat_contact(f"new {written}", _updatedAt=now()))
                    await contacts.update_one(
                        {"_id": seeded_contacts[written]["_id"]}, {"$set": {"name": f"n{written}", "_updatedAt": now()}}
                    )
                    await contacts.delete_one({"_id": seeded_contacts[-1 - written]["_id"]})
                written += 1
                await asyncio.sleep(0.02)

        stop_writing = asyncio.Event()
        writer = asyncio.create_task(write_steadily(stop_writing))
        position = "resume_token" if sync_mode == "stream" else "updated_at"
        section = "stream" if sync_mode == "stream" else "poll"
        first = (await checkpoint_of(database, alias))[section][position]

        async def position_moved() -> bool:
            return (await checkpoint_of(database, alias))[section][position] != first

        await eventually(position_moved, within=60, interval=0.1)
        await kill_9(process)
        written_at_kill = written

        async def changed_while_down() -> bool:
            return written >= written_at_kill + 20

        await eventually(changed_while_down, within=60)  # changes made while no worker runs
        stop_writing.set()
        await writer

        process = await start(environment)
        await eventually(lambda: in_sync(database, es, alias), within=120, interval=0.5)

        async def contacts_in_sync() -> bool:
            return (await verify.verify(database, es, contacts_spec, batch_size=500)).found.drift == 0

        await eventually(contacts_in_sync, within=120, interval=0.5)
        saved = await checkpoint_of(database, alias)
        assert saved["backfill"]["finished_at"] == finished_at  # resumed from the stored position: no re-backfill
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 60) == 0
    report = await verify.verify(database, es, VISITORS.with_alias(alias), batch_size=500)
    assert report.found.drift == 0, verify.describe(report)
