"""Pure parts of the worker: bulk actions per target, the reader/writer pump, progress lines, metrics, settings."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from indexer import changes, pipeline, progress
from indexer.changes import Change, Op
from indexer.checkpoint import Position
from indexer.collections import VISITORS
from indexer.metrics import Exposition, Metrics
from indexer.settings import Settings
from indexer.writer import batch_actions


def test_each_change_goes_to_every_target_with_its_version() -> None:
    batch = [
        changes.upsert(VISITORS, {"_id": "v1"}),
        Change(Op.DELETE, "v3", 9),
        changes.upsert(VISITORS, {"_id": "v2", "disabled": True}),
    ]
    actions = batch_actions(batch, ["contacts", "contacts-next"])
    summary = [(action["_op_type"], action["_index"], action["_id"], action["version"]) for action in actions]
    assert summary == [
        ("index", "contacts", "v1", 1),
        ("index", "contacts-next", "v1", 1),
        ("delete", "contacts", "v3", 9),
        ("delete", "contacts-next", "v3", 9),
        ("delete", "contacts", "v2", 1),  # disabled: a versioned delete
        ("delete", "contacts-next", "v2", 1),
    ]
    assert all(action["version_type"] == "external_gte" for action in actions)


def changes_of(count: int) -> list[Change]:
    return [Change(Op.DELETE, f"v{n:03d}", n, Position(backfill_after=f"v{n:03d}")) for n in range(count)]


async def feed(records: list[Change | None]) -> AsyncIterator[Change | None]:
    for record in records:
        await asyncio.sleep(0)
        yield record


async def test_the_pump_writes_in_batches_and_acknowledges_each_position_in_order() -> None:
    written: list[list[str]] = []
    acknowledged: list[tuple[Position, int]] = []

    async def write(batch: list[Change]) -> None:
        written.append([change.document_id for change in batch])

    async def on_ack(position: Position, count: int) -> None:
        acknowledged.append((position, count))

    total = await pipeline.pump(feed(list(changes_of(7))), write, on_ack, batch_size=3, depth=1, stop=asyncio.Event())
    assert total == 7
    assert [len(batch) for batch in written] == [3, 3, 1]
    assert acknowledged == [
        (Position(backfill_after="v002"), 3),
        (Position(backfill_after="v005"), 3),
        (Position(backfill_after="v006"), 1),
    ]


async def test_an_idle_marker_flushes_a_partial_batch() -> None:
    written: list[int] = []

    async def write(batch: list[Change]) -> None:
        written.append(len(batch))

    async def on_ack(position: Position, count: int) -> None:
        pass

    records: list[Change | None] = [*changes_of(2), None, *changes_of(1)]
    await pipeline.pump(feed(records), write, on_ack, batch_size=10, depth=1, stop=asyncio.Event())
    assert written == [2, 1]


async def test_a_failed_write_acknowledges_nothing_past_the_last_written_batch() -> None:
    acknowledged: list[Position] = []

    async def write(batch: list[Change]) -> None:
        if batch[0].document_id == "v003":
            raise ConnectionError("gone")

    async def on_ack(position: Position, count: int) -> None:
        acknowledged.append(position)

    with pytest.raises(ConnectionError):
        await pipeline.pump(feed(list(changes_of(9))), write, on_ack, batch_size=3, depth=2, stop=asyncio.Event())
    assert acknowledged == [Position(backfill_after="v002")]


async def test_a_failed_read_surfaces_after_what_was_read_is_written() -> None:
    async def broken() -> AsyncIterator[Change | None]:
        for change in changes_of(4):
            yield change
        raise TimeoutError("mongo went away")

    written: list[int] = []

    async def write(batch: list[Change]) -> None:
        written.append(len(batch))

    async def on_ack(position: Position, count: int) -> None:
        pass

    with pytest.raises(TimeoutError):
        await pipeline.pump(broken(), write, on_ack, batch_size=3, depth=1, stop=asyncio.Event())
    assert written == [3]  # the partial batch after the failure is not written: it would skip nothing, but the
    # checkpoint must not claim a pass that ended in an error


async def test_stop_finishes_the_batch_in_flight_and_acknowledges_it() -> None:
    stop = asyncio.Event()
    acknowledged: list[Position] = []

    async def write(batch: list[Change]) -> None:
        stop.set()  # SIGTERM arrives while this batch is being written
        await asyncio.sleep(0.01)

    async def on_ack(position: Position, count: int) -> None:
        acknowledged.append(position)

    total = await pipeline.pump(feed(list(changes_of(30))), write, on_ack, batch_size=5, depth=2, stop=stop)
    assert total == 5
    assert acknowledged == [Position(backfill_after="v004")]


async def test_the_queue_bounds_how_far_the_reader_runs_ahead() -> None:
    produced = 0

    async def counted() -> AsyncIterator[Change | None]:
        nonlocal produced
        for change in changes_of(1000):
            produced += 1
            yield change

    release = asyncio.Event()
    high_water = 0

    async def write(batch: list[Change]) -> None:
        nonlocal high_water
        await asyncio.sleep(0.01)
        high_water = max(high_water, produced)
        await release.wait()

    async def on_ack(position: Position, count: int) -> None:
        pass

    task = asyncio.create_task(pipeline.pump(counted(), write, on_ack, batch_size=10, depth=2, stop=asyncio.Event()))
    await asyncio.sleep(0.1)
    # One batch in the writer, two in the queue, one being filled by the blocked reader.
    assert produced <= 10 * 4 + 1
    release.set()
    assert await task == 1000


def test_the_progress_line_shows_rate_and_eta() -> None:
    assert progress.bar_line(25, 100, 5.0) == "[#######.......................]  25.0% 25/100 5/s ETA 0:00:15"
    assert progress.eta_text(0, 0) == "0:00:00"
    assert progress.eta_text(10, 0) == "--:--:--"


def test_progress_on_a_terminal_redraws_one_line() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = progress.Progress("backfill", 100, stream=out, clock=lambda: now[0])
    now[0] = 1.0
    bar.advance(50)
    bar.finish()
    assert out.getvalue().startswith("\rbackfill [###############")
    assert out.getvalue().endswith("\n")


def test_metrics_render_as_prometheus_text_and_health_follows_progress() -> None:
    now = [100.0]
    metrics = Metrics(stall_after=10, alias="contacts", monotonic=lambda: now[0])
    metrics.indexed = 3
    text = Exposition([metrics]).render().decode()
    assert 'contact_search_indexer_documents_indexed_total{alias="contacts"} 3.0\n' in text
    assert "# TYPE contact_search_indexer_lag_seconds gauge" in text
    assert metrics.healthy()
    now[0] = 111.0
    assert not metrics.healthy()
    metrics.beat()
    assert metrics.healthy()


def test_several_workers_share_one_exposition_and_its_health() -> None:
    now = [100.0]
    visitors = Metrics(stall_after=10, alias="contacts", monotonic=lambda: now[0])
    contacts = Metrics(stall_after=10, alias="contacts_v7", monotonic=lambda: now[0])
    visitors.indexed, contacts.indexed, contacts.phase = 5, 7, "sync"
    exposition = Exposition([visitors, contacts])
    text = exposition.render().decode()
    assert 'contact_search_indexer_documents_indexed_total{alias="contacts"} 5.0' in text
    assert 'contact_search_indexer_documents_indexed_total{alias="contacts_v7"} 7.0' in text
    assert 'contact_search_indexer_phase{alias="contacts_v7",phase="sync"} 1.0' in text
    assert exposition.healthy()
    now[0] = 111.0
    visitors.beat()
    assert not exposition.healthy()  # one stuck worker makes the process unhealthy
    contacts.beat()
    assert exposition.healthy()


def test_settings_come_from_the_environment_with_defaults() -> None:
    settings = Settings.from_env(
        {"MONGO_URL": "mongodb://m/rc", "BATCH_SIZE": "50", "POLL_INTERVAL": "0.5", "SYNC_MODE": "poll"}
    )
    assert (settings.batch_size, settings.poll_interval, settings.sync_mode) == (50, 0.5, "poll")
    assert settings.lease_ttl == 10.0 and settings.es_index == "contacts"
    with pytest.raises(SystemExit):
        Settings.from_env({"MONGO_URL": "mongodb://m/rc", "BATCH_SIZE": "many"})
    with pytest.raises(SystemExit):
        Settings.from_env({"MONGO_URL": "mongodb://m/rc", "SYNC_MODE": "sometimes"})
    with pytest.raises(SystemExit):
        Settings.from_env({})


async def test_read_ahead_keeps_order_bounds_the_lead_and_passes_errors_on() -> None:
    pulled = 0

    async def numbers(fail_at: int | None = None) -> AsyncIterator[int]:
        nonlocal pulled
        for number in range(10):
            if number == fail_at:
                raise LookupError("cursor lost")
            pulled += 1
            yield number

    ahead = pipeline.read_ahead(numbers(), depth=2)
    assert await anext(ahead) == 0
    await asyncio.sleep(0.01)
    assert pulled <= 1 + 2 + 1  # the one consumed, two queued, one waiting to be queued
    assert [number async for number in ahead] == list(range(1, 10))
    with pytest.raises(LookupError):
        _ = [number async for number in pipeline.read_ahead(numbers(fail_at=5), depth=2)]


async def test_stop_while_the_reader_waits_on_a_slow_query_ends_the_pass_at_once() -> None:
    stop = asyncio.Event()

    async def slow_query() -> AsyncIterator[Change | None]:
        await asyncio.sleep(3600)  # a full scan on the test server
        yield None

    async def write(batch: list[Change]) -> None:
        raise AssertionError("nothing to write")

    async def on_ack(position: Position, count: int) -> None:
        raise AssertionError("nothing to acknowledge")

    task = asyncio.create_task(pipeline.pump(slow_query(), write, on_ack, batch_size=5, depth=1, stop=stop))
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(task, 1) == 0


async def test_save_behind_holds_positions_back_for_the_interval_and_flush_saves_the_latest() -> None:
    saved: list[Position] = []

    async def save(position: Position) -> None:
        saved.append(position)

    behind = pipeline.SaveBehind(save, interval=3600)
    await behind.offer(Position(backfill_after="a"))  # the first one is saved at once
    await behind.offer(Position(backfill_after="b"))
    await behind.offer(Position(backfill_after="c", poll_updated_at=1))
    assert saved == [Position(backfill_after="a")]
    await behind.flush()
    await behind.flush()  # nothing new: no second save
    assert saved == [Position(backfill_after="a"), Position(backfill_after="c", poll_updated_at=1)]

    every: list[Position] = []

    async def save_every(position: Position) -> None:
        every.append(position)

    unthrottled = pipeline.SaveBehind(save_every, interval=0)
    for after in ("a", "b"):
        await unthrottled.offer(Position(backfill_after=after))
    assert every == [Position(backfill_after="a"), Position(backfill_after="b")]


async def test_a_failed_save_surfaces_to_the_pass() -> None:
    async def failing(position: Position) -> None:
        raise ConnectionError("mongo down")

    behind = pipeline.SaveBehind(failing, interval=0)
    with pytest.raises(ConnectionError):
        await behind.offer(Position(backfill_after="a"))
