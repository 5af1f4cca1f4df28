"""Freshness benchmark: from a write in MongoDB to the contact found through the service, in both sync modes.

    python -m benchmarks.freshness [--visitors 2000] [--samples 50]

For each mode (polling on FerretDB at MONGO_URL, change streams on the stream server at MONGO_STREAM_URL) it seeds
N visitors, runs `python -m indexer run` and `python -m service` as subprocesses, waits for the backfill, then
changes one visitor's email at a time and asks `contact.search?email=` until the service answers with it. Prints
p50/p99 per mode and the stream/poll ratio measured in the same run; writes benchmarks/results/freshness.json.
FerretDB scans the whole collection on every poll, so the polling figure depends on N (MongoDB uses an index).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from benchmarks.backfill import realistic_visitor
from benchmarks.seeding import TOKEN, free_port, seed_mongo, wait_ready, with_database
from indexer.collections import VISITORS
from tests.processes import process_environment

RESULTS = Path(__file__).parent / "results" / "freshness.json"


def now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def backfilled(database: Any, alias: str) -> bool:
    saved = await database["contact_search_checkpoints"].find_one({"_id": alias}) or {}
    return (saved.get("backfill") or {}).get("done") is True


async def measure_mode(
    mode: str, server_url: str, es_url: str, visitors: int, samples: int, seed: int
) -> dict[str, Any]:
    name = f"bench_fresh_{mode}_{uuid.uuid4().hex[:6]}"
    alias = f"bench-fresh-{mode}-{uuid.uuid4().hex[:6]}"
    mongo_url = with_database(server_url, name)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server_url, tz_aware=False)
    database = client[name]
    rng = random.Random(seed)
    collection = database[VISITORS.collection]
    await collection.insert_many([realistic_visitor(number, rng) for number in range(visitors)])
    await seed_mongo(server_url, name)
    port = free_port()
    environment = process_environment(
        mongo_url,
        es_url,
        alias,
        COLLECTIONS="visitors",
        SYNC_MODE=mode,
        POLL_INTERVAL="0.5",
        METRICS_PORT="0",
        LOG_LEVEL="WARNING",
        PORT=str(port),
    )
    indexer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environment
    )
    service = await asyncio.create_subprocess_exec(sys.executable, "-m", "service", env=environment)
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession(headers={"X-User-Id": "bench-agent", "X-Auth-Token": TOKEN}) as http:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(http, base)
            deadline = time.monotonic() + 900
            while not await backfilled(database, alias):
                assert time.monotonic() < deadline, "the backfill did not finish within 900 s"
                await asyncio.sleep(0.5)
            ids = [
                visitor["_id"] async for visitor in collection.find({"disabled": {"$ne": True}}, {"_id": 1}).limit(200)
            ]
            for sample in range(samples):
                email = f"fresh-{sample}-{rng.randrange(10**9)}@example.com"
                written = time.monotonic()
                await collection.update_one(
                    {"_id": rng.choice(ids)},
                    {"$set": {"visitorEmails": [{"address": email}], "_updatedAt": now()}},
                )
                while True:
                    async with http.get(f"{base}/api/v1/omnichannel/contact.search", params={"email": email}) as answer:
                        body = await answer.json()
                    if answer.status == 200 and body.get("contact"):
                        break
                    assert time.monotonic() - written < 120, f"{mode}: write {sample} not found after 120 s"
                    await asyncio.sleep(0.01)
                latencies.append(time.monotonic() - written)
                await asyncio.sleep(rng.uniform(0, 0.5))
    finally:
        for process in (indexer, service):
            if process.returncode is None:
                process.terminate()
                await process.wait()
        await client.drop_database(name)
        await client.close()
    latencies.sort()
    return {
        "visitors": visitors,
        "samples": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "max_s": round(latencies[-1], 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    es_url, poll_url = os.environ["ES_URL"], os.environ["MONGO_URL"]
    stream_url = os.environ.get("MONGO_STREAM_URL")
    report: dict[str, Any] = {"modes": {}}
    report["modes"]["poll"] = await measure_mode("poll", poll_url, es_url, args.visitors, args.samples, args.seed)
    if stream_url:
        report["modes"]["stream"] = await measure_mode(
            "stream", stream_url, es_url, args.visitors, args.samples, args.seed
        )
    else:
        print("MONGO_STREAM_URL is not set: stream mode not measured", file=sys.stderr)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    for mode, figures in report["modes"].items():
        print(
            f"{mode:6} freshness at {figures['visitors']:,} visitors: p50 {figures['p50_s']:.2f}s "
            f"p99 {figures['p99_s']:.2f}s max {figures['max_s']:.2f}s over {figures['samples']} writes"
        )
    modes = report["modes"]
    if "stream" in modes:
        print(
            f"stream / poll: p50 {modes['stream']['p50_s'] / modes['poll']['p50_s']:.2f}, "
            f"p99 {modes['stream']['p99_s'] / modes['poll']['p99_s']:.2f}"
        )
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
