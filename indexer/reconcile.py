"""Reconciliation: finds documents still in the index but gone from MongoDB (hard deletes a poller cannot see) by
merge-joining the ids of both sides in printed-id order (`scans`, `drift`), and removes them through the writer.
Memory stays bounded. In the worker it runs beside the sync, as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import source
from indexer.changes import Change, Op
from indexer.lease import LeaseLost
from indexer.specs import Spec
from indexer.verify import scans
from indexer.verify.drift import Expected, diff, windows
from indexer.writer import Stopped, Writer

log = logging.getLogger(__name__)


async def _source_ids(database: AsyncDatabase[dict[str, Any]], spec: Spec, size: int) -> AsyncGenerator[Expected, None]:
    async with contextlib.AsyncExitStack() as stack:
        passes = [
            await stack.enter_async_context(contextlib.aclosing(stream))
            for stream in scans.source_passes(database, spec, ids_only=True, batch_size=size)
        ]
        async for document_id, _ in scans.merge_sorted(passes, key=lambda entry: entry[0]):
            yield Expected(document_id, "present")


async def remove_extras(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, spec: Spec, target: str, writer: Writer, size: int
) -> int:
    """Delete, through `writer`, every document `target` holds that MongoDB no longer has; returns how many.

    A candidate is confirmed missing by an exact `_id` lookup first: it may have been inserted after the id
    stream passed its place. The delete carries the version the index holds, so a newer write wins.
    """
    removed = 0
    batch: list[Change] = []
    expected = _source_ids(database, spec, size)
    indexed = scans.index_entries(es, target, size, hashes=False)
    async with contextlib.aclosing(expected), contextlib.aclosing(indexed):
        async for wants, haves in windows(expected, indexed, size):
            for verdict in diff(wants, haves):
                gone = verdict.expected is None and verdict.indexed is not None
                if not gone or await source.exists(database, spec, verdict.id):
                    continue
                assert verdict.indexed is not None
                batch.append(Change(Op.DELETE, verdict.indexed.document_id or verdict.id, verdict.indexed.version))
                if len(batch) >= size:
                    await writer.write(batch)
                    removed, batch = removed + len(batch), []
    if batch:
        await writer.write(batch)
        removed += len(batch)
    if removed:
        log.info("reconciliation removed %d documents deleted from MongoDB from %s", removed, target)
    return removed


class Reconciler:
    """Runs `remove_extras` on the worker's writer as a background task, one at a time."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, writer: Writer, size: int):
        self.database, self.es, self.writer, self.size = database, es, writer, size
        self._task: asyncio.Task[int] | None = None

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        spec = self.writer.spec
        self._task = asyncio.create_task(
            remove_extras(self.database, self.es, spec, spec.alias, self.writer, self.size), name="indexer-reconcile"
        )

    def raise_failure(self) -> None:
        """Re-raise in the caller what must end the leadership (lease lost, stopping); log any other failure."""
        task = self._task
        if task is None or not task.done():
            return
        self._task = None
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, LeaseLost | Stopped):
            raise error
        if error is not None:
            log.warning("reconciliation failed (%s); it runs again later", type(error).__name__)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
