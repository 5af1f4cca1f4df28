"""The service's hot-path counts and what a scrape makes of them."""

from __future__ import annotations

import pytest

from service.metric_counts import ErrorTally, Latency, RouteTally

BOUNDS = (0.001, 0.01, 0.1)


@pytest.mark.parametrize(
    ("observed", "cumulative"),
    [
        ([], [0, 0, 0, 0]),
        ([0.0005], [1, 1, 1, 1]),
        ([0.001], [1, 1, 1, 1]),  # a value on a bound is in that bound's bucket (`le`)
        ([0.0011], [0, 1, 1, 1]),
        ([0.1, 0.2, 5.0], [0, 0, 1, 3]),  # above the last bound: only +Inf
        ([0.002, 0.002, 0.05], [0, 2, 3, 3]),
    ],
)
def test_latency_buckets_are_cumulative_as_prometheus_exposes_them(
    observed: list[float], cumulative: list[int]
) -> None:
    latency = Latency(BOUNDS)
    for seconds in observed:
        latency.observe(seconds)
    assert latency.cumulative() == list(zip(("0.001", "0.01", "0.1", "+Inf"), cumulative, strict=True))
    assert latency.total == pytest.approx(sum(observed))


def test_route_tally_counts_statuses_and_latency() -> None:
    tally = RouteTally(BOUNDS)
    for status, seconds in ((200, 0.002), (200, 0.003), (503, 0.5)):
        tally.count(status, seconds)
    assert tally.statuses == {200: 2, 503: 1}
    assert tally.latency.cumulative()[-1] == ("+Inf", 3)


def test_error_tally_counts_by_backend_and_error() -> None:
    errors = ErrorTally()
    for backend, error in (
        ("elasticsearch", "TimeoutError"),
        ("mongo", "AutoReconnect"),
        ("elasticsearch", "TimeoutError"),
    ):
        errors.count(backend, error)
    assert dict(errors) == {("elasticsearch", "TimeoutError"): 2, ("mongo", "AutoReconnect"): 1}
