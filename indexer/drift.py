"""The pure comparison of MongoDB with the index: a merge-join of two id-sorted streams into verdicts, the bounded
windows it runs over, the tally of what it found and the change that undoes each drift. No I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from bisect import bisect_right
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

from indexer import documents
from indexer.changes import Change, Op, upsert
from indexer.dead_letters import DeadLetter
from indexer.specs import Spec

EXAMPLES: Final = 10


class OutOfOrder(Exception):
    """A stream was not sorted by printed id, so a merge would report false drift."""


class Kind(enum.Enum):
    IN_SYNC = "in_sync"
    MISSING = "missing"
    EXTRA = "extra"
    DIFFERENT = "different"
    # Missing or different, but Elasticsearch refused this very version: a dead letter, not drift.
    DEAD_LETTERED = "dead_lettered"


DRIFT_KINDS: Final = (Kind.MISSING, Kind.EXTRA, Kind.DIFFERENT)


@dataclass(frozen=True, slots=True)
class Expected:
    """A document as MongoDB holds it, with the hash the index must hold for it (None: must not be indexed)."""

    id: str
    content_hash: str | None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    version: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Indexed:
    """A document of the index: its `id` field, its hash, its external version, and its `_id` when that differs."""

    id: str
    content_hash: str | None
    version: int = 0
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    id: str
    expected: Expected | None = None
    indexed: Indexed | None = None


def expect(spec: Spec, document: Mapping[str, Any]) -> Expected:
    """What the index must hold for this document: its content hash, or nothing when the spec excludes it."""
    content_hash = None if spec.excluded(document) else spec.content_hash(document)
    return Expected(documents.document_id(document.get("_id")), content_hash, document, spec.version_of(document))


def diff(expected: Iterable[Expected], indexed: Iterable[Indexed]) -> Iterator[Verdict]:
    """Merge-join two streams sorted by id into one verdict per id (per Mongo document when ids repeat)."""
    wants, haves = iter(expected), iter(indexed)
    want, have = next(wants, None), next(haves, None)
    while want is not None or have is not None:
        if have is None or (want is not None and want.id < have.id):
            assert want is not None
            yield Verdict(Kind.IN_SYNC if want.content_hash is None else Kind.MISSING, want.id, want, None)
            want = next(wants, None)
        elif want is None or have.id < want.id:
            yield Verdict(Kind.EXTRA, have.id, None, have)
            have = next(haves, None)
        else:
            if want.content_hash is None:
                kind = Kind.EXTRA
            elif want.content_hash != have.content_hash:
                kind = Kind.DIFFERENT
            else:
                kind = Kind.IN_SYNC
            yield Verdict(kind, want.id, want, have)
            want, have = next(wants, None), next(haves, None)


def with_dead_letters(verdict: Verdict, dead_letters: Mapping[str, DeadLetter]) -> Verdict:
    """A missing or different document whose current version Elasticsearch refused is dead-lettered, not drift.
    Once the document changed, the dead letter is stale: the drift stands and a repair retries it."""
    if verdict.kind not in (Kind.MISSING, Kind.DIFFERENT) or verdict.expected is None:
        return verdict
    letter = dead_letters.get(verdict.id)
    if letter is None or letter.version < verdict.expected.version:
        return verdict
    return Verdict(Kind.DEAD_LETTERED, verdict.id, verdict.expected, verdict.indexed)


class _Keyed(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=_Keyed)


class _Buffer(Generic[E]):
    """The read-ahead of one sorted stream, checked for order as it is read."""

    def __init__(self, stream: AsyncIterator[E], size: int, side: str) -> None:
        self.stream, self.size, self.side = stream, size, side
        self.items: list[E] = []
        self.done = False
        self.last: str | None = None

    async def fill(self) -> None:
        while not self.done and len(self.items) < self.size:
            item = await anext(self.stream, None)
            if item is None:
                self.done = True
            else:
                if self.last is not None and item.id < self.last:
                    raise OutOfOrder(f"{self.side}: {item.id!r} came after {self.last!r}")
                self.last = item.id
                self.items.append(item)

    def take_through(self, bound: str | None) -> list[E]:
        cut = len(self.items) if bound is None else bisect_right(self.items, bound, key=lambda item: item.id)
        taken, self.items = self.items[:cut], self.items[cut:]
        return taken


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    """Both at once (the two sides' reads overlap); if one fails, the other is cancelled before the error rises."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def windows(
    expected: AsyncIterator[Expected], indexed: AsyncIterator[Indexed], size: int
) -> AsyncGenerator[tuple[list[Expected], list[Indexed]], None]:
    """Consecutive slices of both sorted streams, each pair covering the same id range completely.

    A slice ends at the smaller of the two read-aheads' last ids, so every id up to it has been read on both sides;
    each side holds at most `size` entries at a time.
    """
    wants = _Buffer(expected, size, "MongoDB")
    haves = _Buffer(indexed, size, "Elasticsearch")
    while True:
        await _both(wants.fill(), haves.fill())
        if wants.done and haves.done and not wants.items and not haves.items:
            return
        ends = [buffer.items[-1].id for buffer in (wants, haves) if not buffer.done]
        bound = min(ends) if ends else None
        yield wants.take_through(bound), haves.take_through(bound)


