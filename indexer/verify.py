"""`verify [--repair]`: compare every visitor in MongoDB with the index, report the drift and optionally repair it.

Both sides are streamed once, in the order of the printed id (`transform.document_id`, the index's `id` keyword),
and merge-joined a bounded window at a time: memory does not grow with the collection.

Ordering rule. Ids are compared as Python strings: code-point order, which is also the order of their UTF-8 bytes,
the order of Elasticsearch's `keyword` sort and of MongoDB's (binary) string comparison. MongoDB cannot sort on a
derived string, so its side is a merge of passes, each sorted by the printed id on its own:

- `_id` strings (Rocket.Chat's Meteor ids) print as themselves: one cursor on `{_id: {$type: "string"}}` sorted
  on `_id`;
- ObjectIds print as 24 lowercase hex digits, and hex order is the order of the 12 bytes MongoDB compares: one
  cursor on `{_id: {$type: "objectId"}}` sorted on `_id`;
- any other type (numbers, dates, documents, binary: never made by Rocket.Chat) prints in an order that differs from
  BSON's, so those visitors are sorted here: runs of at most `spill_size` sorted in memory and spilled to temporary
  files, then merged. A collection without such ids costs one empty query.

Visitors whose ids print alike (the string "5" and the number 5) share one index document: the later ones are
reported. Should either side ever come out of order (say, a collection created with a non-binary default collation),
verify stops with `OutOfOrder` rather than report, and repair, drift that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import logging
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, Protocol, TextIO, TypeVar

import bson
from bson.codec_options import CodecOptions
from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from indexer import changes, schema, sink, transform
from indexer.settings import Settings

log = logging.getLogger(__name__)

EXAMPLES = 10
SPILL_SIZE = 10_000
KEEP_ALIVE = "5m"
SORTED_BY_SERVER = ("string", "objectId")


class OutOfOrder(Exception):
    """A stream was not sorted by printed id, so a merge would report false drift."""


class Kind(enum.Enum):
    IN_SYNC = "in_sync"
    MISSING = "missing"
    EXTRA = "extra"
    DIFFERENT = "different"


DRIFT_KINDS = (Kind.MISSING, Kind.EXTRA, Kind.DIFFERENT)


@dataclass(frozen=True, slots=True)
class Expected:
    """A visitor as MongoDB holds it, with the hash the index must hold for it (None: must not be indexed)."""

    id: str
    content_hash: str | None
    visitor: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


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


def expect(visitor: Mapping[str, Any]) -> Expected:
    """What the index must hold for this visitor: the `content_hash` of `transform.to_index_document`, or nothing."""
    content_hash = transform.content_hash(transform.to_printable(visitor)) if transform.is_searchable(visitor) else None
    return Expected(transform.document_id(visitor.get("_id")), content_hash, visitor)


def diff(expected: Iterable[Expected], indexed: Iterable[Indexed]) -> Iterator[Verdict]:
    """Merge-join two streams sorted by id into one verdict per id (per Mongo visitor when ids repeat)."""
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


class _Keyed(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=_Keyed)
T = TypeVar("T")


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


# MongoDB side ---------------------------------------------------------------------------------------------------


async def _sorted_by_server(
    collection: AsyncCollection[dict[str, Any]], bson_type: str, batch_size: int
) -> AsyncGenerator[Expected, None]:
    cursor = collection.find({"_id": {"$type": bson_type}}, batch_size=batch_size).sort("_id", 1)
    async with cursor:
        async for visitor in cursor:
            yield expect(visitor)


def _spill(run: list[tuple[str, dict[str, Any]]], path: Path, codec: CodecOptions[Any]) -> Path:
    run.sort(key=lambda entry: entry[0])
    with path.open("wb") as spill:
        for document_id, visitor in run:
            spill.write(bson.encode({"id": document_id, "visitor": visitor}, codec_options=codec))
    return path


def _read_run(path: Path, codec: CodecOptions[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open("rb") as spill:
        for entry in bson.decode_file_iter(spill, codec_options=codec):
            yield entry["id"], entry["visitor"]


async def _sorted_here(
    collection: AsyncCollection[dict[str, Any]], batch_size: int, spill_size: int
) -> AsyncGenerator[Expected, None]:
    """Visitors whose `_id` is neither a string nor an ObjectId, sorted by printed id through an external sort."""
    codec: CodecOptions[Any] = collection.codec_options
    cursor = collection.find({"_id": {"$not": {"$type": list(SORTED_BY_SERVER)}}}, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="contact-search-verify-") as name:
        directory = Path(name)
        runs: list[Path] = []
        run: list[tuple[str, dict[str, Any]]] = []
        async with cursor:
            async for visitor in cursor:
                run.append((transform.document_id(visitor.get("_id")), visitor))
                if len(run) >= spill_size:
                    runs.append(_spill(run, directory / f"run-{len(runs)}.bson", codec))
                    run = []
        if runs:
            if run:
                runs.append(_spill(run, directory / f"run-{len(runs)}.bson", codec))
            log.info("sorted visitors with other _id types through %d spilled runs", len(runs))
            merged: Iterable[tuple[str, dict[str, Any]]] = heapq.merge(
                *(_read_run(path, codec) for path in runs), key=lambda entry: entry[0]
            )
        else:
            merged = sorted(run, key=lambda entry: entry[0])
        for _, visitor in merged:
            yield expect(visitor)


# Elasticsearch side ---------------------------------------------------------------------------------------------


async def _scan(
    client: AsyncElasticsearch, index: str, query: Mapping[str, Any], sort: list[Any], size: int
) -> AsyncGenerator[dict[str, Any], None]:
    """Every hit of `query` in `sort` order, through a point in time (a stable snapshot) and `search_after`."""
    opened = await client.open_point_in_time(index=index, keep_alive=KEEP_ALIVE)
    pit_id: str = opened["id"]
    try:
        after: list[Any] | None = None
        while True:
            response = await client.search(
                pit={"id": pit_id, "keep_alive": KEEP_ALIVE},
                query=query,
                sort=sort,
                search_after=after,
                size=size,
                source={"includes": [schema.FIELD_ID, schema.FIELD_CONTENT_HASH]},
                version=True,
                track_total_hits=False,
            )
            pit_id = response["pit_id"]
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            for hit in hits:
                yield hit
            if len(hits) < size:
                return
            after = hits[-1]["sort"]
    finally:
        await client.close_point_in_time(id=pit_id)


def _indexed(hit: Mapping[str, Any], key: str) -> Indexed:
    source = hit.get("_source") or {}
    content_hash = source.get(schema.FIELD_CONTENT_HASH)
    document_id = hit["_id"]
    if not isinstance(content_hash, str):
        content_hash = None
    return Indexed(key, content_hash, int(hit.get("_version", 0)), None if document_id == key else document_id)


async def _documents(client: AsyncElasticsearch, index: str, size: int) -> AsyncGenerator[Indexed, None]:
    query = {"exists": {"field": schema.FIELD_ID}}
    async for hit in _scan(client, index, query, [{schema.FIELD_ID: "asc"}], size):
        yield _indexed(hit, hit["sort"][0])


async def _documents_without_id(client: AsyncElasticsearch, index: str, size: int) -> AsyncGenerator[Indexed, None]:
    """Documents lacking the `id` field (never written by the indexer): extra by definition."""
    query = {"bool": {"must_not": [{"exists": {"field": schema.FIELD_ID}}]}}
    async for hit in _scan(client, index, query, ["_shard_doc"], size):
        yield _indexed(hit, hit["_id"])


async def _nothing() -> AsyncGenerator[Indexed, None]:
    return
    yield  # an empty async generator


# The check and the repair ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one comparison found; ids only (never emails, phones or custom values), at most `examples` per kind."""

    examples: int = EXAMPLES
    visitors: int = 0
    documents: int = 0
    checked: int = 0
    counts: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    example_ids: dict[Kind, list[str]] = field(default_factory=lambda: {kind: [] for kind in DRIFT_KINDS})

    def add(self, verdict: Verdict) -> None:
        self.checked += 1
        self.counts[verdict.kind] += 1
        examples = self.example_ids.get(verdict.kind)
        if examples is not None and len(examples) < self.examples:
            examples.append(verdict.id)

    @property
    def drift(self) -> int:
        return sum(self.counts[kind] for kind in DRIFT_KINDS)


