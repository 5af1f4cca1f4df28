"""The service's Prometheus metrics: requests by route and status, latency, backend latency and errors, cache hits.

Served on their own port (`METRICS_PORT`, 0: off), never on the API's, so a proxy routing the API does not expose them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Final, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo import monitoring

from common.backends import BackendStates, BackendUpCollector
from common.serving import serving

PREFIX: Final = "contact_search"
# A lookup is a few milliseconds; the tail that matters is tens to hundreds.
LATENCY_BUCKETS: Final = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE: Final = "unmatched"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_name(request: web.Request) -> str:
    """The route template a request matched (`unmatched` for unknown paths): the `route` label of every series."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


class CacheCounts(Protocol):
    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...


class _CacheCollector(Collector):
    """Hits and misses of the service's caches, read from the caches when scraped (nothing on the hot path)."""

    def __init__(self, caches: Mapping[str, CacheCounts]) -> None:
        self._caches = caches

    def collect(self) -> Iterable[Metric]:
        hits = CounterMetricFamily(f"{PREFIX}_cache_hits", "Lookups answered from a cache.", labels=["cache"])
        misses = CounterMetricFamily(f"{PREFIX}_cache_misses", "Lookups a cache had to load.", labels=["cache"])
        for name, cache in self._caches.items():
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
        yield hits
        yield misses


class BackendObserver:
    """Latency and errors of the calls to Elasticsearch and MongoDB."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._latency = Histogram(
            f"{PREFIX}_backend_request_duration_seconds",
            "Time of one call to a backend.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._errors = Counter(
            f"{PREFIX}_backend_errors", "Backend calls that failed, by error.", ["backend", "error"], registry=registry
        )

    def observe(self, backend: str, seconds: float) -> None:
        self._latency.labels(backend).observe(seconds)

    def failed(self, backend: str, error: str) -> None:
        self._errors.labels(backend, error).inc()


class _MongoListener(monitoring.CommandListener):
    """PyMongo's command events → backend latency and errors of `mongo` (auth and custom-field loads)."""

    def __init__(self, observer: BackendObserver) -> None:
        self._observer = observer

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._observer.observe("mongo", event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._observer.failed("mongo", type(event.failure).__name__ if not isinstance(event.failure, dict) else "error")


class ServiceMetrics:
    """One process's registry; the middleware counts requests, the backends report through `backend`."""

    def __init__(self, backends: BackendStates | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(BackendUpCollector(f"{PREFIX}_backend_up", backends or BackendStates()))
        self._requests = Counter(
            f"{PREFIX}_http_requests",
            "Requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's handler start to its answer, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._fallbacks = Counter(
            f"{PREFIX}_fallbacks",
            "Requests forwarded to Rocket.Chat after a backend failure (ROCKETCHAT_URL), by route.",
            ["route"],
            registry=self.registry,
        )
        self.backend = BackendObserver(self.registry)
        self.mongo_listener: monitoring.CommandListener = _MongoListener(self.backend)

    def fell_back(self, route: str) -> None:
        self._fallbacks.labels(route).inc()

    def watch_caches(self, caches: Mapping[str, CacheCounts]) -> None:
        self.registry.register(_CacheCollector(caches))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Counts every answer; the envelope middleware inside it has already turned failures into responses."""
        started = time.perf_counter()
        response = await handler(request)
        name = route_name(request)
        self._requests.labels(name, str(response.status)).inc()
        self._latency.labels(name).observe(time.perf_counter() - started)
        return response


async def _scrape(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


METRICS: Final = web.AppKey("service_metrics", ServiceMetrics)


@contextlib.asynccontextmanager
async def serve(metrics: ServiceMetrics, host: str, port: int) -> AsyncIterator[None]:
    """`GET /metrics` on its own port while the body runs."""
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/metrics", _scrape)
    async with serving(app, host, port):
        yield
