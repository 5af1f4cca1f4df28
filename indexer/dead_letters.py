"""Documents Elasticsearch refused for good, kept in MongoDB with the reason: one entry per alias and document.

An entry is removed when a later write of the same document at the same or a newer version is acknowledged; until
then `verify` reports it apart from drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

from indexer.clock import utcnow

DEAD_LETTERS_COLLECTION: Final = "contact_search_dead_letters"


@dataclass(frozen=True)
class DeadLetter:
    document_id: str
    version: int
    reason: Mapping[str, Any]


def key(alias: str, document_id: str) -> str:
    return f"{alias}:{document_id}"


class DeadLetters:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], alias: str) -> None:
        self._collection = database[DEAD_LETTERS_COLLECTION]
        self.alias = alias

    async def add(self, document_id: str, version: int, target: str, reason: Mapping[str, Any]) -> bool:
        """Keep a refused document, with why; a refusal of the same document again replaces the entry.
        True when the entry is new."""
        now = utcnow()
        result = await self._collection.update_one(
            {"_id": key(self.alias, document_id)},
            {
                "$set": {
                    "alias": self.alias,
                    "document_id": document_id,
                    "version": version,
                    "target": target,
                    "reason": dict(reason),
                    "at": now,
                },
                "$inc": {"attempts": 1},
                "$setOnInsert": {"first_at": now},
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def settle(self, written: Iterable[tuple[str, int]]) -> int:
        """Remove the entries of documents now written at their refused version or a newer one; how many went."""
        clauses = [
            {"_id": key(self.alias, document_id), "version": {"$lte": version}} for document_id, version in written
        ]
        if not clauses:
            return 0
        return (await self._collection.delete_many({"$or": clauses})).deleted_count

    async def count(self) -> int:
        """How many entries the alias has."""
        return await self._collection.count_documents({"alias": self.alias})

    async def by_id(self) -> dict[str, DeadLetter]:
        """Every entry of the alias, by document id (there are few: each is a document to fix by hand)."""
        found: dict[str, DeadLetter] = {}
        async for entry in self._collection.find({"alias": self.alias}):
            document_id = str(entry.get("document_id"))
            found[document_id] = DeadLetter(document_id, int(entry.get("version") or 0), entry.get("reason") or {})
        return found
