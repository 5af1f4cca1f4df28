"""The indexer's own state in MongoDB: one document per alias holding the writer's lease, the sync position and a
reindex in progress, plus the dead letters.

The lease and the checkpoint share a document so that saving a checkpoint is fenced by the lease in one atomic
single-document update (the test server has no transactions).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

CHECKPOINTS_COLLECTION: Final = "contact_search_checkpoints"
DEAD_LETTERS_COLLECTION: Final = "contact_search_dead_letters"
# A leader stops writing this long before its lease expires for the others, to absorb clock skew.
SAFETY_MARGIN: Final = 0.25

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another process holds the lease now: stop writing."""


def utcnow() -> dt.datetime:
    """Naive UTC with millisecond precision, as MongoDB stores dates."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def next_alias(alias: str) -> str:
    """The alias through which a reindex in progress receives the worker's writes."""
    return f"{alias}-next"


class CheckpointStore:
    """The lease and checkpoint document of one alias, as seen by one process (`holder`)."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        alias: str,
        holder: str,
        lease_ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alias = alias
        self.holder = holder
        self.lease_ttl = lease_ttl
        self.token = 0
        self._collection = database[CHECKPOINTS_COLLECTION]
        self._monotonic = monotonic
        self._valid_until = 0.0

    # The lease.

    def is_leader(self) -> bool:
        """Whether this process may write now: its last renewal is recent enough."""
        return self.token > 0 and self._monotonic() < self._valid_until

    def _renewed(self, started: float) -> None:
        self._valid_until = started + self.lease_ttl * (1 - SAFETY_MARGIN)

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; each acquisition gets a new, larger fencing token."""
        started = self._monotonic()
        now = utcnow()
        free = {
            "$or": [{"lease.expires_at": {"$lt": now}}, {"lease": {"$exists": False}}, {"lease.holder": self.holder}]
        }
        try:
            found = await self._collection.find_one_and_update(
                {"_id": self.alias, **free},
                {
                    "$set": {
                        "lease.holder": self.holder,
                        "lease.expires_at": now + dt.timedelta(seconds=self.lease_ttl),
                        "lease.acquired_at": now,
                    },
                    "$inc": {"lease.token": 1},
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # the document exists and its lease is held: the upsert collided
            return False
        if found is None or found.get("lease", {}).get("holder") != self.holder:
            return False
        self.token = int(found["lease"]["token"])
        self._renewed(started)
        return True

    async def renew(self) -> bool:
        """Extend the lease; False when it was taken over (then this process must stop writing)."""
        started = self._monotonic()
        now = utcnow()
        result = await self._collection.update_one(
            {"_id": self.alias, "lease.holder": self.holder, "lease.token": self.token},
            {"$set": {"lease.expires_at": now + dt.timedelta(seconds=self.lease_ttl)}},
        )
        if result.matched_count == 0:
            self._valid_until = 0.0
            return False
        self._renewed(started)
        return True

    async def release(self) -> None:
        """Let a follower take over at once instead of waiting for the expiry."""
        if self.token <= 0:
            return
        await self._collection.update_one(
            {"_id": self.alias, "lease.holder": self.holder, "lease.token": self.token},
            {"$set": {"lease.expires_at": utcnow() - dt.timedelta(seconds=1)}},
        )
        self._valid_until = 0.0

    # The checkpoint.

    async def load(self) -> dict[str, Any]:
        return await self._collection.find_one({"_id": self.alias}) or {"_id": self.alias}

    async def save(self, fields: Mapping[str, Any], unset: tuple[str, ...] = ()) -> dict[str, Any]:
        """Record `fields` (dotted paths) if this process still holds the lease; returns the whole document.

        Raises LeaseLost when the lease moved: the fencing token makes a deposed leader's save a no-op.
        """
        update: dict[str, Any] = {"$set": {**fields, "saved_at": utcnow()}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        saved = await self._collection.find_one_and_update(
            {"_id": self.alias, "lease.holder": self.holder, "lease.token": self.token},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if saved is None:
            self._valid_until = 0.0
            raise LeaseLost(f"lease of {self.alias} taken over")
        return saved

    # A reindex in progress (written by `reindex`, acknowledged by the worker).

    async def request_reindex(self, index: str) -> None:
        await self._collection.update_one(
            {"_id": self.alias},
            {"$set": {"reindex": {"index": index, "requested_at": utcnow(), "ack_token": None}}},
            upsert=True,
        )

    async def acknowledge_reindex(self, index: str) -> bool:
        result = await self._collection.update_one(
            {"_id": self.alias, "lease.holder": self.holder, "lease.token": self.token, "reindex.index": index},
            {"$set": {"reindex.ack_token": self.token}},
        )
        return result.matched_count > 0

    async def finish_reindex(self, index: str) -> None:
        await self._collection.update_one({"_id": self.alias, "reindex.index": index}, {"$unset": {"reindex": ""}})


async def dead_letter(
    database: AsyncDatabase[dict[str, Any]], alias: str, document_id: str, version: int, reason: Mapping[str, Any]
) -> None:
    """Keep a visitor Elasticsearch refused, with why, so that it can be fixed and replayed; one entry per visitor."""
    now = utcnow()
    await database[DEAD_LETTERS_COLLECTION].update_one(
        {"_id": f"{alias}:{document_id}"},
        {
            "$set": {"alias": alias, "document_id": document_id, "version": version, "reason": dict(reason), "at": now},
            "$inc": {"attempts": 1},
            "$setOnInsert": {"first_at": now},
        },
        upsert=True,
    )
