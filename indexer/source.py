"""MongoDB reads of the indexer: the visitor collection and the custom-field definitions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from indexer import schema


async def all_visitors(database: AsyncDatabase[dict[str, Any]], batch_size: int) -> AsyncIterator[dict[str, Any]]:
    """Every visitor, through one cursor (on the test server every re-query is a full scan)."""
    cursor = database[schema.VISITORS_COLLECTION].find({}, batch_size=batch_size)
    async with cursor:
        async for visitor in cursor:
            yield visitor