def repair_action(index: str, verdict: Verdict, now_ms: int) -> dict[str, Any] | None:
    """The bulk action that undoes one drift, or None when there is nothing to undo."""
    if verdict.kind is Kind.IN_SYNC:
        return None
    if verdict.expected is not None:
        # Index (or, for a disabled visitor, delete) at the visitor's own version, as the worker would: this beats
        # the stale document and loses to anything newer the worker writes meanwhile.
        return sink.index_action(index, verdict.expected.visitor)
    indexed = verdict.indexed
    assert indexed is not None
    # Gone from MongoDB, so no version of it can come back: the current time beats every stale write in flight,
    # and the version seen beats the document even when its `_updatedAt` lies ahead of this host's clock.
    return sink.delete_action(index, indexed.document_id or indexed.id, max(now_ms, indexed.version))


class Repairs:
    """Bounded batches of the writes that undo drift, sent through the sink with external versions."""

    def __init__(self, client: AsyncElasticsearch, index: str, batch_size: int) -> None:
        self.client, self.index, self.batch_size = client, index, batch_size
        self.pending: list[dict[str, Any]] = []
        self.written = 0
        self.rejected = 0

    async def add(self, verdict: Verdict) -> None:
        action = repair_action(self.index, verdict, int(time.time() * 1000))
        if action is None:
            return
        self.pending.append(action)
        if len(self.pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        settled, rejected = await sink.write(self.client, batch, chunk_size=self.batch_size)
        self.written += settled
        self.rejected += len(rejected)
        for item in rejected:
            failure = item.get(next(iter(item), ""), {})
            log.warning("repair of %s rejected with status %s", failure.get("_id"), failure.get("status"))


async def compare(
    database: AsyncDatabase[dict[str, Any]],
    client: AsyncElasticsearch,
    index: str | None,
    *,
    batch_size: int,
    repairs: Repairs | None = None,
    spill_size: int = SPILL_SIZE,
    examples: int = EXAMPLES,
) -> Tally:
    """One pass over both sides; with `repairs`, every drift found is queued for repair as the pass goes."""
    tally = Tally(examples=examples)
    collection = database[schema.VISITORS_COLLECTION]
    async with contextlib.AsyncExitStack() as stack:

        async def closed_at_exit(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
            return await stack.enter_async_context(contextlib.aclosing(stream))

        # The external sort reads its whole pass when first asked, so it comes first, before other cursors open.
        passes = [_sorted_here(collection, batch_size, spill_size)]
        passes += [_sorted_by_server(collection, bson_type, batch_size) for bson_type in SORTED_BY_SERVER]
        expected = await closed_at_exit(
            changes.merge_sorted([await closed_at_exit(stream) for stream in passes], key=attrgetter("id"))
        )
        indexed = await closed_at_exit(_nothing() if index is None else _documents(client, index, batch_size))
        async for wants, haves in await closed_at_exit(windows(expected, indexed, batch_size)):
            tally.visitors += len(wants)
            tally.documents += len(haves)
            for verdict in diff(wants, haves):
                tally.add(verdict)
                if repairs is not None:
                    await repairs.add(verdict)
    if index is not None:
        async with contextlib.aclosing(_documents_without_id(client, index, batch_size)) as orphans:
            async for orphan in orphans:
                tally.documents += 1
                verdict = Verdict(Kind.EXTRA, orphan.id, None, orphan)
                tally.add(verdict)
                if repairs is not None:
                    await repairs.add(verdict)
    return tally


@dataclass(frozen=True)
class Repaired:
    """What `--repair` sent: writes that settled (a newer version already indexed counts too) and rejected ones."""

    written: int
    rejected: int


@dataclass
class Report:
    alias: str
    index: str | None
    found: Tally
    seconds: float
    repaired: Repaired | None = None
    recheck: Tally | None = None

    @property
    def exit_code(self) -> int:
        if self.repaired is None:
            return 0 if self.index is not None and self.found.drift == 0 else 1
        if self.found.drift == 0:
            return 0
        clean = self.recheck is not None and self.recheck.drift == 0
        return 0 if self.repaired.rejected == 0 and clean else 1


async def verify(
    database: AsyncDatabase[dict[str, Any]],
    client: AsyncElasticsearch,
    alias: str,
    *,
    batch_size: int,
    repair: bool = False,
    spill_size: int = SPILL_SIZE,
    examples: int = EXAMPLES,
) -> Report:
    """Compare MongoDB with the index behind `alias`; with `repair`, fix the drift, refresh and check again."""
    started = time.monotonic()
    index = await sink.current_index(client, alias)
    if index is None and repair:
        index = await sink.ensure_index(client, alias)
    repairs = Repairs(client, index, batch_size) if repair and index is not None else None
    found = await compare(
        database, client, index, batch_size=batch_size, repairs=repairs, spill_size=spill_size, examples=examples
    )
    report = Report(alias, index, found, 0.0)
    if repairs is not None:
        await repairs.flush()
        report.repaired = Repaired(repairs.written, repairs.rejected)
        if found.drift:
            await client.indices.refresh(index=repairs.index)
            report.recheck = await compare(
                database, client, repairs.index, batch_size=batch_size, spill_size=spill_size, examples=examples
            )
    report.seconds = time.monotonic() - started
    return report


def describe(report: Report) -> list[str]:
    """The lines a person reads: one summary, then example ids per kind of drift."""
    found = report.found
    where = report.index if report.index is not None else f"(no index behind alias {report.alias})"
    lines = [
        f"verify {where}: checked {found.checked} ids ({found.visitors} visitors in MongoDB, {found.documents} "
        f"documents indexed): {found.counts[Kind.MISSING]} missing, {found.counts[Kind.EXTRA]} extra, "
        f"{found.counts[Kind.DIFFERENT]} different ({report.seconds:.1f} s)"
    ]
    lines += _examples(found)
    if report.repaired is not None and found.drift:
        lines.append(f"repair: {report.repaired.written} written, {report.repaired.rejected} rejected")
        if report.recheck is not None:
            recheck = report.recheck
            state = "clean" if recheck.drift == 0 else "still drifting"
            lines.append(
                f"re-check: {state}: {recheck.counts[Kind.MISSING]} missing, {recheck.counts[Kind.EXTRA]} extra, "
                f"{recheck.counts[Kind.DIFFERENT]} different"
            )
            lines += _examples(recheck)
    return lines


def _examples(tally: Tally) -> list[str]:
    return [
        f"  {kind.value}: {' '.join(tally.example_ids[kind])}" + (" ..." if tally.counts[kind] > len(ids) else "")
        for kind in DRIFT_KINDS
        if (ids := tally.example_ids[kind])
    ]


def _log_fields(report: Report) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "alias": report.alias,
        "index": report.index,
        "seconds": round(report.seconds, 3),
        "checked": report.found.checked,
        **{kind.value: report.found.counts[kind] for kind in DRIFT_KINDS},
    }
    if report.repaired is not None:
        fields.update(repair_written=report.repaired.written, repair_rejected=report.repaired.rejected)
    if report.recheck is not None:
        fields["recheck_drift"] = report.recheck.drift
    return fields


async def main_async(settings: Settings, repair: bool, out: TextIO = sys.stdout) -> int:
    """The `verify [--repair]` command: prints the report and returns the exit code.

    0: no drift (or all of it repaired, as a re-check confirmed); 1: drift; 2: the check itself could not be done.
    """
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=False)
    es = AsyncElasticsearch(settings.es_url, request_timeout=60)
    try:
        database = mongo.get_default_database(default="rocketchat")
        report = await verify(database, es, settings.es_index, batch_size=settings.batch_size, repair=repair)
    except (OutOfOrder, ApiError, TransportError, PyMongoError) as error:
        log.error("verify of %s could not be done: %s: %s", settings.es_index, type(error).__name__, error)
        out.write(f"verify {settings.es_index}: not done: {type(error).__name__}: {error}\n")
        return 2
    finally:
        await es.close()
        await mongo.close()
    log.info("verify of %s: %d ids drift", settings.es_index, report.found.drift, extra=_log_fields(report))
    for line in describe(report):
        out.write(line + "\n")
    out.flush()
    return report.exit_code
