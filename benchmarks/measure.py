"""What the list benchmarks measure with: latency percentiles of one request at a time, and the CPU time a process
spent (from /proc), Elasticsearch's found by the port it listens on."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


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
