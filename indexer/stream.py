"""Following MongoDB's change stream (a replica set) from the stored resume token; a lost history or an
invalidated stream asks the worker for a re-backfill (never "start from now").
"""

from __future__ import annotations

import logging
import time

from indexer import changes, source
from indexer.checkpoint import Position
from indexer.clock import utcnow
from indexer.pipeline import ChangeFeed, SaveBehind
from indexer.reconcile import Reconciler
from indexer.sync import Sync

log = logging.getLogger(__name__)


class RebackfillNeeded(Exception):
    """The change history cannot be followed from the checkpoint: rebuild from MongoDB, then reconcile."""


async def follow(sync: Sync, reconciler: Reconciler, reconcile_now: bool) -> None:
    """Write every change event until stopped. Raises RebackfillNeeded."""
    spec, metrics = sync.spec, sync.metrics
    metrics.phase = "sync"
    if reconcile_now:
        reconciler.start()
    max_await = max(1, int(sync.settings.poll_interval * 1000))

    async def feed() -> ChangeFeed:
        try:
            async for event in source.change_events(sync.database, spec, sync.checkpoint.resume_token, max_await):
                sync.lease.check()
                if event is None:
                    metrics.synced_through = time.time()
                    metrics.beat()
                    reconciler.raise_failure()
                    yield None
                    continue
                record = changes.from_change_event(spec, event)
                if isinstance(record, changes.StreamInvalidated):
                    raise RebackfillNeeded(record.reason)
                if record is None:
                    continue
                metrics.backlog += 1
                yield record
        except source.HistoryLost as error:
            raise RebackfillNeeded(str(error)) from error

    async def acknowledged(position: Position, count: int) -> None:
        metrics.backlog = max(0, metrics.backlog - count)

    behind = sync.save_behind()
    await sync.pump(_saving_when_idle(sync, feed(), behind), acknowledged, behind)


async def _saving_when_idle(sync: Sync, feed: ChangeFeed, behind: SaveBehind) -> ChangeFeed:
    """Pass the stream through; while it is idle, save the checkpoint now and then: the position held back,
    `synced_at` for a reindex waiting on the worker, and a look at the reindex request itself."""
    last = 0.0
    async for record in feed:
        if record is None and time.monotonic() - last >= 1.0:
            last = time.monotonic()
            await behind.flush()
            await sync.save(synced_at=utcnow())
        yield record
