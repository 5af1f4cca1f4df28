"""The `reindex` command: build the next index generation from MongoDB while the current one serves and the worker
keeps syncing, then move the alias atomically and remove the old index.

Nothing is missed: the worker writes every change to the new index too (through the `<alias>-next` alias) from
the moment it acknowledged the request, and the backfill starts only after that acknowledgement, so a change is
either read by the backfill or written by the worker. External versions make the two agree in any order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from indexer import indices, source
from indexer.backfill import records
from indexer.checkpoint import CheckpointStore, Position, ReindexRequests
from indexer.clock import utcnow
from indexer.lease import CHECKPOINTS_COLLECTION, Lease
from indexer.metrics import Metrics
from indexer.pipeline import pump
from indexer.reconcile import remove_extras
from indexer.settings import Settings
from indexer.specs import Spec
from indexer.sync import ProgressFactory, next_alias
from indexer.writer import Stopped, Writer

log = logging.getLogger(__name__)


class ReindexFailed(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Rebuilt:
    """The new index and what its build refused (dead-lettered)."""

    index: str
    refused: int


async def _wait_for_acknowledgement(
    requests: ReindexRequests, index: str, patience: float, stop: asyncio.Event
) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and not stop.is_set():
        request = await requests.load()
        if request is not None and request.index == index and request.ack_token:
            return
        await asyncio.sleep(0.2)
    raise ReindexFailed(f"no worker acknowledged {index} within {patience:.0f}s: is `python -m indexer run` running?")


async def _wait_for_sync(store: CheckpointStore, since: Any, patience: float) -> bool:
    """Wait until the worker reports a poll or stream read that began after `since` (it has caught up)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        synced = (await store.load()).synced_at
        if synced is not None and synced >= since:
            return True
        await asyncio.sleep(0.2)
    return False


async def reindex(
    settings: Settings,
    spec: Spec,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    *,
    stop: asyncio.Event,
    progress: ProgressFactory,
) -> Rebuilt:
    """Rebuild the index behind the spec's alias; returns the new index. Raises ReindexFailed."""
    alias = spec.alias
    old = await indices.current_index(es, alias)
    if old is None:
        raise ReindexFailed(f"alias {alias} does not exist: run the worker first")
    new = await indices.create_generation(es, spec, await indices.next_generation(es, alias))
    following = next_alias(alias)
    try:
        stale = list((await es.indices.get_alias(name=following)).body)
    except NotFoundError:
        stale = []
    removals = [{"remove": {"index": name, "alias": following}} for name in stale]
    await es.indices.update_aliases(actions=[*removals, {"add": {"index": new, "alias": following}}])
    requests = ReindexRequests(database[CHECKPOINTS_COLLECTION], alias)
    store = CheckpointStore(Lease(database, alias, "reindex", settings.lease_ttl))  # reads only
    await requests.request(new)
    log.info("building %s beside %s; waiting for the worker to write to it too", new, old)
    try:
        await _wait_for_acknowledgement(requests, new, settings.reindex_ack_timeout, stop)
        began = utcnow()
        metrics = Metrics()
        writer = Writer(es, database, spec, metrics, stop, target=following)
        await _build(settings, spec, database, writer, stop, progress)
        await remove_extras(database, es, spec, following, writer, settings.batch_size)
        if not await _wait_for_sync(store, began, max(30.0, settings.reindex_ack_timeout)):
            log.warning("the worker did not report a sync after the build; swapping anyway")
        await es.indices.refresh(index=new)
        await es.indices.update_aliases(
            actions=[
                {"remove": {"index": old, "alias": alias}},
                {"add": {"index": new, "alias": alias}},
                {"remove": {"index": new, "alias": following}},
            ]
        )
    except BaseException:
        await requests.finish(new)
        await es.options(ignore_status=404).indices.delete(index=new)
        raise
    await requests.finish(new)
    log.info("alias %s now points to %s", alias, new)
    await asyncio.sleep(settings.reindex_grace)
    with contextlib.suppress(NotFoundError):
        await es.indices.delete(index=old)
    log.info("removed %s", old)
    return Rebuilt(new, metrics.failed)


async def _build(
    settings: Settings,
    spec: Spec,
    database: AsyncDatabase[dict[str, Any]],
    writer: Writer,
    stop: asyncio.Event,
    progress_factory: ProgressFactory,
) -> None:
    progress = progress_factory(f"reindex of {spec.alias}", await source.estimated_count(database, spec))

    async def acknowledged(position: Position, count: int) -> None:
        progress.advance(count)

    await pump(
        records(database, spec, None, settings.batch_size),
        writer.write,
        acknowledged,
        batch_size=settings.batch_size,
        depth=settings.queue_depth,
        stop=stop,
    )
    if stop.is_set():
        raise Stopped("reindex interrupted")
    progress.finish()
