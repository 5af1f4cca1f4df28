"""What the list benchmarks measure with: latency percentiles of one request at a time, the CPU time a process spent
(from /proc; Elasticsearch's found by the port it listens on), the service they run against, their command line and
their report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.seeding import free_port
from common import config
from tests.processes import process_environment


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` (Elasticsearch's, of the local stack), or None when it is not ours to
    see: the socket's inode in /proc/net/tcp*, then the process holding it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            columns = row.split()
            if columns[3] == "0A" and int(columns[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{columns[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


def percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


async def timed(
    call: Callable[[dict[str, str]], Awaitable[int]], queries: list[dict[str, str]]
) -> tuple[list[float], list[int]]:
    latencies, totals = [], []
    for query in queries:
        started = time.perf_counter()
        totals.append(await call(query))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, totals


async def measured(
    call: Callable[[dict[str, str]], Awaitable[int]],
    kinds: dict[str, list[dict[str, str]]],
    pids: dict[str, int | None],
) -> dict[str, Any]:
    """Per kind of request: p50/p99 of one at a time after ten to warm up, the median total, and each process's CPU
    milliseconds per request."""
    results: dict[str, Any] = {}
    for kind, queries in kinds.items():
        await timed(call, queries[:10])  # warm
        before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        latencies, totals = await timed(call, queries)
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items() if pid}
        results[kind] = {
            **percentiles(latencies),
            "median_total": statistics.median(totals),
            **{f"{name}_cpu_ms_per_request": round(seconds * 1000 / len(queries), 2) for name, seconds in cpu.items()},
        }
    return results


@contextlib.asynccontextmanager
async def service_process(
    mongo_url: str, es_url: str, alias: str, **settings: str
) -> AsyncIterator[tuple[str, dict[str, int | None]]]:
    """`python -m service` on a free port while the body runs: its base URL, and the pids whose CPU is measured (the
    service's, and Elasticsearch's found by the first node's port)."""
    port = free_port()
    environment = process_environment(mongo_url, None, alias, PORT=str(port), LOG_LEVEL="WARNING", **settings)
    service = await asyncio.create_subprocess_exec(sys.executable, "-m", "service", env=environment)
    try:
        es_port = int(config.es_nodes(es_url)[0].rsplit(":", 1)[1].split("/")[0])
        yield f"http://127.0.0.1:{port}", {"service": service.pid, "elasticsearch": listening_pid(es_port)}
    finally:
        if service.returncode is None:
            service.terminate()
        await service.wait()


def arguments(description: str | None, size_name: str) -> argparse.Namespace:
    """A list benchmark's command line: `--<size_name>` documents, Rocket.Chat's sizes, requests per kind."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(f"--{size_name}", type=int, default=1_000_000)
    parser.add_argument(
        "--rocketchat-sizes",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[10_000, 100_000],
    )
    parser.add_argument("--requests", type=int, default=200)
    return parser.parse_args()


def report(results: dict[str, Any], title: str, written: Path, width: int) -> None:
    """Writes `results` to `written` and prints them, each kind's p50 beside Rocket.Chat's way at each size."""
    written.parent.mkdir(exist_ok=True)
    written.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{title} (index built in {results['build_seconds']} s), one request at a time:")
    for kind, figures in results["service"].items():
        line = f"  {kind:{width}} p50 {figures['p50_ms']:8.2f} ms  p99 {figures['p99_ms']:8.2f} ms"
        line += f"  total ~{figures['median_total']:,.0f}"
        for size, theirs in results["rocketchat_way_on_the_wire_server"].items():
            other = theirs[kind]["p50_ms"]
            line += f" | Rocket.Chat's way at {int(size):,}: p50 {other:9.1f} ms ({other / figures['p50_ms']:.0f}x)"
        print(line)
    print(f"written to {written}")
