"""Pure change records: what the backfill, the poller and the change stream hand to the writer. No I/O here."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bson import Timestamp

from indexer import documents
from indexer.checkpoint import UNSET, Position
from indexer.specs import Spec

# Change-stream operation types that describe a write of a document.
_WRITE_EVENTS: Final = frozenset({"insert", "update", "replace"})
# Events after which the stream cannot go on: the collection or database went away or was renamed.
_FATAL_EVENTS: Final = frozenset({"invalidate", "drop", "dropDatabase", "rename"})


class Op(enum.Enum):
    UPSERT = "upsert"  # the document as it is now: index it (or delete it when excluded)
    DELETE = "delete"  # the document is gone: delete it with `version`
    LOOKUP = "lookup"  # a write whose document the event does not carry: read it by id, then upsert


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to one document, with the checkpoint position reached once it is written."""

    op: Op
    source_id: Any
    version: int
    position: Position = field(default_factory=Position)
    # The index document of an upsert that is not excluded, built by the reader so that the writer only sends it;
    # None for deletes, lookups and excluded documents (which become deletes).
    document: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def document_id(self) -> str:
        return documents.document_id(self.source_id)


@dataclass(frozen=True, slots=True)
class StreamInvalidated:
    """The change stream ended for good (collection dropped or renamed): the index must be rebuilt."""

    reason: str


def upsert(spec: Spec, document: Mapping[str, Any], position: Position | None = None) -> Change:
    """The document as it is now; an excluded one becomes a versioned delete when written."""
    indexed = None if spec.excluded(document) else spec.to_document(document)
    return Change(Op.UPSERT, document.get("_id"), spec.version_of(document), position or Position(), indexed)


def from_trash(spec: Spec, entry: Mapping[str, Any], position: Position | None = None) -> Change:
    """A Rocket.Chat 6 trash entry: the document was deleted at `_deletedAt`, which beats its last write."""
    moment = entry.get("_deletedAt") or entry.get("_updatedAt")
    version = documents.epoch_millis(moment) if isinstance(moment, dt.datetime) else spec.version_of(entry)
    return Change(Op.DELETE, entry.get("_id"), version, position or Position())


def event_millis(event: Mapping[str, Any]) -> int:
    """When a change-stream event happened, rounded up to the millisecond.

    `wallTime` (MongoDB 6+) has milliseconds; `clusterTime` only seconds, so its last millisecond is taken: a
    delete must beat every write made before it, whose `_updatedAt` is at most that.
    """
    candidates = [0]
    wall = event.get("wallTime")
    if isinstance(wall, dt.datetime):
        candidates.append(documents.epoch_millis(wall))
    cluster = event.get("clusterTime")
    if isinstance(cluster, Timestamp):
        candidates.append(cluster.time * 1000 + 999)
    return max(candidates)


def event_moment(event: Mapping[str, Any]) -> dt.datetime | None:
    """When a change-stream event happened, rounded down (naive UTC): once it is written, every change made before
    this moment is. `wallTime` has milliseconds, `clusterTime` seconds."""
    wall = event.get("wallTime")
    if isinstance(wall, dt.datetime):
        return wall.astimezone(dt.UTC).replace(tzinfo=None) if wall.tzinfo else wall
    cluster = event.get("clusterTime")
    if isinstance(cluster, Timestamp):
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=cluster.time)
    return None


def from_change_event(spec: Spec, event: Mapping[str, Any]) -> Change | StreamInvalidated | None:
    """The change record of one change-stream event on the spec's collection; None for events to skip."""
    operation = event.get("operationType")
    if operation in _FATAL_EVENTS:
        return StreamInvalidated(str(operation))
    key = event.get("documentKey")
    if not isinstance(key, Mapping) or "_id" not in key:
        return None
    moment = event_moment(event)
    position = Position(resume_token=event.get("_id"), synced_at=UNSET if moment is None else moment)
    if operation == "delete":
        return Change(Op.DELETE, key["_id"], event_millis(event), position)
    if operation not in _WRITE_EVENTS:
        return None
    document = event.get("fullDocument")
    if isinstance(document, Mapping):
        return upsert(spec, document, position)
    # `update` without `updateLookup`, or the document was deleted before the lookup (its delete event follows).
    return Change(Op.LOOKUP, key["_id"], event_millis(event), position)
