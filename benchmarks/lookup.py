"""Lookup benchmark: the service against the same Elasticsearch queries sent directly, in one run.

    python -m benchmarks.lookup [--visitors 1000000] [--requests 2000] [--concurrency 8]

Generates N realistic visitors, indexes them with the indexer's own transform and bulk sink, starts
`python -m service` as a subprocess, then for each lookup kind (email, phone, exact custom, substring
custom) measures latency one request at a time (p50/p99) and throughput under concurrency, through the
service and directly against Elasticsearch. Prints ratios and writes benchmarks/results/lookup.json.
Needs ES_URL and MONGO_URL (`make bench` starts the local stack).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer
from pymongo import AsyncMongoClient

from common import config
from indexer import indices, specs
from indexer.changes import Change, upsert
from indexer.metrics import Metrics
from indexer.writer import Writer
from service import contacts, query, rocketchat
from service.auth import hashed_token

RESULTS = Path(__file__).parent / "results" / "lookup.json"
STREETS = [
    "Rocket.Chat street",
    "Baker Street",
    "Rua Augusta",
    "Avenida Paulista",
    "Elm Street",
    "Main Road",
    "Königsallee",
    "Rue de Rivoli",
    "Calle Mayor",
    "Via Roma",
    "Nevsky Prospekt",
    "Orchard Road",
]
CITIES = ["São Paulo", "London", "Berlin", "Paris", "Madrid", "Rome", "Tokyo", "Porto Alegre", "Lisbon", "Austin"]
PLANS = ["free", "starter", "pro", "premium", "enterprise", "gold plus", "silver", "trial"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises"]
TOKEN = "bench-token"


def make_visitor(number: int, rng: random.Random) -> dict[str, Any]:
    ts = dt.datetime(2020, 1, 1) + dt.timedelta(seconds=number * 37 + rng.randrange(30))
    return {
        "_id": f"bench{number:012d}",
        "username": f"guest-{number}",
        "ts": ts,
        "token": uuid.UUID(int=rng.getrandbits(128)).hex,
        "name": f"Visitor {number}",
        "department": rng.choice(["sales", "support", "billing"]),
        "visitorEmails": [{"address": f"visitor{number}@example{number % 97}.com"}],
        "phone": [{"phoneNumber": f"+55{11 + number % 80}{900000000 + number}"}],
        "livechatData": {
            "address": f"{rng.randrange(1, 3000)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
            "plan": rng.choice(PLANS),
            "company": f"{rng.choice(COMPANIES)} {rng.randrange(1000)}",
            "customerId": f"CUST-{rng.randrange(10**8):08d}",
        },
        "status": "offline",
        "_updatedAt": ts,
    }


async def build_index(
    es: AsyncElasticsearch, mongo_url: str, database_name: str, alias: str, visitors: int, seed: int
) -> float:
    """Indexes the generated visitors through the indexer's transform and writer; returns seconds taken."""
    started = time.perf_counter()
    spec = specs.VISITORS.with_alias(alias)
    index, _ = await indices.ensure_alias(es, spec)
    await es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "-1"}})
    rng = random.Random(seed)
    metrics = Metrics()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)  # the writer keeps dead letters there
    try:
        writer = Writer(es, client[database_name], spec, metrics, asyncio.Event())
        batch: list[Change] = []
        for number in range(visitors):
            batch.append(upsert(spec, make_visitor(number, rng)))
            if len(batch) == 2000 or number == visitors - 1:
                await writer.write(batch)
                batch = []
    finally:
        await client.close()
    assert metrics.failed == 0 and metrics.indexed == visitors, (metrics.indexed, metrics.failed)
    await es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
    await es.indices.refresh(index=index)
    await es.indices.forcemerge(index=index, max_num_segments=1)
    return time.perf_counter() - started


def lookups(visitors: int, count: int, seed: int) -> dict[str, list[dict[str, str]]]:
    """Request parameters per kind, each drawn from a real generated visitor so that it matches."""
    rng = random.Random(seed + 1)
    # Visitors are generated from one random stream: replay it up to the last one drawn.
    regenerate = random.Random(seed)
    wanted = sorted(rng.sample(range(visitors), min(count, visitors)))
    sample: list[dict[str, Any]] = []
    position = 0
    for number in range(visitors):
        visitor = make_visitor(number, regenerate)
        if position < len(wanted) and wanted[position] == number:
            sample.append(visitor)
            position += 1
        if position == len(wanted):
            break
    rng.shuffle(sample)
    kinds: dict[str, list[dict[str, str]]] = {"email": [], "phone": [], "custom_exact": [], "custom_substring": []}
    for visitor in sample:
        data = visitor["livechatData"]
        address = data["address"]
        start = rng.randrange(0, max(1, len(address) - 6))
        kinds["email"].append({"email": visitor["visitorEmails"][0]["address"]})
        kinds["phone"].append({"phone": visitor["phone"][0]["phoneNumber"]})
        kinds["custom_exact"].append({"custom": orjson.dumps({"customerId": data["customerId"]}).decode()})
        kinds["custom_substring"].append(
            {"custom": orjson.dumps({"address": address[start : start + rng.randrange(5, 13)].upper()}).decode()}
        )
    return kinds


