"""The service's Prometheus metrics: requests by route and status, latency, backend latency and errors, cache hits,
and the process's own series (`process_*`, `contact_search_build_info`).

Served on their own port (`METRICS_PORT`, 0: off), never on the API's, so a proxy routing the API does not expose them.
The hot path only bumps plain counts (`service.metric_counts`); families are built when scraped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Final, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo import monitoring

from common import process_metrics
from common.backends import BackendStates, BackendUpCollector
from common.serving import serving
from service.metric_counts import ErrorTally, Latency, RouteTally

PREFIX: Final = "contact_search"
# A lookup is a few milliseconds; the tail that matters is tens to hundreds.
LATENCY_BUCKETS: Final = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE: Final = "unmatched"
BACKENDS: Final = ("elasticsearch", "mongo")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route_of(resource: web.AbstractResource | None) -> str:
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def route_name(request: web.Request) -> str:
    """The route template a request matched (`unmatched` for unknown paths): the `route` label of every series."""
    return _route_of(request.match_info.route.resource)


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


class BackendObserver(Collector):
    """Latency and errors of the calls to Elasticsearch and MongoDB, one histogram per backend bound up front."""

    def __init__(self) -> None:
        self._latency = {backend: Latency(LATENCY_BUCKETS) for backend in BACKENDS}
        self._errors = ErrorTally()

    def observe(self, backend: str, seconds: float) -> None:
        latency = self._latency.get(backend)
        if latency is None:
            latency = self._latency[backend] = Latency(LATENCY_BUCKETS)
        latency.observe(seconds)

    def failed(self, backend: str, error: str) -> None:
        self._errors.count(backend, error)

    @contextlib.asynccontextmanager
    async def timed(self, backend: str) -> AsyncIterator[None]:
        """Times the body as one call to `backend`; an exception counts as a failed call by its class name."""
        started = time.perf_counter()
        try:
            yield
        except Exception as failure:
            self.failed(backend, type(failure).__name__)
            raise
        self.observe(backend, time.perf_counter() - started)

    def collect(self) -> Iterable[Metric]:
        latency = HistogramMetricFamily(
            f"{PREFIX}_backend_request_duration_seconds", "Time of one call to a backend.", labels=["backend"]
        )
        for backend, histogram in self._latency.items():
            latency.add_metric([backend], histogram.cumulative(), histogram.total)
        errors = CounterMetricFamily(
            f"{PREFIX}_backend_errors", "Backend calls that failed, by error.", labels=["backend", "error"]
        )
        for (backend, error), count in self._errors:
            errors.add_metric([backend, error], count)
        yield latency
        yield errors


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


class _RequestCollector(Collector):
    def __init__(self, routes: Mapping[str, RouteTally]) -> None:
        self._routes = routes

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_http_requests", "Requests answered, by route and status.", labels=["route", "status"]
        )
        latency = HistogramMetricFamily(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's handler start to its answer, by route.",
            labels=["route"],
        )
        for route, tally in self._routes.items():
            for status, count in tally.statuses.items():
                requests.add_metric([route, str(status)], count)
            latency.add_metric([route], tally.latency.cumulative(), tally.latency.total)
        yield requests
        yield latency


class ServiceMetrics:
    """One process's registry; the middleware counts requests, the backends report through `backend`."""

    def __init__(self, backends: BackendStates | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(BackendUpCollector(f"{PREFIX}_backend_up", backends or BackendStates()))
        # By route template; the tally of a resource is found by the resource itself (no string built per request).
        self._by_name: dict[str, RouteTally] = {}
        self._by_resource: dict[object, RouteTally] = {}
        self.registry.register(_RequestCollector(self._by_name))
        self.backend = BackendObserver()
        self.registry.register(self.backend)
        # Rare (a backend failed and ROCKETCHAT_URL is set): a plain labelled counter is cheap enough here.
        self._fallbacks = Counter(
            f"{PREFIX}_fallbacks",
            "Requests forwarded to Rocket.Chat after a backend failure (ROCKETCHAT_URL), by route.",
            ["route"],
            registry=self.registry,
        )
        self.mongo_listener: monitoring.CommandListener = _MongoListener(self.backend)
        process_metrics.register(self.registry, PREFIX)

    def fell_back(self, route: str) -> None:
        self._fallbacks.labels(route).inc()

    def watch_caches(self, caches: Mapping[str, CacheCounts]) -> None:
        self.registry.register(_CacheCollector(caches))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _tally(self, resource: web.AbstractResource | None) -> RouteTally:
        name = _route_of(resource)
        tally = self._by_name.get(name)
        if tally is None:
            tally = self._by_name[name] = RouteTally(LATENCY_BUCKETS)
        self._by_resource[resource] = tally
        return tally

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Counts every answer; the envelope middleware inside it has already turned failures into responses."""
        started = time.perf_counter()
        response = await handler(request)
        resource = request.match_info.route.resource
        tally = self._by_resource.get(resource) or self._tally(resource)
        tally.count(response.status, time.perf_counter() - started)
        return response


def timed(observer: BackendObserver | None, backend: str) -> contextlib.AbstractAsyncContextManager[None]:
    """`observer.timed(backend)`, or nothing when metrics are off."""
    return observer.timed(backend) if observer is not None else contextlib.nullcontext()


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
