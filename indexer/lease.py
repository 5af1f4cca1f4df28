"""The writer lease: at most one indexer process writes for an alias at a time, fenced by a token that grows with
each acquisition. It lives in the alias's checkpoint document so that a checkpoint save is fenced by it in one
atomic single-document update (the test server has no transactions).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from indexer.clock import utcnow

CHECKPOINTS_COLLECTION: Final = "contact_search_checkpoints"
# A leader stops writing this long before its lease expires for the others, to absorb clock skew.
SAFETY_MARGIN: Final = 0.25

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another process holds the lease now: stop writing."""


def cancelled() -> bool:
    """Whether the running task was asked to stop, even if a library swallowed the CancelledError."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Lease:
    """The lease of one alias as seen by one process (`holder`)."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        alias: str,
        holder: str,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alias = alias
        self.holder = holder
        self.ttl = ttl
        self.token = 0
        self.collection = database[CHECKPOINTS_COLLECTION]
        # This process's updates of the shared document go one at a time: a server that applies an update by
        # reading and rewriting the whole document (FerretDB) would otherwise let one undo the other.
        self.updating = asyncio.Lock()
        self._monotonic = monotonic
        self._valid_until = 0.0

    @property
    def fence(self) -> dict[str, Any]:
        """The filter that matches the document only while this process holds the lease it acquired."""
        return {"_id": self.alias, "lease.holder": self.holder, "lease.token": self.token}

    def is_held(self) -> bool:
        """Whether this process may write now: its last renewal is recent enough."""
        return self.token > 0 and self._monotonic() < self._valid_until

    def check(self) -> None:
        if not self.is_held():
            raise LeaseLost("lease not renewed in time")

    def lost(self) -> None:
        self._valid_until = 0.0

    def _renewed(self, started: float) -> None:
        self._valid_until = started + self.ttl * (1 - SAFETY_MARGIN)

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; each acquisition gets a new, larger fencing token."""
        started = self._monotonic()
        now = utcnow()
        free = {
            "$or": [{"lease.expires_at": {"$lt": now}}, {"lease": {"$exists": False}}, {"lease.holder": self.holder}]
        }
        try:
            async with self.updating:
                found = await self.collection.find_one_and_update(
                    {"_id": self.alias, **free},
                    {
                        "$set": {
                            "lease.holder": self.holder,
                            "lease.expires_at": now + dt.timedelta(seconds=self.ttl),
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
        async with self.updating:
            result = await self.collection.update_one(
                self.fence, {"$set": {"lease.expires_at": utcnow() + dt.timedelta(seconds=self.ttl)}}
            )
        if result.matched_count == 0:
            self.lost()
            return False
        self._renewed(started)
        return True

    async def release(self) -> None:
        """Let a follower take over at once instead of waiting for the expiry."""
        if self.token <= 0:
            return
        async with self.updating:
            await self.collection.update_one(
                self.fence, {"$set": {"lease.expires_at": utcnow() - dt.timedelta(seconds=1)}}
            )
        self.lost()

    async def keep(self) -> None:
        """Renew every third of the lease's life until the lease is taken over; run as a task beside the work."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                renewed = await self.renew()
            except PyMongoError as error:
                if cancelled():  # PyMongo's server selection turns a cancellation into its own timeout error
                    raise asyncio.CancelledError from error
                log.warning("cannot renew the lease: %s", type(error).__name__)
                continue
            if not renewed:
                log.warning("the lease of %s was taken over; stopping writes", self.alias)
                return
