"""The `run` command: hold the writer lease, backfill when there is no checkpoint, then follow every change
(change stream on a replica set, polling otherwise) until told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from indexer import changes, checkpoint, reconcile, sink, source, transform
from indexer.changes import SeenWindow
from indexer.checkpoint import CheckpointStore, LeaseLost
from indexer.metrics import Metrics
from indexer.pipeline import ChangeFeed, OnAck, SaveBehind, pump, read_ahead
from indexer.progress import Progress
from indexer.settings import Settings
from indexer.writer import IndexMissing, Stopped, Writer

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int], Progress]

POLL = "poll"
STREAM = "stream"


class RebackfillNeeded(Exception):
    """The change history cannot be followed from the checkpoint: rebuild from MongoDB, then reconcile."""


def cancelled() -> bool:
    """Whether the running task was asked to stop, even if a library swallowed the CancelledError."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def now_millis() -> int:
    return int(time.time() * 1000)


class Worker:
    def __init__(
        self,
        settings: Settings,
        database: AsyncDatabase[dict[str, Any]],
        es: AsyncElasticsearch,
        *,
        holder: str,
        metrics: Metrics,
        stop: asyncio.Event,
        progress: ProgressFactory,
    ) -> None:
        self.settings = settings
        self.database = database
        self.es = es
        self.alias = settings.es_index
        self.metrics = metrics
        self.stop = stop
        self.progress = progress
        self.store = CheckpointStore(database, self.alias, holder, settings.lease_ttl)
        self.writer = Writer(es, database, self.alias, metrics, stop, may_write=self.store.is_leader)
        self._reconciling: asyncio.Task[int] | None = None

    # Leadership.

    async def run(self) -> None:
        """Follow or lead until `stop` is set; on the way out the lease is released for the next process."""
        lease_retry = min(1.0, self.settings.lease_ttl / 4)
        while not self.stop.is_set():
            self.metrics.phase, self.metrics.leader = "following", False
            try:
                acquired = await self.store.try_acquire()
            except PyMongoError as error:
                log.warning("cannot reach MongoDB for the lease: %s", type(error).__name__)
                acquired = False
            self.metrics.beat()
            if not acquired:
                await self._sleep(lease_retry)
                continue
            self.metrics.leader, self.metrics.fencing_token = True, self.store.token
            log.info("holding the writer lease of %s (fencing token %d)", self.alias, self.store.token)
            heartbeat = asyncio.create_task(self._heartbeat(), name="indexer-lease")
            try:
                await self._lead()
            except LeaseLost as error:
                log.warning("stopped writing: %s", error)
            except Stopped:
                pass
            except (PyMongoError, TransportError, ApiError, IndexMissing) as error:
                # Writes retry by themselves; this is a read or an index/alias call that failed: start over.
                log.warning("%s; starting over from the checkpoint", type(error).__name__)
                await self._sleep(1.0)
            finally:
                await self._stop_reconciling()
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
                if self.stop.is_set():
                    # Releasing lets a waiting replica take over at once; past half the lease's life it is not
                    # worth waiting for an unreachable MongoDB, as the lease runs out by itself.
                    with contextlib.suppress(PyMongoError, TimeoutError):
                        await asyncio.wait_for(self.store.release(), timeout=self.settings.lease_ttl / 2)
        self.metrics.phase = "stopped"

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl / 3)
            try:
                renewed = await self.store.renew()
            except PyMongoError as error:
                if cancelled():  # PyMongo's server selection turns a cancellation into its own timeout error
                    raise asyncio.CancelledError from error
                log.warning("cannot renew the lease: %s", type(error).__name__)
                continue
            if not renewed:
                log.warning("the lease of %s was taken over; stopping writes", self.alias)
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    def _check_lease(self) -> None:
        if not self.store.is_leader():
            raise LeaseLost("lease not renewed in time")

    # What the checkpoint document says.

    async def _apply(self, document: dict[str, Any]) -> None:
        """Follow a reindex in progress: write to its index too, and say so once (see `reindex`)."""
        reindex = document.get("reindex") or {}
        index = reindex.get("index")
        if not index:
            self.writer.targets.next_alias = None
            return
        self.writer.targets.next_alias = checkpoint.next_alias(self.alias)
        if reindex.get("ack_token") != self.store.token and await self.store.acknowledge_reindex(index):
            log.info("writing to %s too while it is rebuilt", index)

    async def _save(self, fields: dict[str, Any], unset: tuple[str, ...] = ()) -> dict[str, Any]:
        document = await self.store.save(fields, unset)
        self.metrics.checkpointed()
        await self._apply(document)
        return document

    # The leader's work.

    async def _mode(self) -> str:
        if self.settings.sync_mode != "auto":
            return self.settings.sync_mode
        return STREAM if await source.change_streams_available(self.database) else POLL

    async def _lead(self) -> None:
        mode = await self._mode()
        log.info("incremental sync by %s", "change stream" if mode == STREAM else "polling")
        reconcile_now = False
        while not self.stop.is_set():
            document = await self.store.load()
            await self._apply(document)
            _, created = await sink.ensure_alias(self.es, self.alias)
            backfill = document.get("backfill") or {}
            has_position = (mode == STREAM and "resume_token" in (document.get("stream") or {})) or (
                mode == POLL and "updated_at" in (document.get("poll") or {})
            )
            if created or not has_position or backfill.get("done") is not True:
                fresh = created or not has_position or "done" not in backfill
                if not await self._backfill(mode, resume_after=None if fresh else backfill.get("after")):
                    return
                reconcile_now = reconcile_now or bool(backfill.get("reconcile")) or not created
            elif mode == POLL:
                reconcile_now = True  # hard deletes made while no worker ran
            try:
                if mode == STREAM:
                    await self._follow_stream(reconcile_now)
                else:
                    await self._poll(reconcile_now)
                return
            except RebackfillNeeded as error:
                log.warning("change history lost (%s): rebuilding from MongoDB, then reconciling", error)
                await self._save({"backfill.done": False, "backfill.reconcile": True}, unset=("stream", "poll"))
                reconcile_now = True

    async def _backfill(self, mode: str, resume_after: Any) -> bool:
        """Index every visitor in `_id` order from `resume_after`; True when the pass completed.

        A fresh pass first records where the sync will start, so that nothing written during it is missed.
        """
        if resume_after is None:
            start: dict[str, Any] = {"backfill.done": False, "backfill.after": None}
            if mode == STREAM:
                start["stream.resume_token"] = await source.current_resume_token(self.database)
            else:
                start["poll.updated_at"] = start["poll.trash_at"] = now_millis()
            start["backfill.started_at"] = checkpoint.utcnow()
            await self._save(start)
            log.info("backfill of %s started", self.alias)
        else:
            log.info("backfill of %s resumed after visitor %s", self.alias, resume_after)
        self.metrics.phase = "backfill"
        total = await source.estimated_visitors(self.database)
        progress = self.progress("backfill", total)

        async def feed() -> ChangeFeed:
            batches = source.visitor_batches_by_id(self.database, resume_after, self.settings.batch_size)
            async for visitors in read_ahead(batches, depth=2):
                for visitor in visitors:
                    yield changes.upsert(visitor, {"backfill.after": visitor["_id"]})

        async def acknowledged(position: dict[str, Any], count: int) -> None:
            progress.advance(count)
            self.metrics.backlog = max(0, progress.total - progress.done)

        await self._pump(feed(), acknowledged)
        if self.stop.is_set():
            return False
        await self._save({"backfill.done": True, "backfill.finished_at": checkpoint.utcnow()}, ("backfill.reconcile",))
        progress.finish()
        self.metrics.backlog = 0
        log.info("backfill of %s done: %d visitors", self.alias, progress.done)
        return True

    async def _pump(self, feed: ChangeFeed, on_ack: OnAck, behind: SaveBehind | None = None) -> int:
        """Write `feed`; each acknowledged position goes to the checkpoint (at most every CHECKPOINT_INTERVAL, and
        once more when the pass ends), then to `on_ack`."""
        saver = behind or SaveBehind(self._save, self.settings.checkpoint_interval)

        async def acknowledged(position: dict[str, Any], count: int) -> None:
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

    # Polling.

    async def _poll(self, reconcile_now: bool) -> None:
        self.metrics.phase = "sync"
        document = await self.store.load()
        poll = document.get("poll") or {}
        cursor = {"updated_at": int(poll.get("updated_at") or 0), "trash_at": int(poll.get("trash_at") or 0)}
        overlap = int(self.settings.overlap_window * 1000)
        seen = {"updated_at": SeenWindow(), "trash_at": SeenWindow()}
        next_reconcile = time.monotonic() + (0 if reconcile_now else self.settings.reconcile_interval)
        synced_saved = 0.0
        while not self.stop.is_set():
            self._check_lease()
            started = now_millis()
            since = {key: changes.poll_since(value, overlap) for key, value in cursor.items()}

            async def feed(started: int = started, since: dict[str, int] = since) -> ChangeFeed:
                visitors = source.visitors_updated_since(
                    self.database, changes.millis_to_datetime(since["updated_at"]), self.settings.batch_size
                )
                async for visitor in visitors:
                    document_id, version = transform.document_id(visitor["_id"]), transform.version_of(visitor)
                    if seen["updated_at"].is_new(document_id, version):
                        seen["updated_at"].remember(document_id, version)
                        self.metrics.backlog += 1
                        yield changes.upsert(visitor, {"poll.updated_at": min(version, started)})
                trash = source.trash_since(
                    self.database, changes.millis_to_datetime(since["trash_at"]), self.settings.batch_size
                )
                async for entry in trash:
                    change = changes.from_trash(entry)
                    if seen["trash_at"].is_new(change.document_id, change.version):
                        seen["trash_at"].remember(change.document_id, change.version)
                        self.metrics.backlog += 1
                        yield changes.from_trash(entry, {"poll.trash_at": min(change.version, started)})

            async def acknowledged(position: dict[str, Any], count: int) -> None:
                for key, value in position.items():
                    name = key.removeprefix("poll.")
                    cursor[name] = max(cursor[name], int(value))
                self.metrics.backlog = max(0, self.metrics.backlog - count)

            self.metrics.backlog = 0
            written = await self._pump(feed(), acknowledged)
            if self.stop.is_set():
                return
            self.metrics.synced_through = started / 1000
            self.metrics.backlog = 0
            self.metrics.beat()
            for key, window in seen.items():
                window.forget_before(changes.poll_since(cursor[key], overlap))
            if written or time.monotonic() - synced_saved >= 5:
                document = await self._save({"synced_at": changes.millis_to_datetime(started)})
                synced_saved = time.monotonic()
            else:
                await self._apply(await self.store.load())
            if time.monotonic() >= next_reconcile:
                self._start_reconciling()
                next_reconcile = time.monotonic() + self.settings.reconcile_interval
            self._raise_reconcile_failure()
            if written < self.settings.batch_size:
                await self._sleep(self.settings.poll_interval)

    # Reconciliation runs beside the sync; its deletes carry the index's version, so a newer write wins.

    def _start_reconciling(self) -> None:
        if self._reconciling is not None and not self._reconciling.done():
            return
        self._reconciling = asyncio.create_task(
            reconcile.remove_extras(self.database, self.es, self.alias, self.writer, self.settings.batch_size),
            name="indexer-reconcile",
        )

    def _raise_reconcile_failure(self) -> None:
        task = self._reconciling
        if task is None or not task.done():
            return
        self._reconciling = None
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, LeaseLost | Stopped):
            raise error
        if error is not None:
            log.warning("reconciliation failed (%s); it runs again later", type(error).__name__)

    async def _stop_reconciling(self) -> None:
        task, self._reconciling = self._reconciling, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # Change streams.

    async def _follow_stream(self, reconcile_now: bool) -> None:
        self.metrics.phase = "sync"
        if reconcile_now:
            self._start_reconciling()
        document = await self.store.load()
        token = (document.get("stream") or {}).get("resume_token")
        max_await = max(1, int(self.settings.poll_interval * 1000))

        async def feed() -> ChangeFeed:
            try:
                async for event in source.change_events(self.database, token, max_await):
                    self._check_lease()
                    if event is None:
                        self.metrics.synced_through = time.time()
                        self.metrics.beat()
                        self._raise_reconcile_failure()
                        yield None
                        continue
                    record = changes.from_change_event(event)
                    if isinstance(record, changes.StreamInvalidated):
                        raise RebackfillNeeded(record.reason)
                    if record is None:
                        continue
                    self.metrics.backlog += 1
                    yield record
            except source.HistoryLost as error:
                raise RebackfillNeeded(str(error)) from error

        async def acknowledged(position: dict[str, Any], count: int) -> None:
            self.metrics.backlog = max(0, self.metrics.backlog - count)

        behind = SaveBehind(self._save, self.settings.checkpoint_interval)
        await self._pump(self._saving_when_idle(feed(), behind), acknowledged, behind)

    async def _saving_when_idle(self, feed: ChangeFeed, behind: SaveBehind) -> ChangeFeed:
        """Pass the stream through; while it is idle, save the checkpoint now and then: the position held back,
        `synced_at` for a reindex waiting on the worker, and a look at the reindex request itself."""
        last = 0.0
        async for record in feed:
            if record is None and time.monotonic() - last >= 1.0:
                last = time.monotonic()
                await behind.offer({"synced_at": checkpoint.utcnow()})
                await behind.flush()
            yield record
