"""Polling, where the server has no change streams: re-read what was written since the checkpoint (minus an overlap
for writes that commit out of order) and Rocket.Chat 6's trash, in version order, and write it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict

from indexer import changes, clock, documents, source
from indexer.checkpoint import Position
from indexer.pipeline import ChangeFeed
from indexer.reconcile import Reconciler
from indexer.sync import Sync

log = logging.getLogger(__name__)


class SeenWindow:
    """Versions recently written by the poller, so the overlap window re-reads without re-writing.

    Bounded: when full, the oldest entries are forgotten and at worst written again (writes are idempotent).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._versions: OrderedDict[str, int] = OrderedDict()

    def is_new(self, document_id: str, version: int) -> bool:
        known = self._versions.get(document_id)
        return known is None or version > known

    def remember(self, document_id: str, version: int) -> None:
        self._versions[document_id] = version
        self._versions.move_to_end(document_id)
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)

    def forget_before(self, version: int) -> None:
        """Drop entries older than the overlap horizon (their writes can no longer be re-read)."""
        stale = [key for key, known in self._versions.items() if known < version]
        for key in stale:
            del self._versions[key]

    def __len__(self) -> int:
        return len(self._versions)


def poll_since(checkpoint_millis: int | None, overlap_millis: int) -> int:
    """The version (ms) a poll starts from: the checkpoint minus the overlap for late commits."""
    if checkpoint_millis is None:
        return 0
    return max(0, checkpoint_millis - overlap_millis)


def millis_to_datetime(millis: int) -> dt.datetime:
    """Naive UTC, as the Mongo driver stores and compares them."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=millis)


async def poll(sync: Sync, reconciler: Reconciler, reconcile_now: bool) -> None:
    """Poll until stopped; reconcile (find hard deletes) now if asked, then every RECONCILE_INTERVAL."""
    settings, spec, metrics = sync.settings, sync.spec, sync.metrics
    metrics.phase = "sync"
    checkpoint = sync.checkpoint
    cursor = {"written": checkpoint.poll_updated_at or 0, "trash": checkpoint.poll_trash_at or 0}
    overlap = int(settings.overlap_window * 1000)
    seen = {"written": SeenWindow(), "trash": SeenWindow()}
    next_reconcile = time.monotonic() + (0 if reconcile_now else settings.reconcile_interval)
    synced_saved = 0.0
    while not sync.stop.is_set():
        sync.lease.check()
        started = clock.now_millis()
        since = {key: millis_to_datetime(poll_since(value, overlap)) for key, value in cursor.items()}

        async def feed(started: int = started, since: dict[str, dt.datetime] = since) -> ChangeFeed:
            async for document in source.written_since(sync.database, spec, since["written"], settings.batch_size):
                document_id, version = documents.document_id(document["_id"]), spec.version_of(document)
                if seen["written"].is_new(document_id, version):
                    seen["written"].remember(document_id, version)
                    metrics.backlog += 1
                    yield changes.upsert(spec, document, Position(poll_updated_at=min(version, started)))
            async for entry in source.trash_since(sync.database, spec, since["trash"], settings.batch_size):
                change = changes.from_trash(spec, entry)
                if seen["trash"].is_new(change.document_id, change.version):
                    seen["trash"].remember(change.document_id, change.version)
                    metrics.backlog += 1
                    yield changes.from_trash(spec, entry, Position(poll_trash_at=min(change.version, started)))

        async def acknowledged(position: Position, count: int) -> None:
            for key, value in (("written", position.poll_updated_at), ("trash", position.poll_trash_at)):
                if isinstance(value, int):
                    cursor[key] = max(cursor[key], value)
            metrics.backlog = max(0, metrics.backlog - count)

        metrics.backlog = 0
        written = await sync.pump(feed(), acknowledged)
        if sync.stop.is_set():
            return
        metrics.synced_through = started / 1000
        metrics.backlog = 0
        metrics.beat()
        for key, window in seen.items():
            window.forget_before(poll_since(cursor[key], overlap))
        if written or time.monotonic() - synced_saved >= 5:
            await sync.save(synced_at=millis_to_datetime(started))
            synced_saved = time.monotonic()
        else:
            await sync.follow_reindex()
        if time.monotonic() >= next_reconcile:
            reconciler.start()
            next_reconcile = time.monotonic() + settings.reconcile_interval
        reconciler.raise_failure()
        if written < settings.batch_size:
            await sync.sleep(settings.poll_interval)