@dataclass
class Tally:
    """What one comparison found; ids only (never emails, phones or custom values), at most `examples` per kind.

    Accounting: every MongoDB document is indexed, excluded by the spec's rule, dead-lettered, or drift.
    """

    examples: int = EXAMPLES
    documents: int = 0  # in MongoDB
    entries: int = 0  # in the index
    checked: int = 0
    excluded: int = 0  # in sync because not indexed by rule (disabled, say)
    counts: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    example_ids: dict[Kind, list[str]] = field(
        default_factory=lambda: {kind: [] for kind in (*DRIFT_KINDS, Kind.DEAD_LETTERED)}
    )

    def add(self, verdict: Verdict) -> None:
        self.checked += 1
        self.counts[verdict.kind] += 1
        if verdict.kind is Kind.IN_SYNC and verdict.expected is not None and verdict.expected.content_hash is None:
            self.excluded += 1
        examples = self.example_ids.get(verdict.kind)
        if examples is not None and len(examples) < self.examples:
            examples.append(verdict.id)

    @property
    def drift(self) -> int:
        return sum(self.counts[kind] for kind in DRIFT_KINDS)

    @property
    def indexed(self) -> int:
        return self.counts[Kind.IN_SYNC] - self.excluded


def repair_change(spec: Spec, verdict: Verdict, now_ms: int) -> Change | None:
    """The change that undoes one drift, or None when there is nothing to undo."""
    if verdict.kind not in DRIFT_KINDS:
        return None
    if verdict.expected is not None:
        # Index (or, for an excluded document, delete) at the document's own version, as the worker would: this
        # beats the stale entry and loses to anything newer the worker writes meanwhile.
        return upsert(spec, verdict.expected.document)
    indexed = verdict.indexed
    assert indexed is not None
    # Gone from MongoDB, so no version of it can come back: the current time beats every stale write in flight,
    # and the version seen beats the entry even when its version lies ahead of this host's clock.
    return Change(Op.DELETE, indexed.document_id or indexed.id, max(now_ms, indexed.version))


def ahead_of_source(verdict: Verdict) -> int | None:
    """The index's version of a document when it is newer than MongoDB's, else None. MongoDB went back to an
    earlier point (a restore): a write at the document's own version would lose to the newer one (409) for ever."""
    if verdict.kind not in DRIFT_KINDS or verdict.expected is None or verdict.indexed is None:
        return None
    return verdict.indexed.version if verdict.indexed.version > verdict.expected.version else None


def over_newer_version(
    spec: Spec, source_id: Any, current: Mapping[str, Any] | None, beaten: int, now_ms: int
) -> Change:
    """The change that puts MongoDB's document as it is now (`current`, re-read just before writing, None when it is
    gone) over an index entry or a delete tombstone at version `beaten`: at the first version that beats it, unless
    the document was written since at a version that wins by itself."""
    if current is None:
        return Change(Op.DELETE, source_id, max(now_ms, beaten + 1))
    change = upsert(spec, current)
    return change if change.version >= beaten else dataclasses.replace(change, version=beaten + 1)
