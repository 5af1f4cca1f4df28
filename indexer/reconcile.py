"""Finds visitors still in the index but gone from MongoDB (hard deletes the poller cannot see) by streaming the
ids of both sides in the same order and merging them, then removes them. Memory stays constant.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import changes, schema, source
from indexer.changes import Change, Op
from indexer.writer import Writer

log = logging.getLogger(__name__)

PAGE_SIZE = 2000
KEEP_ALIVE = "2m"


async def indexed_ids(es: AsyncElasticsearch, index: str) -> AsyncIterator[tuple[str, int]]:
    """Every (id, version) of `index` in ascending id order, through a point in time and `search_after`."""
    pit = (await es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE)).body["id"]
    try:
        after: list[Any] | None = None
        while True:
            page = await es.search(
                pit={"id": pit, "keep_alive": KEEP_ALIVE},
                sort=[{schema.FIELD_ID: "asc"}],
                size=PAGE_SIZE,
                source=False,
                version=True,
                track_total_hits=False,
                search_after=after,
            )
            pit = page.body.get("pit_id", pit)
            hits = page.body["hits"]["hits"]
            for hit in hits:
                yield hit["_id"], int(hit["_version"])
            if len(hits) < PAGE_SIZE:
                return
            after = hits[-1]["sort"]
    finally:
        await es.close_point_in_time(id=pit)


async def remove_extras(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, index: str, writer: Writer, batch_size: int
) -> int:
    """Delete from the writer's targets every visitor `index` holds that MongoDB no longer has; returns how many.

    A candidate is confirmed missing by an exact `_id` lookup first: it may have been inserted after the id
    stream passed its place. The delete carries the version the index holds, so a newer write wins.
    """
    removed = 0
    batch: list[Change] = []
    async for document_id, version in changes.extra_ids(source.visitor_ids(database), indexed_ids(es, index)):
        if await source.exists(database, document_id):
            continue
        batch.append(Change(Op.DELETE, document_id, version))
        if len(batch) >= batch_size:
            await writer.write(batch)
            removed += len(batch)
            batch = []
    if batch:
        await writer.write(batch)
        removed += len(batch)
    if removed:
        log.info("reconciliation removed %d visitors deleted from MongoDB from %s", removed, index)
    return removed
