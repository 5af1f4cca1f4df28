"""Running the real worker in-process against the test services, and comparing both sides afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import shared
from indexer import documents
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection
from indexer.lease import CHECKPOINTS_COLLECTION
from indexer.metrics import Metrics
from indexer.progress import Progress
from indexer.settings import Settings
from indexer.specs import Spec
from indexer.sync import Sync
from indexer.worker import Worker
from tests.conftest import Services


def worker_settings(services: Services, mongo_url: str, alias: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mongo_url": mongo_url,
        "es_url": services.es_url,
        "es_index": alias,
        "batch_size": 100,
        "poll_interval": 0.2,
        "metrics_port": 0,
        "log_format": "text",
        "overlap_window": 2.0,
        "reconcile_interval": 3600.0,
        "lease_ttl": 2.0,
        "reindex_ack_timeout": 60.0,
        "reindex_grace": 0.5,
    }
    values.update(overrides)
    return Settings(**values)


def quiet_progress(label: str, total: int) -> Progress:
    return Progress(label, total, stream=None, interval=3600)


@dataclass
class RunningWorker:
    worker: Worker
    task: asyncio.Task[None]
    stop: asyncio.Event
    writes: list[tuple[float, float]] = field(default_factory=list)

    @property
    def metrics(self) -> Metrics:
        return self.worker.metrics

    async def stop_and_wait(self, within: float = 30) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, within)

    async def die(self) -> None:
        """Vanish like a killed process: no release of the lease, no last checkpoint."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class RecordingWorker(Worker):
    """The real worker, noting when each of its bulk writes began and ended."""

    writes: list[tuple[float, float]]

    def new_sync(self) -> Sync:
        sync = super().new_sync()
        original = sync.writer.write

        async def recorded_write(batch: Any) -> None:
            began = time.monotonic()
            await original(batch)
            self.writes.append((began, time.monotonic()))

        sync.writer.write = recorded_write  # type: ignore[method-assign]
        return sync


def start_worker(
    settings: Settings,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    holder: str = "worker-a",
    spec: Spec | None = None,
) -> RunningWorker:
    stop = asyncio.Event()
    worker = RecordingWorker(
        settings,
        spec or VISITORS.with_alias(settings.es_index),
        database,
        es,
        holder=holder,
        metrics=Metrics(stall_after=30),
        stop=stop,
        progress=quiet_progress,
    )
    worker.writes = []
    task = asyncio.create_task(worker.run())
    return RunningWorker(worker, task, stop, worker.writes)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    holder: str = "worker-a",
    spec: Spec | None = None,
) -> AsyncIterator[RunningWorker]:
    worker = start_worker(settings, database, es, holder, spec)
    try:
        yield worker
    finally:
        if not worker.task.done():
            await worker.stop_and_wait()
        elif not worker.task.cancelled() and worker.task.exception() is not None:
            raise worker.task.exception()  # type: ignore[misc]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {getattr(check, '__name__', check)}")
        await asyncio.sleep(interval)


async def checkpoint_of(database: AsyncDatabase[dict[str, Any]], alias: str) -> dict[str, Any]:
    return await database[CHECKPOINTS_COLLECTION].find_one({"_id": alias}) or {}


async def mongo_side(database: AsyncDatabase[dict[str, Any]]) -> dict[str, str]:
    """Index id → content hash of every searchable visitor in MongoDB."""
    expected: dict[str, str] = {}
    async for visitor in database[VISITORS.collection].find({}):
        if visitors_collection.is_searchable(visitor):
            expected[documents.document_id(visitor["_id"])] = documents.content_hash(documents.to_printable(visitor))
    return expected


async def index_side(es: AsyncElasticsearch, alias: str) -> dict[str, str]:
    """Index id → content hash of every document behind the alias."""
    if not await es.indices.exists_alias(name=alias):
        return {}
    await es.indices.refresh(index=alias)
    found: dict[str, str] = {}
    after: list[Any] | None = None
    while True:
        page = await es.search(
            index=alias,
            sort=[{shared.FIELD_ID: "asc"}],
            size=5000,
            source=[shared.FIELD_CONTENT_HASH],
            search_after=after,
            track_total_hits=False,
        )
        hits = page.body["hits"]["hits"]
        for hit in hits:
            found[hit["_id"]] = hit["_source"][shared.FIELD_CONTENT_HASH]
        if len(hits) < 5000:
            return found
        after = hits[-1]["sort"]


async def in_sync(database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str) -> bool:
    return await mongo_side(database) == await index_side(es, alias)


async def indexed(es: AsyncElasticsearch, alias: str, document_id: str) -> dict[str, Any] | None:
    found = await es.options(ignore_status=404).get(index=alias, id=document_id, realtime=True)
    return found.body["_source"] if found.body.get("found") else None


async def sigterm_worker(
    environment: dict[str, str],
    before: Callable[[], Awaitable[Any]],
    within: float,
    *,
    logged: bytes | None = None,
) -> tuple[int, bytes]:
    """Start `python -m indexer run`, wait until it wrote `logged` to stderr (if given), await `before`, send
    SIGTERM; the exit code and stderr, which must come within `within` s of the signal."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environment, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    seen = b""

    async def log_line_seen(wanted: bytes) -> None:
        nonlocal seen
        while wanted not in seen:
            line = await process.stderr.readline()  # type: ignore[union-attr]
            assert line, f"the worker exited before it logged {wanted!r}: {seen.decode()[-2000:]}"
            seen += line

    try:
        if logged is not None:
            # Bounded only against a worker that never gets there: a busy machine can take long to start Python.
            await asyncio.wait_for(log_line_seen(logged), timeout=max(within, 120))
        await before()
        assert process.returncode is None, "the worker exited before it was told to stop"
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=within)
        stderr = seen + stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr


async def verify_command(settings: Settings, spec: Spec, repair: bool = False) -> tuple[int, str]:
    """`python -m indexer verify [--repair]` for one spec, in process: its exit code and what it prints."""
    from indexer import __main__ as command_line
    from indexer import verify

    async with command_line.clients(settings) as (database, es):
        code, lines = await verify.command(database, es, spec, batch_size=settings.batch_size, repair=repair)
    return code, "".join(line + "\n" for line in lines)
