"""The pure parts of `verify`: the merge-join, its windows over streams, the ordering rule, repairs and the report."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from indexer import documents
from indexer.changes import Op
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection
from indexer.dead_letters import DeadLetter
from indexer.verify import scans
from indexer.verify.command import Repaired, Report, describe
from indexer.verify.drift import (
    DRIFT_KINDS,
    EXAMPLES,
    Expected,
    Indexed,
    Kind,
    OutOfOrder,
    Tally,
    Verdict,
    diff,
    repair_change,
    windows,
    with_dead_letters,
)
from indexer.verify.drift import expect as expect_of
from indexer.writer import batch_actions
from tests import factories

IN_SYNC, MISSING, EXTRA, DIFFERENT = Kind.IN_SYNC, Kind.MISSING, Kind.EXTRA, Kind.DIFFERENT


def mongo(*entries: tuple[str, str | None]) -> list[Expected]:
    """Visitors by (id, hash); a None hash is a disabled visitor."""
    return [Expected(visitor_id, content_hash) for visitor_id, content_hash in entries]


def index(*entries: tuple[str, str]) -> list[Indexed]:
    return [Indexed(document_id, content_hash) for document_id, content_hash in entries]


@dataclass(frozen=True)
class Case:
    name: str
    expected: list[Expected]
    indexed: list[Indexed]
    verdicts: list[tuple[str, Kind]]


CASES = [
    Case("both empty", [], [], []),
    Case("in sync", mongo(("a", "1"), ("b", "2")), index(("a", "1"), ("b", "2")), [("a", IN_SYNC), ("b", IN_SYNC)]),
    Case("index empty", mongo(("a", "1"), ("b", "2")), [], [("a", MISSING), ("b", MISSING)]),
    Case("mongo empty", [], index(("a", "1"), ("b", "2")), [("a", EXTRA), ("b", EXTRA)]),
    Case("missing first", mongo(("a", "1"), ("b", "2")), index(("b", "2")), [("a", MISSING), ("b", IN_SYNC)]),
    Case("missing last", mongo(("a", "1"), ("b", "2")), index(("a", "1")), [("a", IN_SYNC), ("b", MISSING)]),
    Case("extra first", mongo(("b", "2")), index(("a", "1"), ("b", "2")), [("a", EXTRA), ("b", IN_SYNC)]),
    Case("extra last", mongo(("a", "1")), index(("a", "1"), ("b", "2")), [("a", IN_SYNC), ("b", EXTRA)]),
    Case("different hash", mongo(("a", "1")), index(("a", "9")), [("a", DIFFERENT)]),
    Case("disabled and indexed is extra", mongo(("a", None)), index(("a", "1")), [("a", EXTRA)]),
    Case("disabled and absent is in sync", mongo(("a", None)), [], [("a", IN_SYNC)]),
    Case(
        "disabled between indexed ones",
        mongo(("a", "1"), ("b", None), ("c", "3")),
        index(("a", "1"), ("c", "3")),
        [("a", IN_SYNC), ("b", IN_SYNC), ("c", IN_SYNC)],
    ),
    Case(
        "interleaved",
        mongo(("a", "1"), ("c", "3"), ("e", "5"), ("g", None), ("h", "8")),
        index(("b", "2"), ("c", "x"), ("d", "4"), ("e", "5"), ("g", "7"), ("i", "9")),
        [
            ("a", MISSING),
            ("b", EXTRA),
            ("c", DIFFERENT),
            ("d", EXTRA),
            ("e", IN_SYNC),
            ("g", EXTRA),
            ("h", MISSING),
            ("i", EXTRA),
        ],
    ),
    Case(
        "prefix sorts before its extensions",
        mongo(("a", "1"), ("ab", "2")),
        index(("a", "1"), ("a0", "3"), ("ab", "2")),
        [("a", IN_SYNC), ("a0", EXTRA), ("ab", IN_SYNC)],
    ),
    Case(
        "ids that print alike: the first matches, the next is reported",
        mongo(("5", "1"), ("5", "2")),
        index(("5", "1")),
        [("5", IN_SYNC), ("5", MISSING)],
    ),
    Case(
        "code point order beyond the basic plane",
        mongo(("\uffff", "1"), ("\U0001f600", "2")),
        index(("\uffff", "1"), ("\U0001f600", "2")),
        [("\uffff", IN_SYNC), ("\U0001f600", IN_SYNC)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_diff(case: Case) -> None:
    assert [(verdict.id, verdict.kind) for verdict in diff(case.expected, case.indexed)] == case.verdicts


def test_diff_carries_both_sides_for_the_repair() -> None:
    want, have = Expected("a", "1", {"_id": "a"}), Indexed("a", "2")
    assert list(diff([want], [have])) == [Verdict(DIFFERENT, "a", want, have)]


async def stream(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def windowed(expected: list[Expected], indexed: list[Indexed], size: int) -> list[tuple[str, Kind]]:
    verdicts: list[tuple[str, Kind]] = []
    async for wants, haves in windows(stream(expected), stream(indexed), size):
        assert len(wants) <= size and len(haves) <= size
        verdicts += [(verdict.id, verdict.kind) for verdict in diff(wants, haves)]
    return verdicts


@pytest.mark.parametrize("size", [1, 2, 3, 100])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_windows_give_the_verdicts_of_one_merge(case: Case, size: int) -> None:
    assert await windowed(case.expected, case.indexed, size) == case.verdicts


ids = st.text(min_size=1, max_size=4)
hashes = st.sampled_from(["1", "2"])


@given(
    st.dictionaries(ids, st.one_of(st.none(), hashes)),
    st.dictionaries(ids, hashes),
    st.integers(min_value=1, max_value=9),
)
async def test_windows_of_any_size_agree_with_the_whole_merge(
    expected: dict[str, str | None], indexed: dict[str, str], size: int
) -> None:
    wants = [Expected(key, value) for key, value in sorted(expected.items())]
    haves = [Indexed(key, value) for key, value in sorted(indexed.items())]
    whole = [(verdict.id, verdict.kind) for verdict in diff(wants, haves)]
    assert await windowed(wants, haves, size) == whole
    assert [verdict_id for verdict_id, _ in whole] == sorted(expected.keys() | indexed.keys())


@pytest.mark.parametrize(
    ("expected", "indexed", "side"),
    [
        (mongo(("b", "1"), ("a", "1")), [], "MongoDB"),
        ([], index(("b", "1"), ("a", "1")), "Elasticsearch"),
        (mongo(*((f"{n:03d}", "1") for n in range(10)), ("000", "1")), [], "MongoDB"),
    ],
)
async def test_a_stream_out_of_order_stops_the_merge(
    expected: list[Expected], indexed: list[Indexed], side: str
) -> None:
    with pytest.raises(OutOfOrder, match=side):
        await windowed(expected, indexed, 3)


@given(st.lists(st.lists(ids), max_size=4))
async def test_merge_sorted_interleaves_sorted_passes(passes: list[list[str]]) -> None:
    sources = [stream(Expected(key, "1") for key in sorted(keys)) for keys in passes]
    merged = [entry.id async for entry in scans.merge_sorted(sources, key=lambda entry: entry.id)]
    assert merged == sorted(key for keys in passes for key in keys)


# The ordering rule of the module docstring, checked: the server-side order of each pass is the printed-id order.


@given(st.binary(min_size=12, max_size=12), st.binary(min_size=12, max_size=12))
def test_object_id_byte_order_is_its_printed_order(left: bytes, right: bytes) -> None:
    printed = documents.document_id(ObjectId(left)), documents.document_id(ObjectId(right))
    assert (left < right) == (printed[0] < printed[1])


@given(st.text(), st.text())
def test_string_order_is_utf8_byte_order(left: str, right: str) -> None:
    assert (left < right) == (left.encode() < right.encode())
    assert documents.document_id(left) == left


def test_numbers_do_not_print_in_their_order() -> None:
    """Why ids of other types are sorted by verify itself."""
    assert 5 < 40 and documents.document_id(5) > documents.document_id(40)


def test_expect_is_the_hash_of_the_index_document() -> None:
    visitor = factories.visitor(livechatData={"plan": "gold"}, visitorEmails=[{"address": "a@example.com"}])
    entry = expect(visitor)
    assert entry.id == visitor["_id"]
    assert entry.content_hash == visitors_collection.to_index_document(visitor)["content_hash"]
    assert entry.document is visitor


def test_expect_a_disabled_visitor_absent() -> None:
    visitor = factories.visitor(_id=ObjectId("5d9e00000000000000000001"), disabled=True)
    assert expect(visitor) == Expected("5d9e00000000000000000001", None)


def expect(visitor: dict[str, Any]) -> Expected:
    return expect_of(VISITORS, visitor)


def repair_action(index: str, verdict: Verdict, now_ms: int) -> dict[str, Any] | None:
    """The bulk action the writer sends for the repair of `verdict`."""
    change = repair_change(VISITORS, verdict, now_ms)
    return None if change is None else batch_actions([change], [index])[0]


def test_repair_of_missing_and_different_indexes_at_the_visitor_version() -> None:
    visitor = factories.visitor()
    for kind in (MISSING, DIFFERENT):
        have = Indexed(visitor["_id"], "old") if kind is DIFFERENT else None
        action = repair_action("contacts-v1", Verdict(kind, visitor["_id"], expect(visitor), have), 0)
        assert action is not None
        assert action["_op_type"] == "index"
        assert action["_source"] == visitors_collection.to_index_document(visitor)
        assert (action["version"], action["version_type"]) == (VISITORS.version_of(visitor), "external_gte")


def test_repair_of_a_disabled_visitor_deletes_at_its_version() -> None:
    visitor = factories.visitor(disabled=True)
    verdict = Verdict(EXTRA, visitor["_id"], expect(visitor), Indexed(visitor["_id"], "old"))
    action = repair_action("contacts-v1", verdict, 0)
    assert action is not None
    assert (action["_op_type"], action["_id"], action["version"]) == (
        "delete",
        visitor["_id"],
        VISITORS.version_of(visitor),
    )


def test_repair_of_a_document_gone_from_mongo_deletes_it_now() -> None:
    now = int(time.time() * 1000)
    action = repair_action("contacts-v1", Verdict(EXTRA, "a", None, Indexed("a", "1")), now)
    assert action == {
        "_op_type": "delete",
        "_index": "contacts-v1",
        "_id": "a",
        "version": now,
        "version_type": "external_gte",
    }
    orphan = repair_change(VISITORS, Verdict(EXTRA, "x", None, Indexed("x", None, document_id="y")), now)
    assert orphan is not None and orphan.op is Op.DELETE and orphan.document_id == "y"


def test_repair_of_a_document_dated_ahead_of_this_clock_deletes_it_at_its_version() -> None:
    ahead = Indexed("a", "1", version=int(time.time() * 1000) + 86_400_000)
    action = repair_action("contacts-v1", Verdict(EXTRA, "a", None, ahead), int(time.time() * 1000))
    assert action is not None and action["version"] == ahead.version


def test_nothing_to_repair_in_sync_or_dead_lettered() -> None:
    assert repair_action("contacts-v1", Verdict(IN_SYNC, "a", Expected("a", "1"), Indexed("a", "1")), 0) is None
    assert repair_action("contacts-v1", Verdict(Kind.DEAD_LETTERED, "a", Expected("a", "1")), 0) is None


@pytest.mark.parametrize(
    ("kind", "letter_version", "after"),
    [
        (MISSING, 5, Kind.DEAD_LETTERED),  # refused as it is now: a dead letter, not drift
        (DIFFERENT, 5, Kind.DEAD_LETTERED),
        (MISSING, 4, MISSING),  # changed since it was refused: drift, so a repair retries it
        (MISSING, None, MISSING),
        (EXTRA, 5, EXTRA),
        (IN_SYNC, 5, IN_SYNC),
    ],
)
def test_a_dead_letter_counts_only_for_the_version_it_refused(
    kind: Kind, letter_version: int | None, after: Kind
) -> None:
    expected = Expected("a", "h", {"_id": "a"}, version=5)
    letters = {} if letter_version is None else {"a": DeadLetter("a", letter_version, {"type": "x"})}
    assert with_dead_letters(Verdict(kind, "a", expected), letters).kind is after


def tally_of(verdicts: list[tuple[str, Kind]], examples: int = EXAMPLES) -> Tally:
    tally = Tally(examples=examples)
    for verdict_id, kind in verdicts:
        tally.add(Verdict(kind, verdict_id))
    return tally


def test_tally_keeps_counts_and_a_bounded_number_of_example_ids() -> None:
    tally = tally_of([(f"m{n}", MISSING) for n in range(5)] + [("x", EXTRA), ("s", IN_SYNC)], examples=3)
    assert tally.checked == 7
    assert tally.drift == 6
    assert tally.counts == {IN_SYNC: 1, MISSING: 5, EXTRA: 1, DIFFERENT: 0, Kind.DEAD_LETTERED: 0}
    assert tally.example_ids == {MISSING: ["m0", "m1", "m2"], EXTRA: ["x"], DIFFERENT: [], Kind.DEAD_LETTERED: []}


def test_tally_accounts_for_every_document_indexed_excluded_or_dead_lettered() -> None:
    tally = Tally()
    tally.add(Verdict(IN_SYNC, "a", Expected("a", "1")))
    tally.add(Verdict(IN_SYNC, "b", Expected("b", None)))  # disabled: excluded by rule
    tally.add(Verdict(Kind.DEAD_LETTERED, "c", Expected("c", "1")))
    assert (tally.indexed, tally.excluded, tally.counts[Kind.DEAD_LETTERED], tally.drift) == (1, 1, 1, 0)


@pytest.mark.parametrize(
    ("index_name", "found", "repaired", "recheck", "code"),
    [
        ("contacts-v1", [], False, None, 0),
        ("contacts-v1", [("a", MISSING)], False, None, 1),
        (None, [], False, None, 1),
        ("contacts-v1", [], True, None, 0),
        ("contacts-v1", [("a", DIFFERENT)], True, [], 0),
        ("contacts-v1", [("a", DIFFERENT)], True, [("a", DIFFERENT)], 1),
        ("contacts-v1", [("a", Kind.DEAD_LETTERED)], False, None, 3),
        ("contacts-v1", [("a", MISSING)], True, [("a", Kind.DEAD_LETTERED)], 3),
    ],
)
def test_exit_code(
    index_name: str | None,
    found: list[tuple[str, Kind]],
    repaired: bool,
    recheck: list[tuple[str, Kind]] | None,
    code: int,
) -> None:
    report = Report("contacts", index_name, tally_of(found), 1.0)
    if repaired:
        report.repaired = Repaired(written=len(found), rejected=0)
        report.recheck = None if recheck is None else tally_of(recheck)
    assert report.exit_code == code


def test_a_rejected_repair_is_a_failure_even_if_the_recheck_is_clean() -> None:
    report = Report("contacts", "contacts-v1", tally_of([("a", MISSING)]), 1.0, Repaired(0, 1), tally_of([]))
    assert report.exit_code == 1


def test_describe_prints_counts_and_ids_only() -> None:
    report = Report("contacts", "contacts-v3", tally_of([("a", MISSING), ("b", EXTRA), ("c", IN_SYNC)], 1), 2.04)
    report.found.documents, report.found.entries = 2, 1
    report.found.add(Verdict(MISSING, "d"))
    assert describe(report) == [
        "verify contacts-v3: checked 4 ids (2 documents in MongoDB: 1 indexed, 0 excluded by rule; 1 documents "
        "indexed): 2 missing, 1 extra, 0 different; 0 dead-lettered (2.0 s)",
        "  missing: a ...",
        "  extra: b",
    ]


def test_every_drift_kind_is_reported() -> None:
    assert set(DRIFT_KINDS) == set(Kind) - {IN_SYNC, Kind.DEAD_LETTERED}
