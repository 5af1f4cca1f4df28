"""Visitor lists benchmark: `livechat/visitors.search` and `visitors.autocomplete` at N visitors beside Rocket.Chat's
own way on the wire server.

    python -m benchmarks.visitors [--visitors 1000000] [--rocketchat-sizes 10000,100000] [--requests 200]

Indexes N generated visitors (the lookup benchmark's, with four searchable custom fields) with the indexer's transform
and writer (kept between runs: the alias is named after N), starts `python -m service`, and measures one request at a
time, p50/p99, for name, username and custom-field substrings, an exact email and phone, no term (first page, a deep
page, sorted by name), each answer with its exact total, and the autocomplete's name prefix; also the CPU time per
request of the service and of Elasticsearch. Beside it, the same requests run Rocket.Chat's way (`find` with the `$or`
of regexes and equalities, sorted and paged, plus `countDocuments`; the autocomplete's aggregate) on the wire server
at smaller sizes, to show the curve. Writes benchmarks/results/visitors.json. Needs ES_URL and MONGO_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
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
from benchmarks.seeding import TOKEN, index_generated, make_visitor, seed_mongo, wait_ready, with_database
from contact_index import shared
from indexer.collections import VISITORS

RESULTS = Path(__file__).parent / "results" / "visitors.json"
HEADERS = {"X-User-Id": "bench-agent", "X-Auth-Token": TOKEN}
SEARCHABLE = ("address", "plan", "company", "customerId")
SEED = 11
AUTOCOMPLETE = "autocomplete, name prefix"


def generated(count: int) -> list[dict[str, Any]]:
    """Visitors 0..count-1 exactly as the index holds them (one random stream, replayed)."""
    rng = random.Random(SEED)
    return [make_visitor(number, rng) for number in range(count)]


async def build_index(es: AsyncElasticsearch, database: AsyncDatabase[dict[str, Any]], alias: str, size: int) -> float:
    """Indexes the generated visitors unless an index of this mapping generation already holds them; seconds."""
    if await es.indices.exists_alias(name=alias) and (await es.count(index=alias))["count"] == size:
        found = await es.indices.get_mapping(index=alias)
        if min(shared.mapping_version(body["mappings"]) for body in found.body.values()) >= 2:
            return 0.0
    for name in (await es.indices.get(index=f"{alias}-v*", expand_wildcards="all")).body:
        await es.indices.delete(index=name)
    rng = random.Random(SEED)
    spec = VISITORS.with_alias(alias)
    return await index_generated(es, database, spec, size, lambda number: make_visitor(number, rng))


def requests_by_kind(size: int, requests: int) -> dict[str, list[dict[str, str]]]:
    """Per kind, `requests` query strings drawn from the generated visitors (so most terms match)."""
    rng = random.Random(3)
    drawn = rng.sample(generated(min(size, 5000)), 50)

    def piece(text: str, shortest: int, longest: int) -> str:
        length = rng.randrange(shortest, longest + 1)
        start = rng.randrange(0, max(1, len(text) - length))
        return text[start : start + length]

    def some(make: Any) -> list[dict[str, str]]:
        return [make(rng.choice(drawn)) for _ in range(requests)]

    return {
        "name substring": some(lambda one: {"term": piece(one["name"], 5, 9)}),
        "username substring": some(lambda one: {"term": piece(one["username"], 5, 9)}),
        "custom field substring": some(lambda one: {"term": piece(one["livechatData"]["address"], 5, 12).upper()}),
        "email (exact)": some(lambda one: {"term": one["visitorEmails"][0]["address"]}),
        "phone (exact)": some(lambda one: {"term": one["phone"][0]["phoneNumber"]}),
        "no term, first page": [{"term": ""} for _ in range(requests)],
        "no term, deep page": [{"term": "", "offset": str(size // 2)} for _ in range(requests)],
        "no term, by name": [{"term": "", "sort": '{"name":1}'} for _ in range(requests)],
        AUTOCOMPLETE: some(
            lambda one: {"selector": orjson.dumps({"term": one["name"][: rng.randrange(1, 11)]}).decode()}
        ),
    }


async def through_service(
    base: str, kinds: dict[str, list[dict[str, str]]], pids: dict[str, int | None]
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)

        async def search(query: dict[str, str]) -> int:
            path = "visitors.autocomplete" if "selector" in query else "visitors.search"
            async with session.get(f"{base}/api/v1/livechat/{path}?{urlencode(query)}", headers=HEADERS) as response:
                body = orjson.loads(await response.read())
                assert response.status == 200, body
                return int(body["total"]) if "total" in body else len(body["items"])

        return await measured(search, kinds, pids)


def rocketchat_filter(term: str) -> dict[str, Any]:
    """`findPaginatedVisitorsByEmailOrPhoneOrNameOrUsernameOrCustomField`'s filter."""
    if not term:
        return {"disabled": {"$ne": True}}
    pattern = {"$regex": re.escape(term), "$options": "i"}
    return {
        "$or": [
            {"visitorEmails.address": term},
            {"phone.phoneNumber": term},
            {"name": pattern},
            {"username": pattern},
            *({f"livechatData.{field}": pattern} for field in SEARCHABLE),
        ],
        "disabled": {"$ne": True},
    }


