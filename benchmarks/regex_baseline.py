"""Rocket.Chat's way, for the chart: a custom-field substring lookup as a case-insensitive unanchored `$regex` on
`livechatData.<key>` (`new RegExp(escapeRegExp(value), "i")`, then `findOne`) against the wire server.

    python -m benchmarks.regex_baseline --visitors 100000 [--samples 30]

Loads the benchmark's generated visitors into MongoDB at MONGO_URL (FerretDB in the local stack) once per size, then
runs the same substring lookups as benchmarks/lookup.py one at a time; writes benchmarks/results/regex-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import time
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from benchmarks.seeding import RESULTS_DIR, lookups, make_visitor
from indexer.collections import VISITORS


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGO_URL"], tz_aware=False)
    report: dict[str, Any] = {"visitors": args.visitors, "server": "FerretDB (local stack)"}
    try:
        collection = client[f"bench_regex_{args.visitors}"][VISITORS.collection]
        if await collection.estimated_document_count() != args.visitors:
            await collection.drop()
            started = time.perf_counter()
            rng = random.Random(args.seed)
            batch: list[dict[str, Any]] = []
            for number in range(args.visitors):
                batch.append(make_visitor(number, rng))
                if len(batch) == 5000 or number == args.visitors - 1:
                    await collection.insert_many(batch)
                    batch = []
            report["load_seconds"] = round(time.perf_counter() - started, 1)
        values = [
            orjson.loads(params["custom"])
            for params in lookups(args.visitors, args.samples, args.seed)["custom_substring"]
        ]
        latencies: list[float] = []
        for value in values:
            (key, text), *_ = value.items()
            started = time.perf_counter()
            found = await collection.find_one({f"livechatData.{key}": {"$regex": re.escape(text), "$options": "i"}})
            latencies.append((time.perf_counter() - started) * 1000)
            assert found is not None, text
    finally:
        await client.close()
    latencies.sort()
    report |= {
        "samples": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "load_average": round(os.getloadavg()[0], 2),
    }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    report["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(
        f"$regex on livechatData at {args.visitors:,} visitors: p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms"
        f" over {report['samples']} lookups (load {report['load_average']})"
    )
    results = RESULTS_DIR / f"regex-{args.visitors}.json"
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