async def seed_mongo(mongo_url: str, database_name: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        database = client[database_name]
        await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
            {"_id": "view-l-room"}, {"_id": "view-l-room", "roles": ["livechat-agent"]}, upsert=True
        )
        await database[rocketchat.USERS_COLLECTION].replace_one(
            {"_id": "bench-agent"},
            {
                "_id": "bench-agent",
                "active": True,
                "roles": ["livechat-agent"],
                "services": {"resume": {"loginTokens": [{"hashedToken": hashed_token(TOKEN)}]}},
            },
            upsert=True,
        )
        for field in ("address", "plan", "company", "customerId"):
            await database[rocketchat.CUSTOM_FIELDS_COLLECTION].replace_one(
                {"_id": field}, {"_id": field, "scope": "visitor", "searchable": True}, upsert=True
            )
    finally:
        await client.close()


def with_database(mongo_url: str, database: str) -> str:
    parts = urlsplit(mongo_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.get(url + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the service did not become ready")


Call = Callable[[dict[str, str]], Awaitable[bool]]


async def measure(call: Call, requests: list[dict[str, str]], concurrency: int) -> dict[str, float]:
    """Runs every request with `concurrency` in flight; latency percentiles in ms and throughput in req/s."""
    latencies: list[float] = []
    misses = 0
    queue = iter(requests)

    async def worker() -> None:
        nonlocal misses
        for params in queue:
            started = time.perf_counter()
            found = await call(params)
            latencies.append((time.perf_counter() - started) * 1000)
            misses += not found

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "misses": misses,
        "p50_ms": round(quantiles[49], 3),
        "p99_ms": round(quantiles[98], 3),
        "throughput_rps": round(len(latencies) / elapsed, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    es_url, mongo_url = os.environ["ES_URL"], os.environ["MONGO_URL"]
    alias = f"bench-lookup-{args.visitors}"
    database_name = "bench_lookup"
    # The direct baseline gets the same fast JSON codec as the service.
    es = AsyncElasticsearch(config.es_nodes(es_url), request_timeout=120, serializer=OrjsonSerializer())
    report: dict[str, Any] = {"visitors": args.visitors, "concurrency": args.concurrency, "kinds": {}}
    try:
        existing = await indices.current_index(es, alias)
        count = (await es.count(index=alias))["count"] if existing else 0
        if count != args.visitors or args.rebuild:
            if existing:
                await es.indices.delete(index=existing)
            print(f"indexing {args.visitors} visitors ...", file=sys.stderr)
            report["index_seconds"] = round(
                await build_index(es, mongo_url, database_name, alias, args.visitors, args.seed), 1
            )
        await seed_mongo(mongo_url, database_name)
        kinds = lookups(args.visitors, args.requests, args.seed)

        port = free_port()
        environment = {
            **os.environ,
            "MONGO_URL": with_database(mongo_url, database_name),
            "ES_INDEX": alias,
            "COLLECTIONS": "visitors",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "WORKERS": str(args.workers),
        }
        service = await asyncio.create_subprocess_exec(sys.executable, "-m", "service", env=environment)
        base = f"http://127.0.0.1:{port}"
        headers = {"X-User-Id": "bench-agent", "X-Auth-Token": TOKEN}
        try:
            connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_ready(session, base)

                async def through_service(params: dict[str, str]) -> bool:
                    url = (
                        base
                        + "/api/v1/omnichannel/contact.search?"
                        + "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
                    )
                    async with session.get(url, headers=headers) as response:
                        body = orjson.loads(await response.read())
                        assert response.status == 200, body
                        return body["contact"] is not None

                async def direct(params: dict[str, str]) -> bool:
                    criteria = query.parse_criteria(list(params.items()))
                    return await contacts.find_contact(es, alias, criteria) is not None

                for kind, requests in kinds.items():
                    warm = requests[: min(200, len(requests))]
                    await measure(through_service, warm, args.concurrency)
                    await measure(direct, warm, args.concurrency)
                    results = {
                        "service_latency": await measure(through_service, requests, 1),
                        "direct_latency": await measure(direct, requests, 1),
                        "service_throughput": await measure(through_service, requests, args.concurrency),
                        "direct_throughput": await measure(direct, requests, args.concurrency),
                    }
                    results["throughput_ratio"] = round(
                        results["service_throughput"]["throughput_rps"]
                        / results["direct_throughput"]["throughput_rps"],
                        3,
                    )
                    report["kinds"][kind] = results
                    print(
                        f"{kind:17s} service p50 {results['service_latency']['p50_ms']:7.2f} ms"
                        f"  p99 {results['service_latency']['p99_ms']:7.2f} ms"
                        f" | direct p50 {results['direct_latency']['p50_ms']:7.2f} ms"
                        f"  p99 {results['direct_latency']['p99_ms']:7.2f} ms"
                        f" | throughput service/direct {results['service_throughput']['throughput_rps']:7.1f}"
                        f" / {results['direct_throughput']['throughput_rps']:7.1f} rps"
                        f" = {results['throughput_ratio']:.2f}"
                    )
        finally:
            service.terminate()
            await asyncio.wait_for(service.wait(), timeout=30)
    finally:
        await es.close()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind and phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="service processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if it has N visitors")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    report["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
