"""Lookup benchmark: the service against the same Elasticsearch queries sent directly, in one run, loaded by `wrk`.

    python -m benchmarks.lookup [--visitors 100000] [--seconds 8] [--rounds 3] [--baseline-tree DIR]

Generates N realistic visitors and indexes them with the indexer's own transform and writer (once per size; the
load rate is recorded), starts `python -m service`, then for each lookup kind (email, phone, exact custom, substring
custom) runs rounds of `wrk` (8 connections, random lookups) through the service and directly against
Elasticsearch's `_search` with the same body, alternating, warm, and keeps the median of the rounds: rps, p50/p99,
and CPU time per lookup of the service's and Elasticsearch's process trees from /proc. Then the levers (event loop,
the request log line, metrics, workers, and with --baseline-tree the code before the hot path was rewritten), each
against a direct round of the same run. One connection gives the added p50. Prints ratios and writes
benchmarks/results/lookup-<N>.json. Needs ES_URL, MONGO_URL and the stack's pid files (`make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from benchmarks import wrk
from benchmarks.clients import benchmark_client
from benchmarks.seeding import (
    RESULTS_DIR,
    TOKEN,
    build_index,
    free_port,
    lookups,
    seed_mongo,
    wait_ready,
    with_database,
)
from indexer import indices
from service.lookup import query, search
from tests.processes import process_environment

KINDS = ("email", "phone", "custom_exact", "custom_substring")
SEARCH_PATH = "/api/v1/omnichannel/contact.search"
HEADERS = {"X-User-Id": "bench-agent", "X-Auth-Token": TOKEN}


# A wrk target: URL, Lua script, and the process trees whose CPU is read around each round.
Target = tuple[str, str, dict[str, int]]


@dataclass(frozen=True)
class Lever:
    """One way to run the service: environment on top of the benchmark's, and which source tree."""

    name: str
    environment: dict[str, str] = field(default_factory=dict)
    tree: Path | None = None


def levers(baseline_tree: Path | None) -> list[Lever]:
    shipped = {"LOG_LEVEL": "INFO", "METRICS_PORT": str(free_port())}  # what the image and the chart run
    chosen = [
        Lever("uvloop, lean path (default)"),
        Lever("asyncio loop", {"EVENT_LOOP": "asyncio"}),
        Lever("shipped: INFO logs, metrics on", shipped),
        Lever("request log line on every request", {"LOG_LEVEL": "INFO", "REQUEST_LOG": "1"}),
        Lever("metrics on", {"METRICS_PORT": str(free_port())}),
        Lever("2 workers", {"WORKERS": "2"}),
    ]
    if baseline_tree is not None:
        # The same settings on the code of another checkout (e.g. before the metrics and the log line got cheaper).
        before = {**shipped, "METRICS_PORT": str(free_port())}
        chosen.append(Lever("before: INFO logs, metrics on", before, baseline_tree))
    return chosen


def es_pid() -> int:
    """Elasticsearch's launcher pid from the local stack's pid file (its server is a child process)."""
    stack = Path(os.environ.get("CONTACT_SEARCH_STACK_DIR") or Path.home() / ".cache/contact-search/stack")
    candidates = [stack / "run" / "elasticsearch.pid", Path("/var/cache/contact-search/stack/run/elasticsearch.pid")]
    for candidate in candidates:
        if candidate.exists():
            return int(candidate.read_text().split()[0])
    raise SystemExit("no Elasticsearch pid file: set CONTACT_SEARCH_STACK_DIR to the stack's directory")


def service_paths(requests: list[dict[str, str]]) -> list[str]:
    return [SEARCH_PATH + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()) for params in requests]


def direct_bodies(requests: list[dict[str, str]]) -> list[bytes]:
    """The very body the service posts first for each lookup."""
    bodies = []
    for params in requests:
        criteria = query.parse_criteria(list(params.items()))
        bodies.append(search.search_body(criteria, search.FIRST_PAGE if criteria.custom else 1, None))
    return bodies


