"""Pure change records: what the backfill, the poller and the change stream hand to the writer, and the rules that
decide when a checkpoint may move. No I/O here; `source`, `sink` and `worker` do it.
"""

from __future__ import annotations

import datetime as dt
import enum
import heapq
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from bson import Timestamp

from indexer import transform

# Rocket.Chat's change-stream operation types that describe a visitor write.
_WRITE_EVENTS: Final = frozenset({"insert", "update", "replace"})
# Events after which the stream cannot go on: the collection or database went away or was renamed.
_FATAL_EVENTS: Final = frozenset({"invalidate", "drop", "dropDatabase", "rename"})

T = TypeVar("T")


class Op(enum.Enum):
    UPSERT = "upsert"  # the visitor as it is now: index it (or delete it when disabled)
    DELETE = "delete"  # the visitor is gone: delete it with `version`
    LOOKUP = "lookup"  # a write whose document the event does not carry: read it by id, then upsert


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to one visitor, with the checkpoint position reached once it is written."""

    op: Op
    visitor_id: Any
    version: int
    visitor: Mapping[str, Any] | None = None
    position: Mapping[str, Any] = field(default_factory=dict)
    # The index document of a searchable visitor, built by the reader so that the writer only sends it.
    document: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def document_id(self) -> str:
        return transform.document_id(self.visitor_id)


@dataclass(frozen=True, slots=True)
class StreamInvalidated:
    """The change stream ended for good (collection dropped or renamed): the index must be rebuilt."""

    reason: str


def upsert(visitor: Mapping[str, Any], position: Mapping[str, Any] | None = None) -> Change:
    """The visitor as it is now; a disabled one becomes a versioned delete when written."""
    document = transform.to_index_document(visitor) if transform.is_searchable(visitor) else None
    return Change(Op.UPSERT, visitor.get("_id"), transform.version_of(visitor), visitor, position or {}, document)


def from_trash(entry: Mapping[str, Any], position: Mapping[str, Any] | None = None) -> Change:
    """A Rocket.Chat 6 trash entry: the visitor was deleted at `_deletedAt`, which beats its last write."""
    moment = entry.get("_deletedAt") or entry.get("_updatedAt")
    version = transform.epoch_millis(moment) if isinstance(moment, dt.datetime) else transform.version_of(entry)
    return Change(Op.DELETE, entry.get("_id"), version, None, position or {})


def event_millis(event: Mapping[str, Any]) -> int:
    """When a change-stream event happened, rounded up to the millisecond.

    `wallTime` (MongoDB 6+) has milliseconds; `clusterTime` only seconds, so its last millisecond is taken: a
    delete must beat every write made before it, whose `_updatedAt` is at most that.
    """
    candidates = [0]
    wall = event.get("wallTime")
    if isinstance(wall, dt.datetime):
        candidates.append(transform.epoch_millis(wall))
    cluster = event.get("clusterTime")
    if isinstance(cluster, Timestamp):
        candidates.append(cluster.time * 1000 + 999)
    return max(candidates)


def from_change_event(event: Mapping[str, Any]) -> Change | StreamInvalidated | None:
    """The change record of one change-stream event on the visitor collection; None for events to skip."""
    operation = event.get("operationType")
    if operation in _FATAL_EVENTS:
        return StreamInvalidated(str(operation))
    key = event.get("documentKey")
    if not isinstance(key, Mapping) or "_id" not in key:
        return None
    position = {"stream.resume_token": event.get("_id")}
    if operation == "delete":
        return Change(Op.DELETE, key["_id"], event_millis(event), None, position)
    if operation not in _WRITE_EVENTS:
        return None
    document = event.get("fullDocument")
    if isinstance(document, Mapping):
        return upsert(document, position)
    # `update` without `updateLookup`, or the visitor was deleted before the lookup (its delete event follows).
    return Change(Op.LOOKUP, key["_id"], event_millis(event), None, position)


class AckTracker:
    """Decides how far the checkpoint may move: past a change only once it and every change before it are written.

    Writes may finish out of order (batches in flight together, retried items); the tracker hands out the
    position of the longest acknowledged prefix.
    """

    def __init__(self) -> None:
        self._next = 0
        self._pending: OrderedDict[int, tuple[bool, Mapping[str, Any]]] = OrderedDict()

    def begin(self, position: Mapping[str, Any]) -> int:
        """Register a batch about to be written; returns its ticket."""
        ticket = self._next
        self._next += 1
        self._pending[ticket] = (False, position)
        return ticket

    def done(self, ticket: int) -> dict[str, Any] | None:
        """Mark a batch written; returns what the checkpoint may now record (the positions of the newly
        acknowledged prefix merged in order), or None when the prefix did not grow."""
        _, position = self._pending[ticket]
        self._pending[ticket] = (True, position)
        reached: dict[str, Any] | None = None
        while self._pending:
            first = next(iter(self._pending))
            acknowledged, first_position = self._pending[first]
            if not acknowledged:
                break
            del self._pending[first]
            reached = {**(reached or {}), **first_position}
        return reached

    @property
    def in_flight(self) -> int:
        return len(self._pending)


class SeenWindow:
    """Versions recently written by the poller, so the overlap window re-reads without re-writing.

    Bounded: when full, the oldest entries are forgotten and at worst written again (writes are idempotent).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._versions: OrderedDict[str, int] = OrderedDict()

    def is_new(self, document_id: str, version: int) -> bool:
        known = self._versions.get(document_id)
        return known is None or version > known

    def remember(self, document_id: str, version: int) -> None:
        self._versions[document_id] = version
        self._versions.move_to_end(document_id)
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)

    def forget_before(self, version: int) -> None:
        """Drop entries older than the overlap horizon (their writes can no longer be re-read)."""
        stale = [key for key, known in self._versions.items() if known < version]
        for key in stale:
            del self._versions[key]

    def __len__(self) -> int:
        return len(self._versions)


