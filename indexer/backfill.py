"""The backfill: every document of a spec in `_id` order, read through one cursor, written through the writer.

The worker's backfill records where the change sync will start before it reads anything, so that nothing written
during it is missed, and resumes after the last acknowledged `_id`. `reindex` and `--once` read the same records.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import changes, indices, source
from indexer.checkpoint import Position
from indexer.clock import now_millis, utcnow
from indexer.metrics import Metrics
from indexer.pipeline import ChangeFeed, pump, read_ahead
from indexer.specs import Spec
from indexer.sync import Sync
from indexer.writer import Writer

log = logging.getLogger(__name__)


async def records(database: AsyncDatabase[dict[str, Any]], spec: Spec, after: Any, batch_size: int) -> ChangeFeed:
    """An upsert of every document after `after` (None: all), each carrying its `_id` as the position."""
    async for documents in read_ahead(source.batches_by_id(database, spec, after, batch_size), depth=2):
        for document in documents:
            yield changes.upsert(spec, document, Position(backfill_after=document["_id"]))


async def backfill(sync: Sync, stream_mode: bool, resume_after: Any) -> bool:
    """Index every document from `resume_after` (None: a fresh pass); True when the pass completed."""
    spec, metrics = sync.spec, sync.metrics
    if resume_after is None:
        start: dict[str, Any] = {"backfill_done": False, "backfill_after": None, "backfill_started_at": utcnow()}
        if stream_mode:
            start["resume_token"] = await source.current_resume_token(sync.database, spec)
        else:
            start["poll_updated_at"] = start["poll_trash_at"] = now_millis()
        await sync.save(**start)
        log.info("backfill of %s started", spec.alias)
    else:
        log.info("backfill of %s resumed after %s", spec.alias, resume_after)
    metrics.phase = "backfill"
    progress = sync.progress(f"backfill of {spec.alias}", await source.estimated_count(sync.database, spec))

    async def acknowledged(position: Position, count: int) -> None:
        progress.advance(count)
        metrics.backlog = max(0, progress.total - progress.done)

    await sync.pump(records(sync.database, spec, resume_after, sync.settings.batch_size), acknowledged)
    if sync.stop.is_set():
        return False
    await sync.save(backfill_done=True, backfill_finished_at=utcnow(), backfill_reconcile=False)
    progress.finish()
    metrics.backlog = 0
    log.info("backfill of %s done: %d documents", spec.alias, progress.done)
    return True


@dataclass(frozen=True)
class Summary:
    """What a one-shot pass did: documents indexed, removed (excluded by the spec), refused (dead-lettered)."""

    indexed: int
    deleted: int
    refused: int

    def line(self, alias: str) -> str:
        return f"{alias}: {self.indexed} indexed, {self.deleted} removed, {self.refused} refused (dead-lettered)"


async def index_once(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, spec: Spec, batch_size: int, queue_depth: int = 4
) -> Summary:
    """`--once`: every document written once through the writer, then the index refreshed."""
    index, _ = await indices.ensure_alias(es, spec)
    metrics, stop = Metrics(), asyncio.Event()
    writer = Writer(es, database, spec, metrics, stop)

    async def acknowledged(position: Position, count: int) -> None:
        return None

    await pump(
        records(database, spec, None, batch_size),
        writer.write,
        acknowledged,
        batch_size=batch_size,
        depth=queue_depth,
        stop=stop,
    )
    await es.indices.refresh(index=index)
    summary = Summary(metrics.indexed, metrics.deleted, metrics.failed)
    log.info("one-shot pass: %s", summary.line(index))
    return summary
