"""The `reindex` command: build the next index generation from MongoDB while the current one serves and the worker
keeps syncing, then move the alias atomically and remove the old index.

Nothing is missed: the worker writes every change to the new index too (through the `<alias>-next` alias) from
the moment it acknowledged the request, and the backfill starts only after that acknowledgement, so a change is
either read by the backfill or written by the worker. External versions make the two agree in any order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from indexer import changes, checkpoint, reconcile, schema, sink, source
from indexer.checkpoint import CheckpointStore
from indexer.metrics import Metrics
from indexer.pipeline import ChangeFeed, pump, read_ahead
from indexer.settings import Settings
from indexer.worker import ProgressFactory
from indexer.writer import Stopped, Writer

log = logging.getLogger(__name__)


class ReindexFailed(Exception):
    pass


async def next_generation(es: AsyncElasticsearch, alias: str) -> int:
    """One more than any generation of `alias` that exists, so a leftover of an abandoned reindex is never reused."""
    found = await es.indices.get(index=f"{alias}-v*", expand_wildcards="all")
    generations = [schema.generation_of(alias, name) for name in found.body]
    return max((generation for generation in generations if generation is not None), default=0) + 1


async def _wait_for_acknowledgement(store: CheckpointStore, index: str, patience: float, stop: asyncio.Event) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and not stop.is_set():
        reindex = (await store.load()).get("reindex") or {}
        if reindex.get("index") == index and reindex.get("ack_token"):
            return
        await asyncio.sleep(0.2)
    raise ReindexFailed(f"no worker acknowledged {index} within {patience:.0f}s: is `python -m indexer run` running?")


async def _wait_for_sync(store: CheckpointStore, since: Any, patience: float) -> bool:
    """Wait until the worker reports a poll or stream read that began after `since` (it has caught up)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        synced = (await store.load()).get("synced_at")
        if synced is not None and synced >= since:
            return True
        await asyncio.sleep(0.2)
    return False


async def reindex(
    settings: Settings,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    *,
    stop: asyncio.Event,
    progress: ProgressFactory,
) -> str:
    """Rebuild the index behind the alias; returns the new index's name. Raises ReindexFailed."""
    alias = settings.es_index
    old = await sink.current_index(es, alias)
    if old is None:
        raise ReindexFailed(f"alias {alias} does not exist: run the worker first")
    new = await sink.create_generation(es, alias, await next_generation(es, alias))
    following = checkpoint.next_alias(alias)
    try:
        stale = list((await es.indices.get_alias(name=following)).body)
    except NotFoundError:
        stale = []
    removals = [{"remove": {"index": name, "alias": following}} for name in stale]
    await es.indices.update_aliases(actions=[*removals, {"add": {"index": new, "alias": following}}])
    holder = f"reindex@{socket.gethostname()}:{os.getpid()}"
    store = CheckpointStore(database, alias, holder, settings.lease_ttl)
    await store.request_reindex(new)
    log.info("building %s beside %s; waiting for the worker to write to it too", new, old)
    try:
        await _wait_for_acknowledgement(store, new, settings.reindex_ack_timeout, stop)
        began = checkpoint.utcnow()
        await _build(settings, database, es, following, stop, progress)
        await reconcile.remove_extras(
            database, es, following, Writer(es, database, following, Metrics(), stop), settings.batch_size
        )
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
        await store.finish_reindex(new)
        await es.options(ignore_status=404).indices.delete(index=new)
        raise
    await store.finish_reindex(new)
    log.info("alias %s now points to %s", alias, new)
    await asyncio.sleep(settings.reindex_grace)
    with contextlib.suppress(NotFoundError):
        await es.indices.delete(index=old)
    log.info("removed %s", old)
    return new


async def _build(
    settings: Settings,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    target: str,
    stop: asyncio.Event,
    progress_factory: ProgressFactory,
) -> None:
    total = await source.estimated_visitors(database)
    progress = progress_factory("reindex", total)
    writer = Writer(es, database, target, Metrics(), stop)

    async def feed() -> ChangeFeed:
        async for visitors in read_ahead(source.visitor_batches_by_id(database, None, settings.batch_size), 2):
            for visitor in visitors:
                yield changes.upsert(visitor)

    async def acknowledged(position: dict[str, Any], count: int) -> None:
        progress.advance(count)

    await pump(
        feed(), writer.write, acknowledged, batch_size=settings.batch_size, depth=settings.queue_depth, stop=stop
    )
    if stop.is_set():
        raise Stopped("reindex interrupted")
    progress.finish()