def poll_since(checkpoint_millis: int | None, overlap_millis: int) -> int:
    """The `_updatedAt` (ms) a poll starts from: the checkpoint minus the overlap for late commits."""
    if checkpoint_millis is None:
        return 0
    return max(0, checkpoint_millis - overlap_millis)


def millis_to_datetime(millis: int) -> dt.datetime:
    """Naive UTC, as the Mongo driver stores and compares them."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=millis)


class BulkOutcome(enum.Enum):
    SETTLED = "settled"  # the index holds this write (or a newer one)
    RETRY = "retry"  # a transient failure: send it again
    REJECTED = "rejected"  # Elasticsearch refuses this document for good: dead-letter it


def classify(item: Mapping[str, Any]) -> BulkOutcome:
    """The outcome of one bulk response item (`{op: {status, error, ...}}`)."""
    op = next(iter(item), "")
    result = item.get(op)
    if not isinstance(result, Mapping):
        return BulkOutcome.RETRY
    status = result.get("status")
    if not isinstance(status, int):  # the request never reached Elasticsearch (connection lost, timeout)
        return BulkOutcome.RETRY
    if status < 300 or status == 409 or (op == "delete" and status == 404):
        return BulkOutcome.SETTLED
    if status == 429 or status >= 500:
        return BulkOutcome.RETRY
    return BulkOutcome.REJECTED


def backoff_seconds(attempt: int, initial: float = 0.5, ceiling: float = 30.0) -> float:
    return float(min(ceiling, initial * 2 ** max(0, attempt)))


async def merge_sorted(sources: Sequence[AsyncIterator[T]], key: Callable[[T], str]) -> AsyncGenerator[T, None]:
    """Streams that each ascend by `key` as one ascending stream; equal keys are all kept, earlier sources first.

    One item of each source is held at a time (the reconciliation's id passes, `verify`'s MongoDB passes).
    """
    heads: list[tuple[str, int, T]] = []
    for number, source in enumerate(sources):
        first = await anext(source, None)
        if first is not None:
            heapq.heappush(heads, (key(first), number, first))
    while heads:
        _, number, item = heapq.heappop(heads)
        yield item
        following = await anext(sources[number], None)
        if following is not None:
            heapq.heappush(heads, (key(following), number, following))


async def extra_ids(
    source_ids: AsyncIterator[str], index_ids: AsyncIterator[tuple[str, int]]
) -> AsyncIterator[tuple[str, int]]:
    """Ids (with their index version) present in the index but not in the source; both streams ascending.

    Memory stays constant: one id of each side at a time.
    """
    source_id = await anext(source_ids, None)
    async for indexed in index_ids:
        indexed_id = indexed[0]
        while source_id is not None and source_id < indexed_id:
            source_id = await anext(source_ids, None)
        if source_id != indexed_id:
            yield indexed
