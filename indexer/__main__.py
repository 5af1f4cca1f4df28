"""Command line of the indexer: `python -m indexer --once`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient

from common import logs
from indexer import pipeline
from indexer.settings import Settings


async def _once(settings: Settings) -> int:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=False)
    es = AsyncElasticsearch(settings.es_url)
    try:
        database = mongo.get_default_database(default="rocketchat")
        await pipeline.backfill_once(database, es, settings.es_index, settings.batch_size)
    finally:
        await es.close()
        await mongo.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__)
    parser.add_argument("--once", action="store_true", help="index every visitor once, then exit")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    if not args.once:
        parser.error("only --once is available")
    return asyncio.run(_once(settings))


if __name__ == "__main__":
    sys.exit(main())
