"""Pure parts of the resilience work: the repair's version over a newer index entry, the worker's liveness clock,
which failures the fallback forwards."""

from __future__ import annotations

from typing import Any

import elastic_transport
import pytest

from indexer.changes import Op
from indexer.collections import VISITORS
from indexer.drift import Expected, Indexed, Kind, Verdict, ahead_of_source, over_newer_version
from indexer.metrics import Metrics
from service import fallback
from service.errors import BackendFailed, BackendUnavailable, InvalidParams, Unauthorized
from tests import factories


def verdict(kind: Kind, mongo_version: int | None, index_version: int | None) -> Verdict:
    expected = None if mongo_version is None else Expected("v1", "hash-a", {}, mongo_version)
    indexed = None if index_version is None else Indexed("v1", "hash-b", index_version)
    return Verdict(kind, "v1", expected, indexed)


@pytest.mark.parametrize(
    ("found", "ahead"),
    [
        (verdict(Kind.DIFFERENT, 100, 200), 200),  # MongoDB went back: the index is ahead
        (verdict(Kind.EXTRA, 100, 200), 200),  # excluded in MongoDB's older version, indexed in the newer one
        (verdict(Kind.DIFFERENT, 200, 100), None),  # the index is behind: a normal repair wins by itself
        (verdict(Kind.DIFFERENT, 100, 100), None),  # the same version: external_gte lets the write through
        (verdict(Kind.MISSING, 100, None), None),
        (verdict(Kind.EXTRA, None, 200), None),  # gone from MongoDB: a delete at the current time
        (verdict(Kind.IN_SYNC, 100, 200), None),
        (verdict(Kind.DEAD_LETTERED, 100, 200), None),
    ],
)
def test_ahead_of_source(found: Verdict, ahead: int | None) -> None:
    assert ahead_of_source(found) == ahead


VISITOR = factories.visitor(_id="v1", name="A")
OWN = VISITORS.version_of(VISITOR)


@pytest.mark.parametrize(
    ("current", "beaten", "op", "version", "indexed"),
    [
        (VISITOR, OWN + 500, Op.UPSERT, OWN + 501, True),  # older in MongoDB: the first version that beats
        (VISITOR, OWN, Op.UPSERT, OWN, True),  # written since at a version that wins by itself
        (VISITOR, OWN - 1, Op.UPSERT, OWN, True),
        ({**VISITOR, "disabled": True}, OWN + 500, Op.UPSERT, OWN + 501, False),  # excluded: a delete that beats
        (None, OWN + 500, Op.DELETE, 10**13, None),  # gone since: deleted at the current time
    ],
)
def test_over_newer_version(current: dict[str, Any] | None, beaten: int, op: Op, version: int, indexed: Any) -> None:
    change = over_newer_version(VISITORS, "v1", current, beaten, now_ms=10**13)
    assert (change.op, change.version, change.source_id) == (op, version, "v1")
    if indexed is not None:
        assert (change.document is not None) is indexed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_deliberate_wait_is_not_a_stall_but_what_follows_it_is() -> None:
    clock = Clock()
    metrics = Metrics(stall_after=10.0, monotonic=clock)
    clock.now += 9
    assert metrics.healthy()
    metrics.waiting(30.0)  # a backoff of 30 s before retrying Elasticsearch
    clock.now += 30
    assert metrics.stalled_for() == 0.0 and metrics.healthy()
    clock.now += 9.5
    assert metrics.healthy()
    clock.now += 1
    assert not metrics.healthy()  # nothing went round after the wait: stuck
    metrics.beat()
    assert metrics.healthy()


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (BackendUnavailable("Search backend is unavailable"), 503),
        (BackendFailed("Search backend failed"), 502),
        (elastic_transport.ConnectionError("refused"), 503),  # a client library's failure, mapped by the one rule
        (InvalidParams("bad"), 400),
        (Unauthorized("no"), 401),
        (ValueError("a bug"), None),
    ],
)
def test_backend_status_of_a_failure(failure: Exception, status: int | None) -> None:
    assert fallback.backend_status(failure) == status
