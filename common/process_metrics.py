"""What every process exposes besides its own metrics: the standard `process_*` series (CPU, memory, open files,
start time, under their usual names so stock dashboards work) and `<prefix>_build_info{version}`."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DISTRIBUTION = "contact-search"


def version() -> str:
    """The installed distribution's version (the image's); `unknown` when run from a tree that is not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


class _BuildInfo(Collector):
    def __init__(self, name: str, version: str) -> None:
        self._name = name
        self._version = version

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(self._name, "The running version (always 1).", labels=["version"])
        info.add_metric([self._version], 1)
        yield info


def register(registry: CollectorRegistry, prefix: str) -> None:
    """Adds `process_*` and `<prefix>_build_info` to `registry`."""
    ProcessCollector(registry=registry)
    registry.register(_BuildInfo(f"{prefix}_build_info", version()))
