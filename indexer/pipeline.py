"""One full pass: every visitor in MongoDB written to the index behind the alias."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from indexer import sink, source

log = logging.getLogger(__name__)


class IndexingError(Exception):
    """Elasticsearch rejected some visitors."""


async def backfill_once(
    database: AsyncDatabase[dict[str, Any]], client: AsyncElasticsearch, alias: str, batch_size: int
) -> int:
    """Index every visitor once; returns how many were written. Raises if any was rejected."""
    index = await sink.ensure_index(client, alias)

    async def actions() -> AsyncIterator[dict[str, Any]]:
        async for visitor in source.all_visitors(database, batch_size):
            yield sink.index_action(index, visitor)

    settled, rejected = await sink.write(client, actions(), chunk_size=batch_size)
    await client.indices.refresh(index=index)
    if rejected:
        reasons = sorted({str(item.get(next(iter(item)), {}).get("error", {}).get("type")) for item in rejected})
        raise IndexingError(f"{len(rejected)} visitors rejected by Elasticsearch: {', '.join(reasons)}")
    log.info("indexed %d visitors into %s", settled, index)
    return settled
