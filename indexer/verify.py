"""`verify [--repair]`: compare every document in MongoDB with the index, report the drift and the dead letters,
and optionally repair the drift through the writer.

Both sides are streamed once in printed-id order (`scans`) and merge-joined a bounded window at a time (`drift`):
memory does not grow with the collection. Should either side ever come out of order (say, a collection created with
a non-binary default collation), verify stops with `OutOfOrder` rather than report, and repair, drift that is not
there. Documents whose ids print alike (the string "5" and the number 5) share one index entry: the later ones are
reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from common import elasticsearch_refusals
from indexer import indices, scans
from indexer.dead_letters import DeadLetter, DeadLetters
from indexer.drift import (
    DRIFT_KINDS,
    EXAMPLES,
    Expected,
    Indexed,
    Kind,
    OutOfOrder,
    Tally,
    Verdict,
    diff,
    expect,
    windows,
    with_dead_letters,
)
from indexer.metrics import Metrics
from indexer.repairs import Repairs
from indexer.specs import Spec

log = logging.getLogger(__name__)

T = TypeVar("T")

# Exit codes of the command.
CLEAN, DRIFT, NOT_DONE, DEAD_LETTERED = 0, 1, 2, 3


async def _expected(
    database: AsyncDatabase[dict[str, Any]],
    spec: Spec,
    batch_size: int,
    spill_size: int,
    stack: contextlib.AsyncExitStack,
) -> AsyncGenerator[Expected, None]:
    passes = [
        await stack.enter_async_context(contextlib.aclosing(stream))
        for stream in scans.source_passes(database, spec, ids_only=False, batch_size=batch_size, spill_size=spill_size)
    ]
    async for _, document in scans.merge_sorted(passes, key=lambda entry: entry[0]):
        yield expect(spec, document)


async def _nothing() -> AsyncGenerator[Indexed, None]:
    return
    yield  # an empty async generator


async def compare(
    database: AsyncDatabase[dict[str, Any]],
    client: AsyncElasticsearch,
    spec: Spec,
    index: str | None,
    *,
    batch_size: int,
    dead_letters: Mapping[str, DeadLetter] | None = None,
    repairs: Repairs | None = None,
    spill_size: int = scans.SPILL_SIZE,
    examples: int = EXAMPLES,
) -> Tally:
    """One pass over both sides; with `repairs`, every drift found is queued for repair as the pass goes."""
    tally = Tally(examples=examples)
    letters = dead_letters or {}

    async def record(verdict: Verdict) -> None:
        verdict = with_dead_letters(verdict, letters)
        tally.add(verdict)
        if repairs is not None:
            await repairs.add(verdict)

    async with contextlib.AsyncExitStack() as stack:

        async def closed_at_exit(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
            return await stack.enter_async_context(contextlib.aclosing(stream))

        expected = await closed_at_exit(_expected(database, spec, batch_size, spill_size, stack))
        indexed = await closed_at_exit(_nothing() if index is None else scans.index_entries(client, index, batch_size))
        async for wants, haves in await closed_at_exit(windows(expected, indexed, batch_size)):
            tally.documents += len(wants)
            tally.entries += len(haves)
            for verdict in diff(wants, haves):
                await record(verdict)
    if index is not None:
        async with contextlib.aclosing(scans.entries_without_id(client, index, batch_size)) as orphans:
            async for orphan in orphans:
                tally.entries += 1
                await record(Verdict(Kind.EXTRA, orphan.id, None, orphan))
    return tally


@dataclass(frozen=True)
class Repaired:
    """What `--repair` sent: writes that settled (a newer version already indexed counts too) and refused ones;
    of the written, those put over a newer version in the index (MongoDB had gone back to an earlier point)."""

    written: int
    rejected: int
    restored: int = 0


@dataclass
class Report:
    alias: str
    index: str | None
    found: Tally
    seconds: float
    repaired: Repaired | None = None
    recheck: Tally | None = None

    @property
    def final(self) -> Tally:
        return self.recheck if self.recheck is not None else self.found

    @property
    def exit_code(self) -> int:
        if self.index is None and self.repaired is None:
            return DRIFT
        if self.repaired is not None and self.found.drift:
            if self.repaired.rejected or self.recheck is None or self.recheck.drift:
                return DRIFT
        elif self.found.drift:
            return DRIFT
        return DEAD_LETTERED if self.final.counts[Kind.DEAD_LETTERED] else CLEAN


async def verify(
    database: AsyncDatabase[dict[str, Any]],
    client: AsyncElasticsearch,
    spec: Spec,
    *,
    batch_size: int,
    repair: bool = False,
    spill_size: int = scans.SPILL_SIZE,
    examples: int = EXAMPLES,
) -> Report:
    """Compare MongoDB with the index behind the spec's alias; with `repair`, fix the drift, refresh, check again."""
    started = time.monotonic()
    index = await indices.current_index(client, spec.alias)
    if index is None and repair:
        index, _ = await indices.ensure_alias(client, spec)
    if index is not None:
        # The scan reads a point in time, which sees only refreshed writes; an index nobody searched lately is
        # not refreshed on its own (search-idle shards), so everything acknowledged before now is made visible.
        await client.indices.refresh(index=index)
    metrics = Metrics()
    repairs = Repairs(client, database, spec, metrics, batch_size, asyncio.Event()) if repair else None

    async def check(repairs: Repairs | None) -> Tally:
        letters = await DeadLetters(database, spec.alias).by_id()  # few: each is a document to fix by hand
        return await compare(
            database, client, spec, index, batch_size=batch_size, dead_letters=letters, repairs=repairs,
            spill_size=spill_size, examples=examples,
        )  # fmt: skip

    found = await check(repairs)
    report = Report(spec.alias, index, found, 0.0)
    if repairs is not None and index is not None:
        await repairs.flush()
        report.repaired = Repaired(metrics.indexed + metrics.deleted, metrics.failed, repairs.restored)
        if found.drift:
            await client.indices.refresh(index=index)
            report.recheck = await check(None)
    report.seconds = time.monotonic() - started
    return report


