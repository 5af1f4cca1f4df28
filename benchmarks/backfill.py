"""Backfill benchmark: the indexer's backfill next to the two raw ceilings it sits between, in one run.

    python -m benchmarks.backfill [--visitors 1000000] [--batch-size 500] [--keep]

Generates N realistic visitors into a database of its own (reused when it already holds exactly N), then measures:
  read    one `_id`-ordered cursor over the collection, documents decoded and dropped (the indexer's query);
  bulk    `async_streaming_bulk` of the same documents, transformed beforehand, into a scratch index;
  indexer `python -m indexer run` as a subprocess until its checkpoint says the backfill is done, with its RSS
          sampled; repeated on a tenth of the visitors to show that memory does not grow with the collection.
Prints docs/s, the ratio indexer / lower ceiling (target >= 0.8) and peak RSS; writes benchmarks/results/backfill.json.
Needs ES_URL and MONGO_URL (`make bench` starts the local stack).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.clients import benchmark_client
from benchmarks.seeding import free_port, make_visitor
from indexer import documents, indices, source
from indexer.changes import upsert
from indexer.collections import VISITORS
from indexer.lease import CHECKPOINTS_COLLECTION
from indexer.writer import batch_actions
from tests.processes import process_environment

RESULTS = Path(__file__).parent / "results" / "backfill.json"
METEOR_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
INSERT_CHUNK = 5000


def meteor_id(rng: random.Random) -> str:
    """Rocket.Chat's visitor ids are Meteor's Random.id(): 17 characters, so `_id` order is not insertion order."""
    return "".join(rng.choice(METEOR_ALPHABET) for _ in range(17))


def realistic_visitor(number: int, rng: random.Random) -> dict[str, Any]:
    visitor = make_visitor(number, rng)
    visitor["_id"] = meteor_id(rng)
    visitor["lastChat"] = {"_id": meteor_id(rng), "ts": visitor["ts"]}
    visitor["lastAgent"] = {
        "agentId": meteor_id(rng),
        "username": rng.choice(["ana", "bruno", "carla"]),
        "ts": visitor["ts"],
    }
    visitor["activity"] = [f"2024-{month:02d}" for month in range(1, 1 + rng.randrange(1, 6))]
    if rng.random() < 0.02:
        visitor["disabled"] = True
    return visitor


def with_database(mongo_url: str, database: str) -> str:
    parts = urlsplit(mongo_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def generate(database: AsyncDatabase[dict[str, Any]], count: int, seed: int) -> float | None:
    """Fill the visitor collection with `count` visitors; returns seconds taken, None when reused."""
    collection = database[VISITORS.collection]
    if await source.estimated_count(database, VISITORS) == count:
        return None
    await collection.drop()
    rng = random.Random(seed)
    started = time.perf_counter()
    for first in range(0, count, INSERT_CHUNK):
        await collection.insert_many(
            [realistic_visitor(number, rng) for number in range(first, min(count, first + INSERT_CHUNK))],
            ordered=False,
        )
    return time.perf_counter() - started


async def measure_read(database: AsyncDatabase[dict[str, Any]], batch_size: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    cursor = database[VISITORS.collection].find({}, batch_size=batch_size).sort("_id", 1)
    async with cursor:
        async for _ in cursor:
            count += 1
    return count, time.perf_counter() - started


async def measure_bulk(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, batch_size: int
) -> tuple[int, float]:
    """Bulk-index prepared documents alone: transformed before the clock starts, no MongoDB reads while it runs."""
    index, _ = await indices.ensure_alias(es, VISITORS.with_alias(alias))
    prepared = batch_actions(
        [upsert(VISITORS, visitor) async for visitor in database[VISITORS.collection].find({})], [index]
    )
    started = time.perf_counter()
    count = 0
    async for ok, _ in async_streaming_bulk(es, prepared, chunk_size=batch_size, raise_on_error=False):
        count += ok
    elapsed = time.perf_counter() - started
    del prepared
    return count, elapsed


async def measure_together(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, batch_size: int
) -> dict[str, float]:
    """Both ceilings at once, as the indexer needs them: one read pass while bulk requests of prepared documents
    run beside it for as long as the read takes. On a small machine the two servers share the CPUs."""
    index, _ = await indices.ensure_alias(es, VISITORS.with_alias(alias))
    prepared = batch_actions(
        [upsert(VISITORS, visitor) async for visitor in database[VISITORS.collection].find({})], [index]
    )
    reading = asyncio.create_task(measure_read(database, batch_size))
    bulked = 0
    started = time.perf_counter()
    while not reading.done():
        chunk = prepared[bulked % len(prepared) :][:batch_size]
        async for ok, _ in async_streaming_bulk(es, chunk, chunk_size=batch_size, raise_on_error=False):
            bulked += ok
    read_count, read_seconds = await reading
    elapsed = time.perf_counter() - started
    return {"read_docs_per_s": read_count / read_seconds, "bulk_docs_per_s": bulked / elapsed}


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


async def backfill_phase(session: aiohttp.ClientSession, url: str) -> str | None:
    """The worker's phase from its /healthz, None while it does not answer yet."""
    try:
        async with session.get(url) as response:
            return str((await response.json(content_type=None)).get("phase"))
    except aiohttp.ClientError:
        return None


