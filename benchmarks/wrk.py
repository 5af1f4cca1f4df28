"""Load from `wrk` (a native load generator) and CPU time per request read from /proc, for the lookup benchmark.

A round is one `wrk` run over a Lua script that picks a random request from a list each time; the script's `done`
hook prints one JSON line (requests, duration, p50/p99, errors). The CPU time of a process tree (a service and its
workers, Elasticsearch's launcher and server) is utime + stime from /proc/<pid>/stat before and after the round.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SEED_HOOK = "init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end"
DONE_HOOK = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non_2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors, summary.errors.status))
end
"""


def missing_reason() -> str | None:
    """None when `wrk` can run here, else one line saying why not and how to get it."""
    if shutil.which("wrk"):
        return None
    return "wrk is not installed: `apt-get install wrk` (Debian package wrk) and run again"


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def get_script(paths: list[str], headers: dict[str, str]) -> str:
    """A script sending GET requests to random paths from the list."""
    lines = ["local paths = {", *(f"  {_lua_string(path)}," for path in paths), "}"]
    fields = ", ".join(f"[ {_lua_string(name)} ] = {_lua_string(value)}" for name, value in headers.items())
    lines.append(f"local headers = {{{fields}}}")
    lines += [
        SEED_HOOK,
        'request = function() return wrk.format("GET", paths[math.random(#paths)], headers) end',
        DONE_HOOK,
    ]
    return "\n".join(lines)


def post_script(path: str, bodies: list[bytes]) -> str:
    """A script posting random JSON bodies from the list to one path."""
    lines = ["local bodies = {", *(f"  {_lua_string(body.decode())}," for body in bodies), "}"]
    lines += [
        'local headers = {["Content-Type"] = "application/json"}',
        SEED_HOOK,
        f"local path = {_lua_string(path)}",
        'request = function() return wrk.format("POST", path, headers, bodies[math.random(#bodies)]) end',
        DONE_HOOK,
    ]
    return "\n".join(lines)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (those alive now)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        pending += _children(current)
    return total


@dataclass
class Round:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: dict[str, float]


def run_round(
    url: str, script: str, workdir: Path, seconds: int, connections: int, threads: int, watched: dict[str, int]
) -> Round:
    """One `wrk` round; CPU per request of each watched process tree over exactly that round."""
    script_path = workdir / "round.lua"
    script_path.write_text(script)
    before = {name: tree_cpu_seconds(pid) for name, pid in watched.items()}
    finished = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script_path), url],
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0 or not finished.stdout.strip().endswith("}"):
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()[-500:]}")
    after = {name: tree_cpu_seconds(pid) for name, pid in watched.items()}
    summary: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    requests = max(1, int(summary["requests"]))
    return Round(
        requests=requests,
        rps=round(requests / (summary["duration_us"] / 1e6), 1),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=int(summary["errors"]) + int(summary["non_2xx"]),
        cpu_us_per_request={name: round((after[name] - before[name]) * 1e6 / requests, 1) for name in watched},
    )


def median_round(rounds: list[Round]) -> dict[str, Any]:
    """The median of each figure over the rounds (each taken separately), plus every round's rps."""
    names = rounds[0].cpu_us_per_request
    return {
        "rps": statistics.median(r.rps for r in rounds),
        "p50_ms": round(statistics.median(r.p50_ms for r in rounds), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in rounds), 3),
        "errors": sum(r.errors for r in rounds),
        "cpu_us_per_request": {n: statistics.median(r.cpu_us_per_request[n] for r in rounds) for n in names},
        "rounds_rps": [r.rps for r in rounds],
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 2)
