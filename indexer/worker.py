"""The `run` command's orchestration: hold the writer lease, backfill when there is no usable checkpoint, then follow
every change (change stream on a replica set, polling otherwise) until told to stop.

The jobs live in their own modules: `lease`, `backfill`, `poll`, `stream`, `reconcile`; `sync` is what they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from common import elasticsearch_refusals
from indexer import indices, source
from indexer.backfill import backfill
from indexer.lease import Lease, LeaseLost
from indexer.metrics import Metrics
from indexer.poll import poll
from indexer.reconcile import Reconciler
from indexer.settings import Settings
from indexer.specs import Spec
from indexer.stream import RebackfillNeeded, follow
from indexer.sync import ProgressFactory, Sync
from indexer.writer import IndexMissing, Stopped

log = logging.getLogger(__name__)

# Seconds between counts of the dead letters while leading: `verify --repair` and `reindex`, other processes, change
# them too; between counts the writer moves the gauge itself.
DEAD_LETTER_RECOUNT = 60.0
# Seconds between tries while Elasticsearch refuses our credential or we refuse its certificate.
NEEDS_A_PERSON_RETRY = 30.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        spec: Spec,
        database: AsyncDatabase[dict[str, Any]],
        es: AsyncElasticsearch,
        *,
        holder: str,
        metrics: Metrics,
        stop: asyncio.Event,
        progress: ProgressFactory,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.database = database
        self.es = es
        self.metrics = metrics
        self.stop = stop
        self.progress = progress
        self.lease = Lease(database, spec.alias, holder, settings.lease_ttl)

    async def run(self) -> None:
        """Follow or lead until `stop` is set; on the way out the lease is released for the next process."""
        lease_retry = min(1.0, self.settings.lease_ttl / 4)
        while not self.stop.is_set():
            self.metrics.phase, self.metrics.leader = "following", False
            try:
                # Leading again after an error while the lease is still ours: keep its token. A new token would race
                # the cancelled heartbeat's renewal, which the server may still apply after it (on FerretDB, an
                # update rewrites the whole document, the older token included).
                acquired = await (self.lease.renew() if self.lease.is_held() else self.lease.try_acquire())
            except PyMongoError as error:
                log.warning("cannot reach MongoDB for the lease: %s", type(error).__name__)
                acquired = False
            self.metrics.beat()
            if not acquired:
                await self._sleep(lease_retry)
                continue
            self.metrics.leader, self.metrics.fencing_token = True, self.lease.token
            log.info("holding the writer lease of %s (fencing token %d)", self.spec.alias, self.lease.token)
            sync = self.new_sync()
            reconciler = Reconciler(self.database, self.es, sync.writer, self.settings.batch_size)
            heartbeat = asyncio.create_task(self.lease.keep(), name="indexer-lease")
            # Beside the sync, not before it: a takeover writes as soon as it can.
            counting = asyncio.create_task(self._count_dead_letters(sync), name="indexer-dead-letters")
            try:
                await self._lead(sync, reconciler)
            except LeaseLost as error:
                log.warning("stopped writing: %s", error)
            except Stopped:
                pass
            except (
                PyMongoError,
                TransportError,
                ApiError,
                IndexMissing,
                elasticsearch_refusals.CredentialRefused,
            ) as error:
                explained = elasticsearch_refusals.explain(error, self.settings.elasticsearch.credential)
                if explained is not None:
                    # A refused credential or certificate: a person must act (a rotated Secret fixes it), so retry
                    # slowly and say why at ERROR, every time.
                    log.error("%s; trying again in %.0f s", explained, NEEDS_A_PERSON_RETRY)
                    await self._sleep(NEEDS_A_PERSON_RETRY)
                    continue
                # Writes retry by themselves; this is a read or an index/alias call that failed: start over.
                log.warning("%s; starting over from the checkpoint", type(error).__name__)
                await self._sleep(1.0)
            finally:
                await reconciler.stop()
                heartbeat.cancel()
                counting.cancel()
                await asyncio.gather(heartbeat, counting, return_exceptions=True)
                if self.stop.is_set():
                    # Releasing lets a waiting replica take over at once; past half the lease's life it is not
                    # worth waiting for an unreachable MongoDB, as the lease runs out by itself.
                    with contextlib.suppress(PyMongoError, TimeoutError):
                        await asyncio.wait_for(self.lease.release(), timeout=self.settings.lease_ttl / 2)
        self.metrics.phase = "stopped"

    async def _count_dead_letters(self, sync: Sync) -> None:
        """Keeps the `dead_letters_waiting` gauge true while this process leads."""
        while True:
            with contextlib.suppress(PyMongoError):
                self.metrics.dead_letters = await sync.writer.dead_letters.count()
            await asyncio.sleep(DEAD_LETTER_RECOUNT)

    def new_sync(self) -> Sync:
        """The state one leadership shares between its jobs."""
        return Sync(
            self.settings, self.spec, self.database, self.es, self.lease, self.metrics, self.stop, self.progress
        )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    async def _stream_mode(self) -> bool:
        if self.settings.sync_mode != "auto":
            return self.settings.sync_mode == "stream"
        return await source.change_streams_available(self.database, self.spec)

    async def _lead(self, sync: Sync, reconciler: Reconciler) -> None:
        stream_mode = await self._stream_mode()
        log.info("incremental sync by %s", "change stream" if stream_mode else "polling")
        reconcile_now = False
        while not self.stop.is_set():
            checkpoint = await sync.load()
            _, created = await indices.ensure_alias(self.es, self.spec)
            has_position = (
                checkpoint.resume_token is not None if stream_mode else checkpoint.poll_updated_at is not None
            )
            if created or not has_position or checkpoint.backfill_done is not True:
                fresh = created or not has_position or checkpoint.backfill_done is None
                if not await backfill(sync, stream_mode, resume_after=None if fresh else checkpoint.backfill_after):
                    return
                reconcile_now = reconcile_now or checkpoint.backfill_reconcile or not created
            elif not stream_mode:
                reconcile_now = True  # hard deletes made while no worker ran
            try:
                if stream_mode:
                    await follow(sync, reconciler, reconcile_now)
                else:
                    await poll(sync, reconciler, reconcile_now)
                return
            except RebackfillNeeded as error:
                log.warning("change history lost (%s): rebuilding from MongoDB, then reconciling", error)
                await sync.save(
                    backfill_done=False,
                    backfill_reconcile=True,
                    resume_token=None,
                    poll_updated_at=None,
                    poll_trash_at=None,
                )
                reconcile_now = True
