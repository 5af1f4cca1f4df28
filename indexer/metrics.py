"""What the workers expose to operators: Prometheus metrics on `/metrics` (through prometheus-client) and a liveness
verdict on `/healthz`, for one or several workers (one per synced collection) in one process."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common import process_metrics
from common.backends import BackendStates, BackendUpCollector
from common.serving import serving

PREFIX = "contact_search_indexer"


@dataclass
class Metrics:
    """Counters and gauges of one worker process; the worker updates them, the HTTP endpoints read them."""

    stall_after: float = 120.0
    alias: str = ""  # the synced collection's alias: the `alias` label of every series
    monotonic: Callable[[], float] = time.monotonic
    indexed: int = 0
    deleted: int = 0
    failed: int = 0
    retried: int = 0
    backlog: int = 0
    # Entries of contact_search_dead_letters for this alias: counted when leading starts, then kept by the writer.
    dead_letters: int = 0
    leader: bool = False
    fencing_token: int = 0
    phase: str = "starting"
    last_checkpoint_at: float = 0.0  # unix seconds
    synced_through: float = 0.0  # unix seconds: every change made before this is in the index
    _last_beat: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._last_beat = self.monotonic()

    def beat(self) -> None:
        """The worker's loop went round: a batch written, a poll done, a lease attempt made, a failed write retried.
        A loop that stops going round (a hung call) is what `/healthz` reports; a backend that is away is not."""
        self._last_beat = self.monotonic()

    def waiting(self, seconds: float) -> None:
        """The worker waits `seconds` on purpose (a backoff before retrying a backend that is away): a timed wait
        cannot hang, so its length does not count as a stall; the next beat is due once it is over."""
        self._last_beat = max(self._last_beat, self.monotonic() + seconds)

    def count_settled(self, op: str) -> None:
        if op == "delete":
            self.deleted += 1
        else:
            self.indexed += 1

    def checkpointed(self) -> None:
        self.last_checkpoint_at = time.time()
        self.beat()

    def lag_seconds(self) -> float:
        if self.synced_through <= 0:
            return 0.0
        return max(0.0, time.time() - self.synced_through)

    def stalled_for(self) -> float:
        return max(0.0, self.monotonic() - self._last_beat)

    def healthy(self) -> bool:
        return self.stalled_for() < self.stall_after


class _WorkersCollector(Collector):
    """Reads each worker's `Metrics` when scraped: the worker's hot loop only bumps plain attributes."""

    def __init__(self, workers: Sequence[Metrics]) -> None:
        self._workers = workers

    def collect(self) -> Iterable[Metric]:
        for name, family, text, value in _SERIES:
            metric = family(f"{PREFIX}_{name}", text, labels=["alias"])
            for worker in self._workers:
                metric.add_metric([worker.alias], value(worker))
            yield metric
        phase = GaugeMetricFamily(f"{PREFIX}_phase", "The phase each worker is in (1).", labels=["alias", "phase"])
        for worker in self._workers:
            phase.add_metric([worker.alias, worker.phase], 1)
        yield phase
        # Only the leader's count is current: a standby's would be stale from its last leadership.
        dead_letters = GaugeMetricFamily(
            f"{PREFIX}_dead_letters_waiting",
            "Documents Elasticsearch refused that wait in contact_search_dead_letters (leader only).",
            labels=["alias"],
        )
        for worker in self._workers:
            if worker.leader:
                dead_letters.add_metric([worker.alias], worker.dead_letters)
        yield dead_letters


_SERIES: list[tuple[str, type[CounterMetricFamily] | type[GaugeMetricFamily], str, Callable[[Metrics], float]]] = [
    ("documents_indexed", CounterMetricFamily, "Documents written to the index.", lambda m: m.indexed),
    ("documents_deleted", CounterMetricFamily, "Documents removed from the index.", lambda m: m.deleted),
    ("documents_failed", CounterMetricFamily, "Documents Elasticsearch rejected (dead-lettered).", lambda m: m.failed),
    ("bulk_retries", CounterMetricFamily, "Bulk items sent again after a transient failure.", lambda m: m.retried),
    ("backlog", GaugeMetricFamily, "Changes read, not yet acknowledged (or backfill remainder).", lambda m: m.backlog),
    ("lag_seconds", GaugeMetricFamily, "Age of the newest change known to be in the index.", Metrics.lag_seconds),
    (
        "last_checkpoint_timestamp_seconds",
        GaugeMetricFamily,
        "When the checkpoint last moved.",
        lambda m: m.last_checkpoint_at,
    ),
    ("leader", GaugeMetricFamily, "1 when this process holds the writer lease.", lambda m: int(m.leader)),
    ("fencing_token", GaugeMetricFamily, "Fencing token of the lease this process holds.", lambda m: m.fencing_token),
    ("progress_age_seconds", GaugeMetricFamily, "Seconds since the worker last made progress.", Metrics.stalled_for),
]


class Exposition:
    """One registry for every worker of a process (one per synced collection, told apart by the `alias` label),
    plus the process's own series (`process_*`, `contact_search_indexer_build_info`)."""

    def __init__(self, workers: Sequence[Metrics], backends: BackendStates | None = None) -> None:
        self.workers = list(workers)
        self.registry = CollectorRegistry()
        self.registry.register(_WorkersCollector(self.workers))
        self.backends = backends or BackendStates()
        self.registry.register(BackendUpCollector(f"{PREFIX}_backend_up", self.backends))
        process_metrics.register(self.registry, PREFIX)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def healthy(self) -> bool:
        """Healthy only when every worker is."""
        return all(worker.healthy() for worker in self.workers)


EXPOSITION = web.AppKey("exposition", Exposition)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[EXPOSITION].render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    exposition = request.app[EXPOSITION]
    healthy = exposition.healthy()
    backends = {backend: "up" if up else "down" for backend, up in exposition.backends.known().items()}
    workers = {
        worker.alias: {
            "healthy": worker.healthy(),
            "phase": worker.phase,
            "seconds_since_progress": round(worker.stalled_for(), 1),
        }
        for worker in exposition.workers
    }
    first = exposition.workers[0]
    # `phase` and `seconds_since_progress` at the top are the first worker's, as before several workers existed.
    body = {
        "healthy": healthy,
        "phase": first.phase,
        "seconds_since_progress": round(first.stalled_for(), 1),
        "workers": workers,
        "backends": backends,  # for a person reading it: a backend that is down does not make the process unhealthy
    }
    return web.json_response(body, status=200 if healthy else 503)


def create_app(workers: Metrics | Sequence[Metrics], backends: BackendStates | None = None) -> web.Application:
    app = web.Application()
    app[EXPOSITION] = Exposition([workers] if isinstance(workers, Metrics) else workers, backends)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


@contextlib.asynccontextmanager
async def serve(
    workers: Metrics | Sequence[Metrics], port: int, host: str = "0.0.0.0", backends: BackendStates | None = None
) -> AsyncIterator[None]:
    """Serve the endpoints for one worker or several (one per synced collection) while the body runs (port 0: off);
    `backends` is what the process's clients saw of Elasticsearch and MongoDB."""
    if port == 0:
        yield
        return
    async with serving(create_app(workers, backends), host, port):
        yield