@contextlib.asynccontextmanager
async def running_service(lever: Lever, alias: str, mongo_url: str) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    # The lean configuration, each lever's settings over it (a lever may set LOG_LEVEL).
    lean = {"COLLECTIONS": "visitors", "PORT": str(port), "LOG_LEVEL": "WARNING"}
    environment = process_environment(mongo_url, None, alias, **(lean | lever.environment))
    if lever.tree is not None:
        environment["PYTHONPATH"] = str(lever.tree)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        env=environment,
        cwd=lever.tree,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
        yield base, process.pid
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def check_answers(base: str, requests: list[dict[str, str]]) -> None:
    """Every sampled lookup finds its visitor (wrk only sees statuses)."""
    async with aiohttp.ClientSession() as session:
        for path in service_paths(requests[:20]):
            async with session.get(base + path, headers=HEADERS) as response:
                body = orjson.loads(await response.read())
                assert response.status == 200 and body["contact"] is not None, (response.status, body)


class Bench:
    def __init__(self, args: argparse.Namespace, es_url: str, alias: str, workdir: Path) -> None:
        self.args, self.es_url, self.alias, self.workdir = args, es_url, alias, workdir
        self.es_pid = es_pid()

    def interleaved(self, targets: dict[str, Target], connections: int) -> dict[str, dict[str, Any]]:
        """Rounds of every target in turn (A, B, C, A, B, C, ...), so that each sees the same machine load; the
        median round of each."""
        threads = min(2, connections)
        for url, script, watched in targets.values():
            wrk.run_round(url, script, self.workdir, 2, connections, threads, watched)  # warm
        rounds: dict[str, list[wrk.Round]] = {name: [] for name in targets}
        for _ in range(self.args.rounds):
            for name, (url, script, watched) in targets.items():
                rounds[name].append(
                    wrk.run_round(url, script, self.workdir, self.args.seconds, connections, threads, watched)
                )
        load = wrk.load_average()
        return {name: {**wrk.median_round(measured), "load_average": load} for name, measured in rounds.items()}

    def service_target(self, base: str, service_pid: int, requests: list[dict[str, str]]) -> Target:
        script = wrk.get_script(service_paths(requests), HEADERS)
        return base, script, {"service": service_pid, "elasticsearch": self.es_pid}

    def direct_target(self, requests: list[dict[str, str]]) -> Target:
        path = f"/{self.alias}/_search?filter_path={search.FILTER_PATH}"
        return self.es_url + path, wrk.post_script(path, direct_bodies(requests)), {"elasticsearch": self.es_pid}

    def compare(self, base: str, service_pid: int, requests: list[dict[str, str]], connections: int) -> dict[str, Any]:
        """Service and direct rounds on the same lookups, with the ratios the targets are stated in."""
        measured = self.interleaved(
            {"service": self.service_target(base, service_pid, requests), "direct": self.direct_target(requests)},
            connections,
        )
        return ratios(measured["service"], measured["direct"])

    def lever(
        self, default: tuple[str, int], lever: tuple[str, int], requests: list[dict[str, str]], connections: int
    ) -> dict[str, Any]:
        """The default configuration, the lever and direct in interleaved rounds."""
        measured = self.interleaved(
            {
                "default": self.service_target(*default, requests),
                "lever": self.service_target(*lever, requests),
                "direct": self.direct_target(requests),
            },
            connections,
        )
        result = ratios(measured["lever"], measured["direct"])
        result["default"] = measured["default"]
        result["lever_cpu_over_default_cpu"] = round(
            measured["lever"]["cpu_us_per_request"]["service"] / measured["default"]["cpu_us_per_request"]["service"],
            3,
        )
        return result


