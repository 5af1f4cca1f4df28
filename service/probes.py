"""The probes: `/healthz` (the process lives), `/readyz` (this pod serves: 503 only while it drains after SIGTERM).

Readiness does not follow the backends: Elasticsearch and MongoDB are shared by every pod, so an outage would take
every pod out of the Service at once, and clients would get the proxy's HTML instead of the contract's 503 JSON (or
Rocket.Chat's answer through the fallback). `/readyz?verbose=1` adds, for a person, a check of each backend: every
alias the service reads and a MongoDB ping; it never changes the status.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import elasticsearch
import pymongo.errors
from aiohttp import web

from service.handlers import json_response
from service.keys import ELASTICSEARCH, MONGO_DATABASE, SETTINGS

DRAINING: Final = web.AppKey("draining", asyncio.Event)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    draining = request.app[DRAINING].is_set()
    body: dict[str, Any] = {"ready": not draining, "draining": draining}
    if request.query.get("verbose", "0") not in ("", "0", "false"):
        body["backends"] = await backend_checks(request.app)
    return json_response(body, 503 if draining else 200)


async def backend_checks(app: web.Application) -> dict[str, Any]:
    """`ok`, `alias missing` or the failure's type, for each alias the service reads and for MongoDB."""
    aliases: dict[str, str] = {}
    for alias in app[SETTINGS].read_aliases:
        try:
            exists = await app[ELASTICSEARCH].indices.exists_alias(name=alias)
            aliases[alias] = "ok" if exists else "alias missing"
        except elasticsearch.TransportError as failure:
            aliases[alias] = type(failure).__name__
    try:
        await app[MONGO_DATABASE].command("ping")
        mongodb = "ok"
    except pymongo.errors.PyMongoError as failure:
        mongodb = type(failure).__name__
    return {"elasticsearch": aliases, "mongodb": mongodb}


async def _start_draining(app: web.Application) -> None:
    app[DRAINING].set()


def install(app: web.Application) -> None:
    """The probes' routes, and the drain mark set when shutdown begins (SIGTERM)."""
    app[DRAINING] = asyncio.Event()
    app.on_shutdown.append(_start_draining)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
