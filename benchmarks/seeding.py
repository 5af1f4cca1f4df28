"""What the benchmarks share: generated realistic visitors, their index (built with the indexer's own transform and
writer), the benchmark's MongoDB with an agent allowed to look up, and the small process helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from indexer import indices
from indexer.changes import Change, upsert
from indexer.collections import VISITORS
from indexer.metrics import Metrics
from indexer.specs import Spec
from indexer.writer import Writer
from service import rocketchat
from service.auth import hashed_token

RESULTS_DIR = Path(__file__).parent / "results"
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
    rng = random.Random(seed)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)  # the writer keeps dead letters there
    try:
        spec = VISITORS.with_alias(alias)
        return await index_generated(
            es, client[database_name], spec, visitors, lambda number: make_visitor(number, rng)
        )
    finally:
        await client.close()


async def index_generated(
    es: AsyncElasticsearch,
    database: AsyncDatabase[dict[str, Any]],
    spec: Spec,
    count: int,
    make: Callable[[int], dict[str, Any]],
) -> float:
    """Writes documents 0..count-1 of `make` behind the spec's alias through the indexer's transform and writer,
    refreshing only at the end, then force-merges; returns seconds taken."""
    started = time.perf_counter()
    index, _ = await indices.ensure_alias(es, spec)
    await es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "-1"}})
    metrics = Metrics()
    writer = Writer(es, database, spec, metrics, asyncio.Event())
    batch: list[Change] = []
    for number in range(count):
        batch.append(upsert(spec, make(number)))
        if len(batch) == 2000 or number == count - 1:
            await writer.write(batch)
            batch = []
    assert metrics.failed == 0 and metrics.indexed == count, (metrics.indexed, metrics.failed)
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
