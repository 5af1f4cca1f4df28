"""Command line of the indexer.

python -m indexer [run]          the worker: backfill when there is no checkpoint, then follow every change
python -m indexer --once         index every document once, then exit
python -m indexer reindex        rebuild the index behind the alias with zero downtime
python -m indexer verify [--repair]   compare MongoDB and the index (and fix the drift)

Each command works on every collection of COLLECTIONS (visitors, livechat_contacts), one after the other, or only
on those named with --collection.
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
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common import elasticsearch_clients, elasticsearch_refusals, logs
from common.backends import BackendStates, MongoTopologyListener, observed_transport
from indexer import backfill, layout, metrics
from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from indexer.progress import Progress
from indexer.settings import COLLECTIONS, Settings
from indexer.specs import Spec
from indexer.sync import ProgressFactory
from indexer.worker import Worker
from indexer.writer import Stopped

log = logging.getLogger("indexer")


@contextlib.asynccontextmanager
async def clients(
    settings: Settings, backends: BackendStates | None = None
) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], AsyncElasticsearch]]:
    """Both clients; each notes in `backends` whether its backend answers (the `backend_up` gauges)."""
    states = backends or BackendStates()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, tz_aware=False, event_listeners=[MongoTopologyListener(states)]
    )
    # Writes are retried by the writer's own rule; the client only moves a failed request to another node.
    reach = settings.elasticsearch
    es = elasticsearch_clients.async_client(
        reach,
        request_timeout=60,
        max_retries=max(3, len(reach.nodes)),
        transport_class=observed_transport(states),
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


def synced_specs(settings: Settings, names: list[str] | None = None) -> list[Spec]:
    """The synced collections, each behind its alias: visitors (ES_INDEX), Rocket.Chat 7's contacts
    (ES_CONTACTS_INDEX); those of COLLECTIONS, or of `names` when given. Each creates its indices with ES_SHARDS
    and ES_REPLICAS (the first one, and each reindex's)."""
    every = {
        "visitors": VISITORS.with_alias(settings.es_index),
        "livechat_contacts": LIVECHAT_CONTACTS.with_alias(settings.es_contacts_index),
    }
    return [configured(every[name], settings) for name in (names or settings.collection_names)]


# `verify`'s exit codes, the worst first: not done, drift, only dead letters, clean.
_VERIFY_SEVERITY = (2, 1, 3, 0)


async def _once(settings: Settings, chosen: list[Spec]) -> int:
    """Exit 1 when Elasticsearch refused any document (they are dead-lettered, with the reason)."""
    refused = 0
    async with clients(settings) as (database, es):
        for spec in chosen:
            summary = await backfill.index_once(database, es, spec, settings.batch_size, settings.queue_depth)
            print(summary.line(spec.alias))  # noqa: T201 (the command's summary)
            refused += summary.refused
    return 1 if refused else 0


async def _run(settings: Settings, chosen: list[Spec], show_progress: bool) -> int:
    """One worker per synced collection, each with its own lease and checkpoint, in one process."""
    stop = stop_on_signals()
    states = [metrics.Metrics(stall_after=settings.stall_after, alias=spec.alias) for spec in chosen]
    backends = BackendStates()
    async with (
        clients(settings, backends) as (database, es),
        metrics.serve(states, settings.metrics_port, backends=backends),
    ):
        workers = [
            Worker(
                settings,
                spec,
                database,
                es,
                holder=holder_id(),
                metrics=state,
                stop=stop,
                progress=progress_factory(show_progress),
            )
            for spec, state in zip(chosen, states, strict=True)
        ]
        await asyncio.gather(*(worker.run() for worker in workers))
    log.info("indexer stopped")
    return 0


async def _reindex(settings: Settings, chosen: list[Spec], show_progress: bool) -> int:
    from indexer import reindex

    stop = stop_on_signals()
    failed = False
    async with clients(settings) as (database, es):
        for spec in chosen:
            try:
                rebuilt = await reindex.reindex(
                    settings, spec, database, es, stop=stop, progress=progress_factory(show_progress)
                )
            except reindex.ReindexFailed as error:
                log.error("reindex of %s failed: %s", spec.alias, error)
                failed = True
                continue
            except Stopped:
                log.warning("reindex of %s interrupted; the old index still serves", spec.alias)
                return 1
            log.info("reindex done: %s (%d documents refused, dead-lettered)", rebuilt.index, rebuilt.refused)
            print(f"{spec.alias}: now {rebuilt.index}; {rebuilt.refused} refused (dead-lettered)")  # noqa: T201
            failed = failed or rebuilt.refused > 0
    return 1 if failed else 0


async def _verify(settings: Settings, chosen: list[Spec], repair: bool) -> int:
    from indexer import verify  # built separately; imported only when asked for

    codes = []
    async with clients(settings) as (database, es):
        for spec in chosen:
            code, lines = await verify.command(database, es, spec, batch_size=settings.batch_size, repair=repair)
            print("\n".join(lines), flush=True)  # noqa: T201 (the command's report)
            codes.append(code)
    return min(codes, key=_VERIFY_SEVERITY.index)


# A one-shot command stopped by a refused credential or certificate: nothing else it did could have helped.
REFUSED_EXIT = 2


def one_shot(settings: Settings, command: Coroutine[Any, Any, int]) -> int:
    """Runs a one-shot command; a refused credential or certificate stops it at once with one line saying which."""
    try:
        return asyncio.run(command)
    except Exception as failure:
        line = elasticsearch_refusals.explain(failure, settings.elasticsearch.credential)
        if line is None:
            raise
        log.error("%s", line)
        print(f"stopped: {line}", file=sys.stderr)  # noqa: T201 (the command's verdict)
        return REFUSED_EXIT


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
    options.add_argument(
        "--collection",
        action="append",
        choices=COLLECTIONS,
        default=argparse.SUPPRESS,
        help="only this collection (repeatable; default: those of COLLECTIONS)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m indexer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[options],
    )
    parser.add_argument("--once", action="store_true", help="index every document once, then exit")
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
    synced = synced_specs(settings, getattr(args, "collection", None))
    if args.once:
        return one_shot(settings, _once(settings, synced))
    if args.command == "reindex":
        return one_shot(settings, _reindex(settings, synced, show_progress))
    if args.command == "verify":
        return one_shot(settings, _verify(settings, synced, args.repair))
    return asyncio.run(_run(settings, synced, show_progress))


if __name__ == "__main__":
    sys.exit(main())
