"""contacts.search benchmark: the service at N contacts beside Rocket.Chat's own way on the wire server.

    python -m benchmarks.contacts [--contacts 1000000] [--rocketchat-sizes 10000,100000] [--requests 200]

Indexes N generated Rocket.Chat 7 contacts with the indexer's transform and writer (kept between runs: the alias is
named after N), starts `python -m service`, and measures one request at a time, p50/p99, for a name, an email and a
phone substring and for no search text (first page and a deep page), each answer with its exact total; also the CPU
time per request of the service and of Elasticsearch, read from /proc. Beside it, the same searches run Rocket.Chat's
way (`find` with three case-insensitive regexes, sorted and paged, plus `countDocuments`) on the wire server at
smaller sizes, to show the curve. Writes benchmarks/results/contacts.json. Needs ES_URL and MONGO_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import statistics
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.clients import benchmark_client
from benchmarks.measure import arguments, measured, percentiles, report, service_process, timed
from benchmarks.seeding import TOKEN, index_generated, seed_mongo, wait_ready, with_database
from indexer.collections import LIVECHAT_CONTACTS
from service import rocketchat

RESULTS = Path(__file__).parent / "results" / "contacts.json"
HEADERS = {"X-User-Id": "bench-agent", "X-Auth-Token": TOKEN}
FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Fábio", "Grace", "Hugo", "Inês", "João", "Katrin", "Luca"]
LAST = ["Souza", "Silva", "Müller", "Rossi", "García", "Smith", "Tanaka", "Novak", "Dubois", "Kowalski", "Ivanova"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk"]
MANAGERS = [f"agent-{number}" for number in range(20)]


def make_contact(number: int, rng: random.Random) -> dict[str, Any]:
    """A contact in the key order Rocket.Chat's `createContact` stores."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    created = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=number * 29)
    contact: dict[str, Any] = {
        "_id": f"bench{number:012d}",
        "createdAt": created,
        "name": f"{first} {last} {number}",
        "emails": [{"address": f"{first.lower()}.{last.lower()}{number}@{rng.choice(DOMAINS)}"}],
        "phones": [{"phoneNumber": f"+55{11 + number % 80}{900000000 + number}"}],
    }
    if number % 3 == 0:
        contact["contactManager"] = MANAGERS[number % len(MANAGERS)]
    contact.update({"channels": [], "customFields": {}, "unknown": False, "_updatedAt": created})
    return contact


async def build_index(es: AsyncElasticsearch, database: AsyncDatabase[dict[str, Any]], alias: str, size: int) -> float:
    """Indexes the generated contacts through the indexer's transform and writer unless already there; seconds."""
    if await es.indices.exists_alias(name=alias) and (await es.count(index=alias))["count"] == size:
        return 0.0
    for name in (await es.indices.get(index=f"{alias}-v*", expand_wildcards="all")).body:
        await es.indices.delete(index=name)
    rng = random.Random(7)
    spec = LIVECHAT_CONTACTS.with_alias(alias)
    return await index_generated(es, database, spec, size, lambda number: make_contact(number, rng))


async def seed_users(mongo_url: str, database: AsyncDatabase[dict[str, Any]]) -> None:
    """The lookup benchmark's agent and token, the contacts permission, and the contact managers."""
    await seed_mongo(mongo_url, database.name)
    await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
        {"_id": "view-livechat-contact"}, {"_id": "view-livechat-contact", "roles": ["livechat-agent"]}, upsert=True
    )
    for manager in MANAGERS:
        await database[rocketchat.USERS_COLLECTION].replace_one(
            {"_id": manager}, {"_id": manager, "username": manager, "name": manager}, upsert=True
        )


