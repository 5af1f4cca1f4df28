"""Whether each backend answered: the `backend_up` gauges of both processes, fed by the clients themselves (an
Elasticsearch transport that notes each request's outcome, a MongoDB topology listener), so no call site reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from elastic_transport import AsyncTransport, TransportApiResponse, TransportError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo import monitoring

ELASTICSEARCH: Final = "elasticsearch"
MONGODB: Final = "mongodb"


class BackendStates:
    """1 after a backend's last call succeeded (any HTTP answer counts: the backend is there), 0 after it could not
    be reached, timed out or refused the connection; unknown before the first call."""

    def __init__(self) -> None:
        self._up: dict[str, bool] = {}

    def reached(self, backend: str) -> None:
        self._up[backend] = True

    def unreachable(self, backend: str) -> None:
        self._up[backend] = False

    def up(self, backend: str) -> bool | None:
        return self._up.get(backend)

    def known(self) -> dict[str, bool]:
        return dict(self._up)


class BackendUpCollector(Collector):
    """`<prefix>_backend_up{backend}`, read from the states when scraped."""

    def __init__(self, name: str, states: BackendStates) -> None:
        self._name = name
        self._states = states

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            self._name, "1 when the backend answered its last call, 0 when it could not be reached.", labels=["backend"]
        )
        for backend, up in sorted(self._states.known().items()):
            gauge.add_metric([backend], int(up))
        yield gauge


def observed_transport(states: BackendStates) -> type[AsyncTransport]:
    """elastic-transport's transport, noting in `states` whether each request got an answer from Elasticsearch
    (its retries over the nodes included); for `AsyncElasticsearch(transport_class=...)`."""

    class ObservedTransport(AsyncTransport):
        async def perform_request(self, *args: Any, **kwargs: Any) -> TransportApiResponse:  # type: ignore[override]
            try:
                response = await super().perform_request(*args, **kwargs)
            except TransportError:
                states.unreachable(ELASTICSEARCH)
                raise
            states.reached(ELASTICSEARCH)
            return response

    return ObservedTransport


class MongoTopologyListener(monitoring.TopologyListener):
    """PyMongo's view of the deployment: up while it knows a primary (every read and write of both processes goes
    to the primary), down once its monitoring or a failed operation marked the primary unknown."""

    def __init__(self, states: BackendStates) -> None:
        self._states = states

    def opened(self, event: monitoring.TopologyOpenedEvent) -> None:
        pass

    def description_changed(self, event: monitoring.TopologyDescriptionChangedEvent) -> None:
        if event.new_description.has_writable_server():
            self._states.reached(MONGODB)
        else:
            self._states.unreachable(MONGODB)

    def closed(self, event: monitoring.TopologyClosedEvent) -> None:
        pass
