"""Which custom fields are searchable, read from MongoDB (the lookup itself is `service.lookup.search`)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from service import rocketchat
from service.cache import TtlCache


class CustomFieldRegistry:
    """The names of custom fields defined with `scope: "visitor"` and `searchable: true`, refreshed every TTL."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], ttl: float) -> None:
        self._definitions = database[rocketchat.CUSTOM_FIELDS_COLLECTION]
        self.cache: TtlCache[str, frozenset[str]] = TtlCache(ttl, max_entries=1)

    async def searchable(self) -> frozenset[str]:
        return await self.cache.get("searchable", self._load)

    async def _load(self) -> frozenset[str]:
        cursor = self._definitions.find({"scope": "visitor", "searchable": True}, projection={"_id": 1})
        names = [definition["_id"] async for definition in cursor]
        rule = rocketchat.CUSTOM_FIELD_NAME
        return frozenset(name for name in names if isinstance(name, str) and rule.fullmatch(name))
