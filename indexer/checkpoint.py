"""How far the sync of one alias has come, typed, and its fenced save; plus a `reindex` request beside it.

The checkpoint shares its document with the lease (see `lease`), so that a deposed leader's save matches nothing.
The reindex request lives in a document of its own: the `reindex` command and the worker write it, never the
document the worker saves all the time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection

from indexer.clock import utcnow
from indexer.lease import Lease, LeaseLost

UNSET: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class Position:
    """What the checkpoint records once a change is written: the backfill's last `_id`, the poller's two cursors
    (ms), or the change stream's resume token and the time of its event (every change before it is written).
    Fields left UNSET do not move."""

    backfill_after: Any = UNSET
    poll_updated_at: Any = UNSET
    poll_trash_at: Any = UNSET
    resume_token: Any = UNSET
    synced_at: Any = UNSET

    def merged(self, newer: Position) -> Position:
        """This position moved on by `newer` (positions are acknowledged in order)."""
        moved = {
            field.name: getattr(newer, field.name)
            for field in dataclasses.fields(newer)
            if getattr(newer, field.name) is not UNSET
        }
        return dataclasses.replace(self, **moved)

    def __bool__(self) -> bool:
        return any(getattr(self, field.name) is not UNSET for field in dataclasses.fields(self))


@dataclass(frozen=True)
class Checkpoint:
    """The sync state of one alias. `backfill_done` is None before any backfill started."""

    backfill_done: bool | None = None
    backfill_after: Any = None
    # A backfill that replaces a lost change history: reconcile once it is done.
    backfill_reconcile: bool = False
    backfill_started_at: dt.datetime | None = None
    backfill_finished_at: dt.datetime | None = None
    resume_token: Mapping[str, Any] | None = None
    poll_updated_at: int | None = None
    poll_trash_at: int | None = None
    # When the last poll or idle stream read began: every change before it is written.
    synced_at: dt.datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Checkpoint:
        backfill = document.get("backfill") or {}
        stream = document.get("stream") or {}
        poll = document.get("poll") or {}
        return cls(
            backfill_done=backfill.get("done"),
            backfill_after=backfill.get("after"),
            backfill_reconcile=bool(backfill.get("reconcile")),
            backfill_started_at=backfill.get("started_at"),
            backfill_finished_at=backfill.get("finished_at"),
            resume_token=stream.get("resume_token"),
            poll_updated_at=_int_or_none(poll.get("updated_at")),
            poll_trash_at=_int_or_none(poll.get("trash_at")),
            synced_at=document.get("synced_at"),
        )

    def to_document(self) -> dict[str, Any]:
        """The fields of the shared document this state owns (the lease is not among them)."""
        backfill: dict[str, Any] = {"after": self.backfill_after, "reconcile": self.backfill_reconcile}
        for key, value in (
            ("done", self.backfill_done),
            ("started_at", self.backfill_started_at),
            ("finished_at", self.backfill_finished_at),
        ):
            if value is not None:
                backfill[key] = value
        stream = {} if self.resume_token is None else {"resume_token": self.resume_token}
        poll = {
            key: value
            for key, value in (("updated_at", self.poll_updated_at), ("trash_at", self.poll_trash_at))
            if value is not None
        }
        document: dict[str, Any] = {"backfill": backfill, "stream": stream, "poll": poll}
        if self.synced_at is not None:  # absent until the first sync, as readers of the document expect
            document["synced_at"] = self.synced_at
        return document

    def advanced(self, position: Position) -> Checkpoint:
        moved: dict[str, Any] = {
            name: value
            for name in ("backfill_after", "poll_updated_at", "poll_trash_at", "resume_token", "synced_at")
            if (value := getattr(position, name)) is not UNSET
        }
        return dataclasses.replace(self, **moved) if moved else self

    def replace(self, **changes: Any) -> Checkpoint:
        return dataclasses.replace(self, **changes)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


class CheckpointStore:
    """Loads and saves the checkpoint of the lease's alias; a save is fenced by the lease."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    async def load(self) -> Checkpoint:
        return Checkpoint.from_document(await self.lease.collection.find_one({"_id": self.lease.alias}) or {})

    async def save(self, checkpoint: Checkpoint) -> None:
        """Record `checkpoint` if this process still holds the lease; raises LeaseLost when the lease moved."""
        async with self.lease.updating:
            saved = await self.lease.collection.update_one(
                self.lease.fence,
                {"$set": {**checkpoint.to_document(), "saved_at": utcnow()}},
            )
        if saved.matched_count == 0:
            self.lease.lost()
            raise LeaseLost(f"lease of {self.lease.alias} taken over")


@dataclass(frozen=True)
class ReindexRequest:
    """A reindex building `index`: the worker writes to it too once it acknowledged with its fencing token."""

    index: str
    ack_token: int | None = None


class ReindexRequests:
    """The one reindex request of an alias (written by `reindex`, acknowledged by the worker)."""

    def __init__(self, lease_collection: AsyncCollection[dict[str, Any]], alias: str) -> None:
        self._collection = lease_collection
        self._id = f"{alias}:reindex"

    async def load(self) -> ReindexRequest | None:
        found = await self._collection.find_one({"_id": self._id})
        if not found or not found.get("index"):
            return None
        token = found.get("ack_token")
        return ReindexRequest(str(found["index"]), int(token) if token is not None else None)

    async def request(self, index: str) -> None:
        await self._collection.replace_one(
            {"_id": self._id}, {"index": index, "requested_at": utcnow(), "ack_token": None}, upsert=True
        )

    async def acknowledge(self, index: str, token: int) -> bool:
        result = await self._collection.update_one({"_id": self._id, "index": index}, {"$set": {"ack_token": token}})
        return bool(result.matched_count > 0)

    async def finish(self, index: str) -> None:
        await self._collection.delete_one({"_id": self._id, "index": index})
