"""Pure change records: change-stream events, trash entries, checkpoint advance, bulk outcomes, id merging."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

import pytest
from bson import ObjectId, Timestamp
from pymongo.errors import OperationFailure

from indexer import changes, poll, source
from indexer.changes import Change, Op, StreamInvalidated
from indexer.checkpoint import Position
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection
from indexer.pipeline import AckTracker
from indexer.poll import SeenWindow
from indexer.verify import scans
from indexer.verify.drift import Expected, Indexed, diff
from indexer.writer import BulkItem, Outcome, backoff_seconds

T = TypeVar("T")

UPDATED = dt.datetime(2024, 5, 2, 10, 31, 7, 512000)
UPDATED_MS = 1714645867512
TOKEN = {"_data": "8266F1C3A7000000012B022C0100296E5A1004"}
CLUSTER = Timestamp(1714645900, 3)
WALL = dt.datetime(2024, 5, 2, 10, 31, 40, 250000)

# Change events as MongoDB 7 sends them for `watch(full_document="updateLookup")` on the visitor collection.
VISITOR = {"_id": "v1", "username": "guest-1", "name": "Santa", "_updatedAt": UPDATED}
INSERT = {
    "_id": TOKEN,
    "operationType": "insert",
    "clusterTime": CLUSTER,
    "wallTime": WALL,
    "ns": {"db": "rocketchat", "coll": "rocketchat_livechat_visitor"},
    "documentKey": {"_id": "v1"},
    "fullDocument": VISITOR,
}
UPDATE = {
    **INSERT,
    "operationType": "update",
    "updateDescription": {"updatedFields": {"name": "Santa", "_updatedAt": UPDATED}, "removedFields": []},
}
UPDATE_WITHOUT_DOCUMENT = {key: value for key, value in UPDATE.items() if key != "fullDocument"}
UPDATE_OF_DELETED = {**UPDATE, "fullDocument": None}  # updateLookup found nothing: deleted since
REPLACE = {**INSERT, "operationType": "replace"}
DELETE = {key: value for key, value in INSERT.items() if key != "fullDocument"} | {"operationType": "delete"}
INVALIDATE = {"_id": TOKEN, "operationType": "invalidate", "clusterTime": CLUSTER, "wallTime": WALL}
DROP = {**INVALIDATE, "operationType": "drop", "ns": {"db": "rocketchat", "coll": "rocketchat_livechat_visitor"}}


@pytest.mark.parametrize("event", [INSERT, UPDATE, REPLACE], ids=["insert", "update", "replace"])
def test_a_write_event_with_its_document_is_an_upsert_at_the_documents_version(event: dict[str, Any]) -> None:
    change = changes.from_change_event(VISITORS, event)
    assert change == Change(Op.UPSERT, "v1", UPDATED_MS, Position(resume_token=TOKEN, synced_at=WALL))
    assert change.document == visitors_collection.to_index_document(VISITOR)  # built by the reader, sent by the writer


@pytest.mark.parametrize("event", [UPDATE_WITHOUT_DOCUMENT, UPDATE_OF_DELETED], ids=["no-lookup", "deleted-since"])
def test_a_write_event_without_its_document_asks_for_a_lookup(event: dict[str, Any]) -> None:
    change = changes.from_change_event(VISITORS, event)
    assert isinstance(change, Change)
    assert change.op is Op.LOOKUP
    assert change.source_id == "v1"
    assert change.position == Position(resume_token=TOKEN, synced_at=WALL)


def test_a_delete_event_beats_every_write_made_before_it() -> None:
    change = changes.from_change_event(VISITORS, DELETE)
    assert isinstance(change, Change)
    assert change.op is Op.DELETE
    assert change.document is None
    # wallTime has milliseconds (1714645900250), clusterTime only seconds: its last millisecond wins.
    assert change.version == 1714645900 * 1000 + 999
    assert change.version > UPDATED_MS


def test_a_delete_event_with_only_wall_time_uses_it() -> None:
    event = {key: value for key, value in DELETE.items() if key != "clusterTime"}
    change = changes.from_change_event(VISITORS, event)
    assert isinstance(change, Change)
    assert change.version == 1714645900250


@pytest.mark.parametrize("event", [INVALIDATE, DROP, {**DROP, "operationType": "rename"}])
def test_events_that_end_the_stream_ask_for_a_rebuild(event: dict[str, Any]) -> None:
    assert isinstance(changes.from_change_event(VISITORS, event), StreamInvalidated)


def test_other_events_are_skipped() -> None:
    assert changes.from_change_event(VISITORS, {**INSERT, "operationType": "createIndexes"}) is None
    assert changes.from_change_event(VISITORS, {"_id": TOKEN, "operationType": "insert"}) is None


def test_object_ids_print_as_hex_document_ids() -> None:
    object_id = ObjectId("5d9e00000000000000000001")
    change = changes.from_change_event(VISITORS, {**DELETE, "documentKey": {"_id": object_id}})
    assert isinstance(change, Change)
    assert change.document_id == "5d9e00000000000000000001"


def test_a_trash_entry_is_a_delete_at_its_deletion_time() -> None:
    entry = {"_id": "v9", "__collection__": "livechat_visitor", "_deletedAt": WALL, "_updatedAt": UPDATED}
    change = changes.from_trash(VISITORS, entry, Position(poll_trash_at=1))
    assert change == Change(Op.DELETE, "v9", 1714645900250, Position(poll_trash_at=1))


def test_an_upsert_carries_the_visitors_version() -> None:
    assert changes.upsert(VISITORS, VISITOR).version == UPDATED_MS
    assert changes.upsert(VISITORS, {"_id": "x"}).version == 1
    assert changes.upsert(VISITORS, {**VISITOR, "disabled": True}).document is None  # written as a versioned delete


def test_the_checkpoint_moves_only_over_an_acknowledged_prefix() -> None:
    tracker = AckTracker()
    first = tracker.begin(Position(poll_updated_at=1))
    second = tracker.begin(Position(poll_updated_at=2, poll_trash_at=7))
    third = tracker.begin(Position(poll_updated_at=3))
    assert tracker.done(second) is None  # the first is not written yet
    assert tracker.done(first) == Position(poll_updated_at=2, poll_trash_at=7)
    assert tracker.in_flight == 1
    assert tracker.done(third) == Position(poll_updated_at=3)
    assert tracker.in_flight == 0


def test_the_seen_window_skips_rereads_but_not_newer_versions() -> None:
    seen = SeenWindow(capacity=2)
    assert seen.is_new("a", 5)
    seen.remember("a", 5)
    assert not seen.is_new("a", 5)
    assert not seen.is_new("a", 4)
    assert seen.is_new("a", 6)
    seen.remember("b", 7)
    seen.remember("c", 8)  # over capacity: the oldest is forgotten and at worst written again
    assert len(seen) == 2
    assert seen.is_new("a", 5)
    seen.forget_before(8)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("checkpoint", "since"), [(None, 0), (10_000, 8_000), (1_000, 0)], ids=["none", "overlap", "clamped"]
)
def test_polls_start_an_overlap_before_the_checkpoint(checkpoint: int | None, since: int) -> None:
    assert poll.poll_since(checkpoint, 2_000) == since


def test_millis_round_trip_to_naive_utc() -> None:
    assert poll.millis_to_datetime(UPDATED_MS) == UPDATED


@pytest.mark.parametrize(
    ("item", "outcome"),
    [
        ({"index": {"status": 201}}, Outcome.SETTLED),
        ({"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}}, Outcome.SETTLED),
        ({"delete": {"status": 404}}, Outcome.SETTLED),
        ({"index": {"status": 404, "error": {"type": "index_not_found_exception"}}}, Outcome.REFUSED),
        ({"index": {"status": 400, "error": {"type": "document_parsing_exception"}}}, Outcome.REFUSED),
        ({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}}, Outcome.RETRY),
        ({"index": {"status": 503, "error": {"type": "unavailable_shards_exception"}}}, Outcome.RETRY),
        ({"index": {"status": None, "error": {"type": "ConnectionError"}}}, Outcome.RETRY),
        ({"index": {"status": "N/A"}}, Outcome.RETRY),
        ({}, Outcome.RETRY),
    ],
)
def test_bulk_items_are_settled_retried_or_refused(item: dict[str, Any], outcome: Outcome) -> None:
    assert BulkItem.parse(item).outcome is outcome


def test_a_refused_item_keeps_elasticsearchs_reason_and_nothing_else() -> None:
    error = {"type": "document_parsing_exception", "reason": "immense term", "caused_by": {"type": "x"}, "stack": "."}
    item = BulkItem.parse({"index": {"_index": "c-v1", "_id": "v1", "status": 400, "error": error}})
    assert item.outcome is Outcome.REFUSED
    assert item.reason == {"type": "document_parsing_exception", "reason": "immense term", "caused_by": {"type": "x"}}
    assert BulkItem.parse({"index": {"status": 404, "error": {"type": "index_not_found_exception"}}}).index_missing


def test_backoff_doubles_up_to_a_ceiling() -> None:
    assert [backoff_seconds(n, 0.5, 4) for n in range(6)] == [0.5, 1, 2, 4, 4, 4]


async def stream(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


async def collect(iterator: AsyncIterator[T]) -> list[T]:
    return [item async for item in iterator]


async def test_sorted_id_streams_merge_into_one_sorted_stream() -> None:
    merged = scans.merge_sorted([stream(["a", "c", "e"]), stream(["5d9e", "b", "d", "f0"])], key=str)
    assert await collect(merged) == ["5d9e", "a", "b", "c", "d", "e", "f0"]
    assert await collect(scans.merge_sorted([stream([]), stream(["x"])], key=str)) == ["x"]


@pytest.mark.parametrize(
    ("source", "index", "extra"),
    [
        (["a", "b", "c"], ["a", "b", "c"], []),
        (["a", "c"], ["a", "b", "c", "d"], ["b", "d"]),
        ([], ["a"], ["a"]),
        (["a", "b"], [], []),
        (["b", "d"], ["a", "c", "e"], ["a", "c", "e"]),
    ],
    ids=["same", "deleted", "empty-source", "empty-index", "interleaved"],
)
async def test_reconciliation_finds_what_only_the_index_has(
    source: list[str], index: list[str], extra: list[str]
) -> None:
    entries = [Indexed(document_id, None, position) for position, document_id in enumerate(index)]
    verdicts = diff([Expected(key, "present") for key in source], entries)
    gone = [verdict.indexed for verdict in verdicts if verdict.expected is None and verdict.indexed is not None]
    assert [entry.id for entry in gone] == extra
    assert all(entry.version == index.index(entry.id) for entry in gone)


@pytest.mark.parametrize(
    ("code", "details", "lost"),
    [
        (286, {"codeName": "ChangeStreamHistoryLost", "errmsg": "Resume of change stream was not possible"}, True),
        (
            280,
            {"codeName": "ChangeStreamFatalError", "errmsg": "cannot resume stream; the resume token was not found"},
            True,
        ),
        (260, {"codeName": "InvalidResumeToken"}, True),
        (136, {"codeName": "CappedPositionLost"}, False),
        (None, {"errmsg": "Executor error during getMore :: caused by :: ChangeStreamHistoryLost"}, True),
        (13, {"codeName": "Unauthorized"}, False),
    ],
)
def test_errors_that_mean_the_change_history_is_lost(code: int | None, details: dict[str, Any], lost: bool) -> None:
    """As MongoDB reports them (codes and names from its error_codes.yml), on `watch` or on a later `getMore`."""
    assert source.is_history_lost(OperationFailure("error", code, details)) is lost


def test_an_event_marks_the_moment_before_which_everything_is_written() -> None:
    assert changes.event_moment(INSERT) == WALL  # wallTime, to the millisecond
    assert changes.event_moment({"clusterTime": CLUSTER}) == dt.datetime(2024, 5, 2, 10, 31, 40)  # rounded down
    assert changes.event_moment({"wallTime": WALL.replace(tzinfo=dt.UTC)}) == WALL
    assert changes.event_moment({}) is None
    without_time = changes.from_change_event(
        VISITORS, {key: value for key, value in DELETE.items() if "Time" not in key}
    )
    assert isinstance(without_time, Change) and without_time.position == Position(resume_token=TOKEN)
