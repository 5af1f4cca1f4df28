"""Where polling freshness goes, part by part, at N visitors on the wire server at MONGO_URL and ES_URL:

    python -m benchmarks.freshness_parts --database bench_regex_100000 [--samples 10]

1. the poll query (`_updatedAt >= now - OVERLAP_WINDOW`, sorted, as `indexer.source.written_since` sends it);
2. one bulk write of a changed visitor (through the indexer's writer);
3. the wait until that write is searchable (the index's refresh interval).
The poll interval itself adds a uniform wait of 0 to POLL_INTERVAL. Writes benchmarks/results/freshness_parts.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from typing import Any

from pymongo import AsyncMongoClient

from benchmarks.clients import benchmark_client
from benchmarks.seeding import RESULTS_DIR
from indexer import indices, source
from indexer.changes import upsert
from indexer.collections import VISITORS
from indexer.metrics import Metrics
from indexer.writer import Writer


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 1), "max_ms": round(ordered[-1], 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGO_URL"], tz_aware=False)
    es = benchmark_client(request_timeout=60)
    spec = VISITORS.with_alias(f"bench-parts-{os.getpid()}")
    database = client[args.database]
    report: dict[str, Any] = {"visitors": await database[spec.collection].estimated_document_count()}
    try:
        index, _ = await indices.ensure_alias(es, spec)
        writer = Writer(es, database, spec, Metrics(), asyncio.Event())
        polls, bulks, visible = [], [], []
        for _ in range(args.samples):
            since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=10)
            started = time.perf_counter()
            async for _document in source.written_since(database, spec, since, 500):
                pass
            polls.append((time.perf_counter() - started) * 1000)
            visitor = await database[spec.collection].find_one({})
            assert visitor is not None
            visitor["_updatedAt"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            started = time.perf_counter()
            await writer.write([upsert(spec, visitor)])
            written = time.perf_counter()
            bulks.append((written - started) * 1000)
            for _ in range(2000):
                if (await es.count(index=index))["count"]:
                    break
                await asyncio.sleep(0.005)
            visible.append((time.perf_counter() - written) * 1000)
            await es.indices.delete(index=index)
            index, _ = await indices.ensure_alias(es, spec)
            await asyncio.sleep(0.3)
        report |= {"poll_query": _summary(polls), "bulk_write": _summary(bulks), "until_searchable": _summary(visible)}
        await es.indices.delete(index=index)
    finally:
        await es.close()
        await client.close()
    report["load_average"] = round(os.getloadavg()[0], 2)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="bench_regex_100000")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    report["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(json.dumps(report))
    (RESULTS_DIR / "freshness_parts.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