async def measure_indexer(
    database: AsyncDatabase[dict[str, Any]], mongo_url: str, es_url: str, alias: str, batch_size: int
) -> dict[str, Any]:
    """Run the real worker until its backfill is done; docs/s from its own checkpoint timestamps, peak RSS sampled.

    Progress is watched on the worker's /healthz, not in MongoDB: on the test server every extra query in the
    visitors' database slows the worker's long read cursor, and the benchmark must not slow what it measures.
    """
    port = free_port()
    environment = process_environment(
        mongo_url,
        es_url,
        alias,
        COLLECTIONS="visitors",
        BATCH_SIZE=str(batch_size),
        METRICS_PORT=str(port),
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environment
    )
    peak = 0
    samples: list[int] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                rss = rss_kib(process.pid)
                peak = max(peak, rss)
                samples.append(rss)
                # A fresh alias has no checkpoint: the worker reaches "sync" only once its backfill is done.
                if await backfill_phase(session, f"http://127.0.0.1:{port}/healthz") == "sync":
                    break
                if process.returncode is not None:
                    raise RuntimeError(f"the indexer exited with {process.returncode}")
                await asyncio.sleep(0.2)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
    saved = await database[CHECKPOINTS_COLLECTION].find_one({"_id": alias}) or {}
    backfill = saved.get("backfill") or {}
    if backfill.get("done") is not True:
        raise RuntimeError("the indexer left its backfill unfinished")
    seconds = (backfill["finished_at"] - backfill["started_at"]).total_seconds()
    count = await source.estimated_count(database, VISITORS)
    # RSS along the pass (the rate is steady, so time stands for progress): flat means no growth with size.
    along = {
        f"{quarter * 25}%": samples[min(len(samples) - 1, len(samples) * quarter // 4)] / 1024
        for quarter in (1, 2, 3, 4)
    }
    return {
        "visitors": count,
        "seconds": seconds,
        "docs_per_s": count / seconds,
        "peak_rss_mib": peak / 1024,
        "rss_mib_along_the_pass": along,
    }


async def drop_indices(es: AsyncElasticsearch, *aliases: str) -> None:
    for alias in aliases:
        found = await es.options(ignore_status=404).indices.get(index=f"{alias}-v*")
        if found.meta.status == 200 and found.body:
            await es.indices.delete(index=",".join(found.body))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    mongo_url, es_url = os.environ["MONGO_URL"], os.environ["ES_URL"]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=False)
    es = benchmark_client(request_timeout=120)
    small_count = max(1000, args.visitors // 10)
    run_id = uuid.uuid4().hex[:6]
    results: dict[str, Any] = {"visitors": args.visitors, "batch_size": args.batch_size}
    try:
        for label, count in (("small", small_count), ("main", args.visitors)):
            database_name = f"bench_backfill_{count}"
            database = mongo[database_name]
            generated = await generate(database, count, args.seed)
            if generated is not None:
                print(f"generated {count:,} visitors in {generated:.1f}s ({count / generated:,.0f}/s)")
            alias = f"bench-backfill-{run_id}-{label}"
            await database[CHECKPOINTS_COLLECTION].delete_many({})
            measured = await measure_indexer(
                database, with_database(mongo_url, database_name), es_url, alias, args.batch_size
            )
            results[f"indexer_{label}"] = measured
            along = ", ".join(f"{key} {value:.0f}" for key, value in measured["rss_mib_along_the_pass"].items())
            print(
                f"indexer backfill ({label}, {count:,}): {measured['docs_per_s']:,.0f} docs/s, "
                f"peak RSS {measured['peak_rss_mib']:.0f} MiB (MiB along the pass: {along})"
            )
            if label == "main":
                read_count, read_seconds = await measure_read(database, args.batch_size)
                results["read"] = {
                    "visitors": read_count,
                    "seconds": read_seconds,
                    "docs_per_s": read_count / read_seconds,
                }
                print(f"read ceiling: {read_count / read_seconds:,.0f} docs/s")
                scratch = f"bench-backfill-{run_id}-scratch"
                bulk_count, bulk_seconds = await measure_bulk(database, es, scratch, args.batch_size)
                results["bulk"] = {
                    "documents": bulk_count,
                    "seconds": bulk_seconds,
                    "docs_per_s": bulk_count / bulk_seconds,
                }
                print(f"bulk ceiling: {bulk_count / bulk_seconds:,.0f} docs/s")
                together = await measure_together(database, es, scratch + "-together", args.batch_size)
                results["together"] = together
                print(
                    f"read and bulk at once: read {together['read_docs_per_s']:,.0f} docs/s, "
                    f"bulk {together['bulk_docs_per_s']:,.0f} docs/s"
                )
                await drop_indices(es, scratch, scratch + "-together")
            if not args.keep:
                await drop_indices(es, alias)
            await database[CHECKPOINTS_COLLECTION].drop()
        ceiling = min(results["read"]["docs_per_s"], results["bulk"]["docs_per_s"])
        results["lower_ceiling"] = "read" if results["read"]["docs_per_s"] <= results["bulk"]["docs_per_s"] else "bulk"
        results["ratio_to_lower_ceiling"] = results["indexer_main"]["docs_per_s"] / ceiling
        together_ceiling = min(results["together"].values())
        results["ratio_to_lower_ceiling_together"] = results["indexer_main"]["docs_per_s"] / together_ceiling
        results["rss_growth_mib"] = results["indexer_main"]["peak_rss_mib"] - results["indexer_small"]["peak_rss_mib"]
        results["cpus"] = os.cpu_count()
        results["document_bytes"] = len(json.dumps(documents.to_printable(realistic_visitor(0, random.Random(1)))))
    finally:
        await es.close()
        await mongo.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the indices the indexer built")
    args = parser.parse_args()
    if "MONGO_URL" not in os.environ or "ES_URL" not in os.environ:
        print('set MONGO_URL and ES_URL (eval "$(deploy/local/stack up)")', file=sys.stderr)
        return 2
    results = asyncio.run(run(args))
    print(
        f"indexer / lower ceiling ({results['lower_ceiling']}): "
        f"{results['ratio_to_lower_ceiling']:.2f} (target >= 0.8), to the lower of the two measured at once: "
        f"{results['ratio_to_lower_ceiling_together']:.2f}; "
        f"peak RSS {results['indexer_small']['peak_rss_mib']:.0f} MiB at {results['indexer_small']['visitors']:,} "
        f"vs {results['indexer_main']['peak_rss_mib']:.0f} MiB at {results['indexer_main']['visitors']:,}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