def rocketchat_autocomplete(term: str) -> list[dict[str, Any]]:
    """`findByNameRegexWithExceptionsAndConditions`' pipeline (FerretDB has no `$concat`: `custom_name` is joined
    by the caller, a negligible cost)."""
    return [
        {"$match": {"name": {"$regex": "^" + re.escape(term.strip()), "$options": "i"}, "_id": {"$nin": []}}},
        {"$sort": {"name": 1}},
        {"$limit": 10},
        {"$project": {"_id": 1, "name": 1, "username": 1}},
    ]


async def rocketchat_way(
    database: AsyncDatabase[dict[str, Any]], size: int, kinds: dict[str, list[dict[str, str]]], requests: int
) -> dict[str, Any]:
    collection = database[f"visitors_{size}"]
    if await collection.estimated_document_count() != size:
        await collection.drop()
        everyone = generated(size)
        for start in range(0, size, 5000):
            await collection.insert_many(everyone[start : start + 5000])

    async def call(query: dict[str, str]) -> int:
        if "selector" in query:
            pipeline = rocketchat_autocomplete(orjson.loads(query["selector"])["term"])
            items = await (await collection.aggregate(pipeline)).to_list()
            for item in items:
                item["custom_name"] = f"{item.get('username')} - {item.get('name')}"
            return len(items)
        where = rocketchat_filter(query["term"])
        sort = orjson.loads(query.get("sort") or '{"ts":-1}')
        cursor = collection.find(where).sort(sort).skip(int(query.get("offset", 0))).limit(50)
        _, total = await asyncio.gather(cursor.to_list(), collection.count_documents(where))
        return int(total)

    results: dict[str, Any] = {}
    for kind, queries in kinds.items():
        # A deep page at half of this smaller collection.
        bounded = [
            query if "offset" not in query else {**query, "offset": str(min(int(query["offset"]), size // 2))}
            for query in queries[:requests]
        ]
        latencies, _ = await timed(call, bounded)
        results[kind] = percentiles(latencies)
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    es_url, mongo_url = os.environ["ES_URL"], os.environ["MONGO_URL"]
    alias, database_name = f"bench-visitors-{args.visitors}", "bench_visitors"
    es = benchmark_client(request_timeout=600)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=False)
    try:
        database = mongo[database_name]
        await seed_mongo(mongo_url, database_name)
        build_seconds = await build_index(es, database, alias, args.visitors)
        kinds = requests_by_kind(args.visitors, args.requests)
        async with service_process(with_database(mongo_url, database_name), es_url, alias) as (base, pids):
            ours = await through_service(base, kinds, pids)
        theirs = {
            str(size): await rocketchat_way(database, size, kinds, max(2, args.requests * 1_000 // size))
            for size in args.rocketchat_sizes
        }
    finally:
        await es.close()
        await mongo.close()
    return {
        "visitors": args.visitors,
        "build_seconds": round(build_seconds, 1),
        "requests_per_kind": args.requests,
        "load_average": os.getloadavg()[0],
        "service": ours,
        "rocketchat_way_on_the_wire_server": theirs,
    }


def main() -> int:
    args = arguments(__doc__, "visitors")
    results = asyncio.run(run(args))
    report(results, f"visitor lists at {args.visitors:,} visitors", RESULTS, 26)
    return 0


if __name__ == "__main__":
    sys.exit(main())
