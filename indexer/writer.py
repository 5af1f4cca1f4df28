"""Writes batches of change records to every index that must receive them, until Elasticsearch has acknowledged
each one: transient failures are retried with backoff, refused documents are dead-lettered, nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import changes, checkpoint, sink, source
from indexer.changes import BulkOutcome, Change, Op
from indexer.metrics import Metrics

log = logging.getLogger(__name__)


class Stopped(Exception):
    """Shutdown was requested while a batch could not be written yet; it stays unacknowledged."""


class IndexMissing(Exception):
    """The live alias points nowhere (the index was deleted): the worker must recreate it and backfill."""


def _index_missing(item: dict[str, Any]) -> bool:
    result = item.get(next(iter(item), ""), {})
    error = result.get("error") if isinstance(result, dict) else None
    return isinstance(error, dict) and error.get("type") == "index_not_found_exception"


@dataclass
class Targets:
    """Where writes go: the live alias, and the next one while a reindex builds it."""

    alias: str
    next_alias: str | None = None

    def all(self) -> list[str]:
        return [self.alias] if self.next_alias is None else [self.alias, self.next_alias]


def batch_actions(batch: Sequence[Change], targets: Sequence[str]) -> list[dict[str, Any]]:
    """The bulk actions of a batch for each target, in change order (pure)."""
    actions: list[dict[str, Any]] = []
    for change in batch:
        document_id = change.document_id
        for target in targets:
            if change.document is None:  # a delete, or a visitor that is disabled
                actions.append(sink.delete_action(target, document_id, change.version))
            else:
                actions.append(sink.document_action(target, document_id, change.version, change.document))
    return actions


class Writer:
    def __init__(
        self,
        es: AsyncElasticsearch,
        database: AsyncDatabase[dict[str, Any]],
        alias: str,
        metrics: Metrics,
        stop: asyncio.Event,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.es = es
        self.database = database
        self.alias = alias
        self.metrics = metrics
        self.stop = stop
        self.may_write = may_write
        self.targets = Targets(alias)

    async def _resolve_lookups(self, batch: Sequence[Change]) -> list[Change]:
        """Replace LOOKUP records by the visitor's current document; drop those deleted since (their delete
        event follows in the stream)."""
        lookups = [change.visitor_id for change in batch if change.op is Op.LOOKUP]
        if not lookups:
            return list(batch)
        found = await source.visitors_by_ids(self.database, lookups)
        resolved: list[Change] = []
        for change in batch:
            if change.op is not Op.LOOKUP:
                resolved.append(change)
            elif (visitor := found.get(change.document_id)) is not None:
                resolved.append(changes.upsert(visitor, change.position))
        return resolved

    async def write(self, batch: Sequence[Change]) -> None:
        """Return once every change of `batch` is settled in every target or dead-lettered.

        Raises checkpoint.LeaseLost when this process may no longer write, Stopped on shutdown during retries.
        """
        batch = await self._resolve_lookups(batch)
        pending = batch_actions(batch, self.targets.all())
        attempt = 0
        while pending:
            if not self.may_write():
                raise checkpoint.LeaseLost("lease not renewed in time")
            results = await sink.bulk_results(self.es, pending, require_alias=True)
            retry: list[dict[str, Any]] = []
            for action, item in zip(pending, results, strict=True):
                if action["_index"] == self.alias and _index_missing(item):
                    raise IndexMissing(f"alias {self.alias} has no index")
                outcome = changes.classify(item)
                if outcome is BulkOutcome.REJECTED and self._is_vanished_next(action, item):
                    outcome = BulkOutcome.SETTLED  # the reindex finished or was abandoned meanwhile
                if outcome is BulkOutcome.SETTLED:
                    if action["_index"] == self.alias:
                        if action["_op_type"] == "delete":
                            self.metrics.deleted += 1
                        else:
                            self.metrics.indexed += 1
                elif outcome is BulkOutcome.RETRY:
                    retry.append(action)
                else:
                    await self._dead_letter(action, item)
            if retry:
                self.metrics.retried += len(retry)
                delay = changes.backoff_seconds(attempt)
                log.warning("%d bulk items failed transiently; retrying in %.1fs", len(retry), delay)
                attempt += 1
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
                else:
                    raise Stopped("shutdown while Elasticsearch was failing")
            pending = retry

    def _is_vanished_next(self, action: dict[str, Any], item: dict[str, Any]) -> bool:
        result = item.get(next(iter(item), ""), {})
        return action["_index"] != self.alias and bool(result.get("status") == 404)

    async def _dead_letter(self, action: dict[str, Any], item: dict[str, Any]) -> None:
        op = next(iter(item), "")
        error = item.get(op, {}).get("error")
        reason = error if isinstance(error, dict) else {"reason": str(error)}
        reason = {key: reason[key] for key in ("type", "reason", "caused_by") if key in reason}
        if action["_index"] == self.alias:
            self.metrics.failed += 1
        log.error("Elasticsearch refused visitor %s (%s): dead-lettered", action["_id"], reason.get("type"))
        await checkpoint.dead_letter(self.database, action["_index"], action["_id"], action["version"], reason)
