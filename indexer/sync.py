"""What the leader's jobs (backfill, polling, change stream) share: the spec and clients, the writer, and the
checkpoint they advance, saved behind the acknowledged writes and fenced by the lease; and a reindex to follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from indexer.checkpoint import Checkpoint, CheckpointStore, Position, ReindexRequests
from indexer.lease import Lease, LeaseLost
from indexer.metrics import Metrics
from indexer.pipeline import ChangeFeed, OnAck, SaveBehind, pump
from indexer.progress import Progress
from indexer.settings import Settings
from indexer.specs import Spec
from indexer.writer import Writer

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int], Progress]


def next_alias(alias: str) -> str:
    """The alias through which a reindex in progress receives the worker's writes."""
    return f"{alias}-next"


class Sync:
    """One leadership's shared state: created when the lease is acquired, dropped when it ends."""

    def __init__(
        self,
        settings: Settings,
        spec: Spec,
        database: AsyncDatabase[dict[str, Any]],
        es: AsyncElasticsearch,
        lease: Lease,
        metrics: Metrics,
        stop: asyncio.Event,
        progress: ProgressFactory,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.database = database
        self.es = es
        self.lease = lease
        self.metrics = metrics
        self.stop = stop
        self.progress = progress
        self.store = CheckpointStore(lease)
        self.requests = ReindexRequests(lease.collection, spec.alias)
        self.writer = Writer(es, database, spec, metrics, stop, may_write=lease.check)
        self.checkpoint = Checkpoint()

    async def load(self) -> Checkpoint:
        self.checkpoint = await self.store.load()
        await self.follow_reindex()
        return self.checkpoint

    async def save(self, position: Position | None = None, **changes: Any) -> None:
        """Advance the checkpoint by `position` and `changes` (Checkpoint fields), save it, look for a reindex."""
        checkpoint = self.checkpoint.advanced(position) if position else self.checkpoint
        self.checkpoint = checkpoint.replace(**changes) if changes else checkpoint
        await self.store.save(self.checkpoint)
        self.metrics.checkpointed()
        await self.follow_reindex()

    async def follow_reindex(self) -> None:
        """Write to the index a reindex builds too, and say so once (see `reindex`)."""
        request = await self.requests.load()
        if request is None:
            self.writer.targets.next_alias = None
            return
        self.writer.targets.next_alias = next_alias(self.spec.alias)
        if request.ack_token != self.lease.token and await self.requests.acknowledge(request.index, self.lease.token):
            log.info("writing to %s too while it is rebuilt", request.index)

    async def pump(self, feed: ChangeFeed, on_ack: OnAck, behind: SaveBehind | None = None) -> int:
        """Write `feed`; each acknowledged position goes to the checkpoint (at most every CHECKPOINT_INTERVAL, and
        once more when the pass ends), then to `on_ack`."""
        saver = behind or self.save_behind()

        async def acknowledged(position: Position, count: int) -> None:
            await saver.offer(position)
            await on_ack(position, count)

        try:
            return await pump(
                feed,
                self.writer.write,
                acknowledged,
                batch_size=self.settings.batch_size,
                depth=self.settings.queue_depth,
                stop=self.stop,
            )
        finally:
            # Whatever was acknowledged is worth keeping, also when the pass ended by an error or a stop. A
            # deposed leader's save is refused by the fencing token; an unreachable MongoDB keeps the older one.
            with contextlib.suppress(PyMongoError, LeaseLost):
                await saver.flush()

    def save_behind(self) -> SaveBehind:
        return SaveBehind(self.save, self.settings.checkpoint_interval)

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
