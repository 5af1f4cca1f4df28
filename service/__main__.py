"""Command line of the service: `python -m service [--workers N]`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from common import logs
from service import http_server
from service.app import create_app
from service.settings import Settings

log = logging.getLogger("service")


def event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """uvloop where installed and asked for: it halves the event loop's share of a lookup's CPU (docs/benchmarks.md)."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("EVENT_LOOP=uvloop but uvloop is not installed: using asyncio's loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve(settings: Settings, reuse_port: bool) -> None:
    logs.configure(settings.log_level, settings.log_format)
    http_server.configure_process()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_grace,
        access_log=None,
        print=None,
        loop=event_loop(settings),
    )


def _worker_settings(settings: Settings, index: int) -> Settings:
    """Each worker has its own metrics (a scrape must not land on a random one): worker i on METRICS_PORT + i."""
    if not settings.metrics_port:
        return settings
    return dataclasses.replace(settings, metrics_port=settings.metrics_port + index)


def _serve_workers(settings: Settings) -> int:
    """One process per worker on the same port (SO_REUSEPORT); SIGTERM and SIGINT are passed on to each."""
    workers = [
        multiprocessing.Process(target=serve, args=(_worker_settings(settings, index), True), name=f"service-{index}")
        for index in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--workers", type=int, help="processes sharing the port (default: WORKERS or 1)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.workers is not None:
        settings = Settings(**{**vars(settings), "workers": args.workers})
    if settings.workers <= 1:
        serve(settings, reuse_port=False)
        return 0
    return _serve_workers(settings)


if __name__ == "__main__":
    sys.exit(main())