def searches(size: int, requests: int, seed: int) -> dict[str, list[dict[str, str]]]:
    """Per kind, `requests` query strings drawn from the generated contacts (so most texts match)."""
    rng = random.Random(seed)
    drawn = [make_contact(number, random.Random(7)) for number in rng.sample(range(min(size, 5000)), 50)]

    def piece(text: str, length: int) -> str:
        start = rng.randrange(0, max(1, len(text) - length))
        return text[start : start + length]

    return {
        "name substring": [{"searchText": piece(rng.choice(drawn)["name"], 5)} for _ in range(requests)],
        "email substring": [
            {"searchText": piece(rng.choice(drawn)["emails"][0]["address"], 8)} for _ in range(requests)
        ],
        "phone substring": [
            {"searchText": piece(rng.choice(drawn)["phones"][0]["phoneNumber"], 6)} for _ in range(requests)
        ],
        "no text, first page": [{} for _ in range(requests)],
        "no text, deep page": [{"offset": str(size // 2)} for _ in range(requests)],
    }


async def through_service(
    base: str, kinds: dict[str, list[dict[str, str]]], pids: dict[str, int | None]
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)

        async def call(query: dict[str, str]) -> int:
            async with session.get(
                f"{base}/api/v1/omnichannel/contacts.search?{urlencode(query)}", headers=HEADERS
            ) as response:
                body = orjson.loads(await response.read())
                assert response.status == 200, body
                return int(body["total"])

        results = await measured(call, kinds, pids)
    return results


def rocketchat_filter(search_text: str) -> dict[str, Any]:
    """`LivechatContacts.findPaginatedContacts`' filter."""
    pattern = {"$regex": re.escape(search_text), "$options": "i"}
    return {
        "$or": [{"name": pattern}, {"emails.address": pattern}, {"phones.phoneNumber": pattern}],
        "unknown": False,
        "enabled": {"$ne": False},
    }


async def rocketchat_way(
    database: AsyncDatabase[dict[str, Any]], size: int, kinds: dict[str, list[dict[str, str]]], requests: int
) -> dict[str, Any]:
    collection = database[f"contacts_{size}"]
    if await collection.estimated_document_count() != size:
        await collection.drop()
        rng = random.Random(7)
        for start in range(0, size, 5000):
            await collection.insert_many(
                [make_contact(number, rng) for number in range(start, min(size, start + 5000))]
            )

    async def call(query: dict[str, str]) -> int:
        where = rocketchat_filter(query.get("searchText", ""))
        cursor = collection.find(where).sort({"name": 1}).skip(int(query.get("offset", 0))).limit(50)
        _, total = await asyncio.gather(cursor.to_list(), collection.count_documents(where))
        return int(total)

    results: dict[str, Any] = {}
    for kind, queries in kinds.items():
        latencies, totals = await timed(
            call,
            [{**query, "offset": str(min(int(query.get("offset", 0)), size // 2))} for query in queries[:requests]],
        )
        results[kind] = {**percentiles(latencies), "median_total": statistics.median(totals)}
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    es_url, mongo_url = os.environ["ES_URL"], os.environ["MONGO_URL"]
    alias, database_name = f"bench-contacts-{args.contacts}", "bench_contacts"
    es = benchmark_client(request_timeout=600)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=False)
    try:
        database = mongo[database_name]
        await seed_users(mongo_url, database)
        build_seconds = await build_index(es, database, alias, args.contacts)
        kinds = searches(args.contacts, args.requests, seed=3)
        async with service_process(
            with_database(mongo_url, database_name), es_url, f"{alias}-visitors", ES_CONTACTS_INDEX=alias
        ) as (
            base,
            pids,
        ):
            ours = await through_service(base, kinds, pids)
        theirs = {
            str(size): await rocketchat_way(database, size, kinds, max(2, args.requests * 1_000 // size))
            for size in args.rocketchat_sizes
        }
    finally:
        await es.close()
        await mongo.close()
    return {
        "contacts": args.contacts,
        "build_seconds": round(build_seconds, 1),
        "requests_per_kind": args.requests,
        "load_average": os.getloadavg()[0],
        "service": ours,
        "rocketchat_way_on_the_wire_server": theirs,
    }


def main() -> int:
    args = arguments(__doc__, "contacts")
    results = asyncio.run(run(args))
    report(results, f"contacts.search at {args.contacts:,} contacts", RESULTS, 22)
    return 0


if __name__ == "__main__":
    sys.exit(main())
