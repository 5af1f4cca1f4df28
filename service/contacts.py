"""The I/O behind a search: which custom fields are searchable (MongoDB) and the lookup (Elasticsearch)."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import schema
from service import query, rocketchat
from service.cache import TtlCache

FIRST_PAGE = 10
LAST_PAGE = 1000


class CustomFieldRegistry:
    """The names of custom fields defined with `scope: "visitor"` and `searchable: true`, refreshed every TTL."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], ttl: float) -> None:
        self._definitions = database[rocketchat.CUSTOM_FIELDS_COLLECTION]
        self._cache: TtlCache[str, frozenset[str]] = TtlCache(ttl, max_entries=1)

    async def searchable(self) -> frozenset[str]:
        return await self._cache.get("searchable", self._load)

    async def _load(self) -> frozenset[str]:
        cursor = self._definitions.find({"scope": "visitor", "searchable": True}, projection={"_id": 1})
        names = [definition["_id"] async for definition in cursor]
        rule = rocketchat.CUSTOM_FIELD_NAME
        return frozenset(name for name in names if isinstance(name, str) and rule.fullmatch(name))


async def find_contact(client: AsyncElasticsearch, alias: str, criteria: query.Criteria) -> dict[str, Any] | None:
    """The first contact (oldest `ts`, then `_id`) matching every criterion, or None.

    Candidates come in pages that grow, because a long custom value's grams can admit false positives
    that the literal check rejects; usually the first hit is the answer.
    """
    body = query.search_query(criteria)
    size = FIRST_PAGE if criteria.custom else 1
    search_after: list[Any] | None = None
    while True:
        response = await client.search(
            index=alias,
            query=body,
            sort=query.SORT,
            size=size,
            search_after=search_after,
            source={"includes": [schema.FIELD_VISITOR]},
            track_total_hits=False,
            # A shard whose copies all failed (a node died mid-search) must fail the lookup, not hide its match.
            allow_partial_search_results=False,
        )
        hits = response["hits"]["hits"]
        contact = query.first_confirmed(hits, criteria)
        if contact is not None or len(hits) < size:
            return contact
        search_after = hits[-1]["sort"]
        size = min(size * 10, LAST_PAGE)
