"""Counts kept as plain numbers on the hot path and turned into Prometheus families only when scraped.

prometheus-client's children take a lock on every update and `labels()` builds a tuple of strings per call; here an
answer costs a dict lookup, one bisect and three additions. The service runs one event loop per process, and every
update and every scrape happen on it, so nothing needs a lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence


class Latency:
    """A histogram's buckets as counts per bucket (not yet cumulative) and the sum of what was observed."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(bounds)
        self.counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left puts a value equal to a bound in that bound's bucket: Prometheus's `le` (less or equal).
        self.counts[bisect_left(self._bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """The `le` buckets as Prometheus exposes them: each counts every observation up to its bound."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(_le, self._bounds), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets


def _le(bound: float) -> str:
    return repr(float(bound))


class RouteTally:
    """One route's answers by status and their latency; created once per route, then only updated."""

    __slots__ = ("latency", "statuses")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.latency = Latency(bounds)
        self.statuses: dict[int, int] = {}

    def count(self, status: int, seconds: float) -> None:
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.latency.observe(seconds)


class ErrorTally:
    """Failed calls by (backend, error name)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, backend: str, error: str) -> None:
        key = (backend, error)
        self.counts[key] = self.counts.get(key, 0) + 1

    def __iter__(self) -> Iterator[tuple[tuple[str, str], int]]:
        return iter(self.counts.items())
