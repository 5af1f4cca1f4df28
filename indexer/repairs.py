"""`verify --repair`'s writes: the change that undoes each drift, in bounded batches through the one writer.

Each document is written at its own version, as the worker would, so a repair never beats a newer write in flight.
Two cases need more, and both re-read the document from MongoDB just before writing, so the index gets MongoDB's
state as it is then, never the older one the comparison saw:
- the index holds a newer version than MongoDB (MongoDB went back to an earlier point: a restore from a backup):
  at its own version the write would lose (409) for ever, so it is written at the first version that beats the
  index's;
- a write of a missing document lost all the same: Elasticsearch remembers a delete of it at a newer version (its
  tombstone, kept `index.gc_deletes`, 60 s by default), so it is written again at a version that beats the clock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import clock, source
from indexer.changes import Change, Op
from indexer.drift import Kind, Verdict, ahead_of_source, over_newer_version, repair_change
from indexer.metrics import Metrics
from indexer.specs import Spec
from indexer.writer import Writer

log = logging.getLogger(__name__)


class Repairs:
    """Bounded batches of the changes that undo drift, sent through the writer (external versions)."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        database: AsyncDatabase[dict[str, Any]],
        spec: Spec,
        metrics: Metrics,
        batch_size: int,
        stop: asyncio.Event,
    ) -> None:
        self.writer = Writer(client, database, spec, metrics, stop, on_conflict=self._lost)
        self.database, self.spec, self.batch_size = database, spec, batch_size
        self.pending: list[Change] = []
        self.ahead: dict[str, int] = {}  # document id → the newer version the index holds
        self.restored = 0  # documents written over a newer version: what a restore left behind
        self.missing: set[str] = set()  # documents the index had no entry for: a lost write of theirs met a tombstone
        self._lost_writes: set[str] = set()

    def _lost(self, document_id: str, version: int) -> None:
        self._lost_writes.add(document_id)

    async def add(self, verdict: Verdict) -> None:
        change = repair_change(self.spec, verdict, clock.now_millis())
        if change is None:
            return
        beaten = ahead_of_source(verdict)
        if beaten is not None:
            self.ahead[change.document_id] = beaten
        elif verdict.kind is Kind.MISSING:
            self.missing.add(change.document_id)
        self.pending.append(change)
        if len(self.pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        ahead, self.ahead = self.ahead, {}
        missing, self.missing = self.missing, set()
        if not batch:
            return
        if ahead:
            batch = await self._over(batch, ahead)
            self.restored += len(ahead)
            log.warning(
                "%d documents of %s are older in MongoDB than in the index (a restore?): written over",
                len(ahead),
                self.spec.alias,
            )
        self._lost_writes = set()
        await self.writer.write(batch)
        tombstoned = {
            change.document_id: clock.now_millis()
            for change in batch
            if change.document_id in self._lost_writes and change.document_id in missing and change.op is Op.UPSERT
        }
        if tombstoned:
            log.warning(
                "%d documents of %s were blocked by a newer delete: written again", len(tombstoned), self.spec.alias
            )
            await self.writer.write(await self._over([c for c in batch if c.document_id in tombstoned], tombstoned))

    async def _over(self, batch: list[Change], beaten: dict[str, int]) -> list[Change]:
        """`batch` with each change of `beaten` replaced by MongoDB's document as it is now, over that version."""
        current = await source.by_ids(self.database, self.spec, [c.source_id for c in batch if c.document_id in beaten])
        now_ms = clock.now_millis()
        return [
            over_newer_version(
                self.spec, change.source_id, current.get(change.document_id), beaten[change.document_id], now_ms
            )
            if change.document_id in beaten
            else change
            for change in batch
        ]