def _counts(tally: Tally) -> str:
    counts = tally.counts
    return (
        f"{counts[Kind.MISSING]} missing, {counts[Kind.EXTRA]} extra, {counts[Kind.DIFFERENT]} different; "
        f"{counts[Kind.DEAD_LETTERED]} dead-lettered"
    )


def describe(report: Report) -> list[str]:
    """The lines a person reads: one summary, then example ids per kind of drift and of dead letter."""
    found = report.found
    where = report.index if report.index is not None else f"(no index behind alias {report.alias})"
    lines = [
        f"verify {where}: checked {found.checked} ids ({found.documents} documents in MongoDB: {found.indexed} "
        f"indexed, {found.excluded} excluded by rule; {found.entries} documents indexed): {_counts(found)} "
        f"({report.seconds:.1f} s)"
    ]
    lines += _examples(found)
    if report.repaired is not None and found.drift:
        repaired = report.repaired
        lines.append(f"repair: {repaired.written} written, {repaired.rejected} refused (dead-lettered)")
        if repaired.restored:
            lines.append(f"  of which {repaired.restored} over a newer version in the index (MongoDB went back)")
        if report.recheck is not None:
            recheck = report.recheck
            state = "clean" if recheck.drift == 0 else "still drifting"
            lines.append(f"re-check: {state}: {_counts(recheck)}")
            lines += _examples(recheck)
    if report.final.counts[Kind.DEAD_LETTERED]:
        lines.append(
            "dead letters: Elasticsearch refused these documents as they are now; see the collection "
            "contact_search_dead_letters for the reasons (a later change of the document retries it)"
        )
    return lines


def _examples(tally: Tally) -> list[str]:
    return [
        f"  {kind.value}: {' '.join(tally.example_ids[kind])}" + (" ..." if tally.counts[kind] > len(ids) else "")
        for kind in (*DRIFT_KINDS, Kind.DEAD_LETTERED)
        if (ids := tally.example_ids[kind])
    ]


def _log_fields(report: Report) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "alias": report.alias,
        "index": report.index,
        "seconds": round(report.seconds, 3),
        "checked": report.found.checked,
        **{kind.value: report.found.counts[kind] for kind in (*DRIFT_KINDS, Kind.DEAD_LETTERED)},
    }
    if report.repaired is not None:
        fields.update(
            repair_written=report.repaired.written,
            repair_rejected=report.repaired.rejected,
            repair_restored=report.repaired.restored,
        )
    if report.recheck is not None:
        fields["recheck_drift"] = report.recheck.drift
    return fields


async def command(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, spec: Spec, *, batch_size: int, repair: bool
) -> tuple[int, list[str]]:
    """The `verify [--repair]` command's exit code and the lines it prints (the command line prints them).

    0: no drift (or all of it repaired, as a re-check confirmed); 1: drift; 2: the check itself could not be done;
    3: no drift, but documents Elasticsearch refused are dead-lettered. A refused credential or certificate is
    raised: the command line says what to fix.
    """
    try:
        report = await verify(database, es, spec, batch_size=batch_size, repair=repair)
    except (OutOfOrder, ApiError, TransportError, PyMongoError) as error:
        if elasticsearch_refusals.needs_a_person(error):
            raise
        log.error("verify of %s could not be done: %s: %s", spec.alias, type(error).__name__, error)
        return NOT_DONE, [f"verify {spec.alias}: not done: {type(error).__name__}: {error}"]
    log.info("verify of %s: %d ids drift", spec.alias, report.found.drift, extra=_log_fields(report))
    return report.exit_code, describe(report)
