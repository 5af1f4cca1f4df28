"""Command line of the indexer.

python -m indexer [run]          the worker: backfill when there is no checkpoint, then follow every change
python -m indexer --once         index every visitor once, then exit
python -m indexer reindex        rebuild the index behind the alias with zero downtime
python -m indexer verify [--repair]   compare MongoDB and the index (and fix the drift)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common import logs
from indexer import backfill, layout, metrics, specs
from indexer.progress import Progress
from indexer.settings import Settings
from indexer.specs import Spec
from indexer.sync import ProgressFactory
from indexer.worker import Worker
from indexer.writer import Stopped

log = logging.getLogger("indexer")


@contextlib.asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], AsyncElasticsearch]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=False)
    # Writes are retried by the writer's own rule; the client only moves a failed request to another node.
    es = AsyncElasticsearch(
        settings.es_nodes,
        request_timeout=60,
        max_retries=max(3, len(settings.es_nodes)),
        serializer=OrjsonSerializer(),
    )
    try:
        yield mongo.get_default_database(default="rocketchat"), es
    finally:
        await es.close()
        await mongo.close()


def stop_on_signals() -> asyncio.Event:
    """SIGTERM/SIGINT set the returned event: the worker finishes its batch, saves its checkpoint and exits 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def progress_factory(show_bar: bool) -> ProgressFactory:
    def create(label: str, total: int) -> Progress:
        return Progress(label, total, stream=sys.stderr if show_bar else None)

    return create


def holder_id() -> str:
    """Who holds the lease, for people reading the checkpoint document: pod name, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def configured(spec: Spec, settings: Settings) -> Spec:
    """`spec` as these settings deploy it: every index it creates gets ES_SHARDS and ES_REPLICAS."""
    return layout.laid_out(spec, settings.index_layout)


def visitors(settings: Settings) -> Spec:
    """The synced collection: Rocket.Chat's visitors, served through the alias ES_INDEX."""
    return configured(specs.VISITORS.with_alias(settings.es_index), settings)


async def _once(settings: Settings) -> int:
    """Exit 1 when Elasticsearch refused any document (they are dead-lettered, with the reason)."""
    async with clients(settings) as (database, es):
        summary = await backfill.index_once(database, es, visitors(settings), settings.batch_size, settings.queue_depth)
    print(summary.line(settings.es_index))  # noqa: T201 (the command's summary)
    return 1 if summary.refused else 0


async def _run(settings: Settings, show_progress: bool) -> int:
    stop = stop_on_signals()
    state = metrics.Metrics(stall_after=settings.stall_after)
    async with clients(settings) as (database, es), metrics.serve(state, settings.metrics_port):
        worker = Worker(
            settings,
            visitors(settings),
            database,
            es,
            holder=holder_id(),
            metrics=state,
            stop=stop,
            progress=progress_factory(show_progress),
        )
        await worker.run()
    log.info("indexer stopped")
    return 0


async def _reindex(settings: Settings, show_progress: bool) -> int:
    from indexer import reindex

    stop = stop_on_signals()
    async with clients(settings) as (database, es):
        try:
            rebuilt = await reindex.reindex(
                settings, visitors(settings), database, es, stop=stop, progress=progress_factory(show_progress)
            )
        except reindex.ReindexFailed as error:
            log.error("reindex failed: %s", error)
            return 1
        except Stopped:
            log.warning("reindex interrupted; the old index still serves")
            return 1
    log.info("reindex done: %s (%d documents refused, dead-lettered)", rebuilt.index, rebuilt.refused)
    print(f"{settings.es_index}: now {rebuilt.index}; {rebuilt.refused} refused (dead-lettered)")  # noqa: T201
    return 1 if rebuilt.refused else 0


async def _verify(settings: Settings, repair: bool) -> int:
    from indexer import verify  # built separately; imported only when asked for

    return await verify.main_async(settings, visitors(settings), repair)


def main(argv: list[str] | None = None) -> int:
    # Accepted before or after the command; SUPPRESS keeps a subcommand from resetting what the main parser read.
    options = argparse.ArgumentParser(add_help=False)
    progress = options.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", action="store_true", default=argparse.SUPPRESS, help="progress bar (default on a TTY)"
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", default=argparse.SUPPRESS, help="JSON log lines"
    )
    parser = argparse.ArgumentParser(
        prog="python -m indexer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[options],
    )
    parser.add_argument("--once", action="store_true", help="index every visitor once, then exit")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="the worker (default)", parents=[options])
    commands.add_parser("reindex", help="rebuild the index with zero downtime", parents=[options])
    verify = commands.add_parser("verify", help="compare MongoDB and the index", parents=[options])
    verify.add_argument("--repair", action="store_true", help="fix the drift found")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    chosen = getattr(args, "progress", None)
    show_progress = sys.stderr.isatty() if chosen is None else bool(chosen)
    if args.once:
        return asyncio.run(_once(settings))
    if args.command == "reindex":
        return asyncio.run(_reindex(settings, show_progress))
    if args.command == "verify":
        return asyncio.run(_verify(settings, args.repair))
    return asyncio.run(_run(settings, show_progress))


if __name__ == "__main__":
    sys.exit(main())
