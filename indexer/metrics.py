"""What the worker exposes to operators: Prometheus text on `/metrics` and a liveness verdict on `/healthz`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

PREFIX = "contact_search_indexer"


@dataclass
class Metrics:
    """Counters and gauges of one worker process; the worker updates them, the HTTP endpoints read them."""

    stall_after: float = 120.0
    monotonic: Callable[[], float] = time.monotonic
    indexed: int = 0
    deleted: int = 0
    failed: int = 0
    retried: int = 0
    backlog: int = 0
    leader: bool = False
    fencing_token: int = 0
    phase: str = "starting"
    last_checkpoint_at: float = 0.0  # unix seconds
    synced_through: float = 0.0  # unix seconds: every change made before this is in the index
    _last_beat: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._last_beat = self.monotonic()

    def beat(self) -> None:
        """The worker made progress (a batch written, a poll done, a lease attempt made)."""
        self._last_beat = self.monotonic()

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
        return self.monotonic() - self._last_beat

    def healthy(self) -> bool:
        return self.stalled_for() < self.stall_after

    def render(self) -> str:
        rows = [
            ("documents_indexed_total", "counter", "Visitors written to the index.", self.indexed),
            ("documents_deleted_total", "counter", "Visitors removed from the index.", self.deleted),
            ("documents_failed_total", "counter", "Visitors Elasticsearch rejected (dead-lettered).", self.failed),
            ("bulk_retries_total", "counter", "Bulk items sent again after a transient failure.", self.retried),
            ("backlog", "gauge", "Changes read but not yet acknowledged, or backfill remainder.", self.backlog),
            ("lag_seconds", "gauge", "Age of the newest change known to be in the index.", self.lag_seconds()),
            ("last_checkpoint_timestamp_seconds", "gauge", "When the checkpoint last moved.", self.last_checkpoint_at),
            ("leader", "gauge", "1 when this process holds the writer lease.", int(self.leader)),
            ("fencing_token", "gauge", "Fencing token of the lease this process holds.", self.fencing_token),
            ("seconds_since_progress", "gauge", "Seconds since the worker last made progress.", self.stalled_for()),
        ]
        lines: list[str] = []
        for name, kind, text, value in rows:
            lines += [f"# HELP {PREFIX}_{name} {text}", f"# TYPE {PREFIX}_{name} {kind}", f"{PREFIX}_{name} {value}"]
        lines.append(f'{PREFIX}_phase{{phase="{self.phase}"}} 1')
        return "\n".join(lines) + "\n"


METRICS = web.AppKey("metrics", Metrics)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain", charset="utf-8")


async def _healthz(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    status = 200 if metrics.healthy() else 503
    body = {"healthy": status == 200, "phase": metrics.phase, "seconds_since_progress": round(metrics.stalled_for(), 1)}
    return web.json_response(body, status=status)


def create_app(metrics: Metrics) -> web.Application:
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


@contextlib.asynccontextmanager
async def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> AsyncIterator[None]:
    """Serve the endpoints while the caller's `async for` body runs (port 0 disables them)."""
    if port == 0:
        yield
        return
    runner = web.AppRunner(create_app(metrics), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()