def ratios(through: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    service_cpu = through["cpu_us_per_request"]["service"]
    es_cpu = through["cpu_us_per_request"]["elasticsearch"]
    direct_es_cpu = direct["cpu_us_per_request"]["elasticsearch"]
    return {
        "service": through,
        "direct": direct,
        "service_cpu_over_es_cpu": round(service_cpu / es_cpu, 3) if es_cpu else None,
        "service_cpu_over_direct_es_cpu": round(service_cpu / direct_es_cpu, 3) if direct_es_cpu else None,
        "throughput_ratio": round(through["rps"] / direct["rps"], 3),
        "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3),
    }


def line(label: str, result: dict[str, Any]) -> str:
    service, direct = result["service"], result["direct"]
    cpu = service["cpu_us_per_request"]
    return (
        f"{label:40s} service {service['rps']:7.0f} rps p50 {service['p50_ms']:6.2f} p99 {service['p99_ms']:6.2f} ms"
        f" | direct {direct['rps']:7.0f} rps p50 {direct['p50_ms']:6.2f} ms"
        f" | CPU/lookup service {cpu['service']:5.0f} µs, ES {cpu['elasticsearch']:5.0f} µs"
        f" (direct {direct['cpu_us_per_request']['elasticsearch']:5.0f})"
        f" | ratios cpu {result['service_cpu_over_es_cpu']} (/direct {result['service_cpu_over_direct_es_cpu']}),"
        f" rps {result['throughput_ratio']}"
        f" | load {service['load_average']}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    es_url, mongo_url = os.environ["ES_URL"], os.environ["MONGO_URL"]
    alias = f"bench-lookup-{args.visitors}"
    database_name = "bench_lookup"
    es = benchmark_client(request_timeout=600)
    report: dict[str, Any] = {"visitors": args.visitors, "connections": args.connections, "kinds": {}, "levers": {}}
    try:
        existing = await indices.current_index(es, alias)
        count = (await es.count(index=alias))["count"] if existing else 0
        if count != args.visitors or args.rebuild:
            if existing:
                await es.indices.delete(index=existing)
            print(f"indexing {args.visitors} visitors ...", file=sys.stderr)
            seconds = await build_index(es, mongo_url, database_name, alias, args.visitors, args.seed)
            report["index_seconds"] = round(seconds, 1)
            report["index_rate_per_second"] = round(args.visitors / seconds)
            print(f"indexed in {seconds:.0f} s ({args.visitors / seconds:.0f} visitors/s)", file=sys.stderr)
    finally:
        await es.close()
    await seed_mongo(mongo_url, database_name)
    kinds = lookups(args.visitors, args.requests, args.seed)
    service_mongo = with_database(mongo_url, database_name)
    with tempfile.TemporaryDirectory() as scratch:
        bench = Bench(args, es_url, alias, Path(scratch))
        chosen = levers(args.baseline_tree)
        all_levers = chosen[:1] + [lever for lever in chosen[1:] if not args.lever or lever.name in args.lever]
        async with running_service(all_levers[0], alias, service_mongo) as (base, pid):
            for kind in KINDS if args.kinds else ():
                await check_answers(base, kinds[kind])
                result = bench.compare(base, pid, kinds[kind], args.connections)
                result["one_connection"] = bench.compare(base, pid, kinds[kind], 1)
                result["added_p50_ms_one_connection"] = result["one_connection"]["added_p50_ms"]
                report["kinds"][kind] = result
                print(line(kind, result))
                print(line("  (1 connection)", result["one_connection"]))
            for lever in all_levers[1 : None if args.levers else 1]:
                async with running_service(lever, alias, service_mongo) as (lever_base, lever_pid):
                    await check_answers(lever_base, kinds[args.lever_kind])
                    result = bench.lever((base, pid), (lever_base, lever_pid), kinds[args.lever_kind], args.connections)
                report["levers"][lever.name] = result
                print(line(f"{args.lever_kind}: {lever.name}", result))
                print(
                    f"{'':40s} default beside it: {result['default']['cpu_us_per_request']['service']:5.0f} µs"
                    f" → lever / default CPU per lookup {result['lever_cpu_over_default_cpu']}"
                )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="distinct lookups per kind")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=8, help="length of a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement (the median is kept)")
    parser.add_argument("--lever-kind", default="email", choices=KINDS, help="the lookup the levers are measured on")
    parser.add_argument("--only-levers", dest="kinds", action="store_false", help="skip the four lookups' table")
    parser.add_argument("--lever", action="append", help="measure only this lever (its name as printed; repeatable)")
    parser.add_argument("--no-levers", dest="levers", action="store_false", help="only the default configuration")
    parser.add_argument("--baseline-tree", type=Path, help="a checkout of the code to compare with (e.g. main)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if it has N visitors")
    args = parser.parse_args()
    missing = wrk.missing_reason()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    report = asyncio.run(run(args))
    report["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["cores"] = os.cpu_count()
    results = RESULTS_DIR / f"lookup-{args.visitors}{'' if args.kinds else '-levers'}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
