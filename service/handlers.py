"""Service-wide handlers (probes, OpenAPI) and the middleware that turns every failure into the contract's JSON
envelope. The routes' own handlers live with their family: `service.lookup.handler`, `service.lists.handlers`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import elasticsearch
import orjson
import pymongo.errors
from aiohttp import web

from service import backend_failures
from service.errors import ApiError
from service.keys import ELASTICSEARCH, MONGO_DATABASE, SETTINGS
from service.openapi import OPENAPI

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when Elasticsearch answers and has the alias, and MongoDB answers a ping."""
    checks: dict[str, str] = {}
    try:
        exists = await request.app[ELASTICSEARCH].indices.exists_alias(name=request.app[SETTINGS].es_index)
        checks["elasticsearch"] = "ok" if exists else "alias missing"
    except elasticsearch.TransportError as failure:
        checks["elasticsearch"] = type(failure).__name__
    try:
        await request.app[MONGO_DATABASE].command("ping")
        checks["mongo"] = "ok"
    except pymongo.errors.PyMongoError as failure:
        checks["mongo"] = type(failure).__name__
    ready = all(state == "ok" for state in checks.values())
    return json_response({"ready": ready, "checks": checks}, 200 if ready else 503)


async def openapi(request: web.Request) -> web.Response:
    return json_response(OPENAPI)


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Maps failures to JSON envelopes, marks responses uncacheable and logs one line per request."""
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
    except ApiError as failure:
        response = json_response(failure.body(), failure.status)
    except web.HTTPException as failure:
        response = json_response({"success": False, "error": failure.reason}, failure.status)
        for name in ("Allow",):
            if name in failure.headers:
                response.headers[name] = failure.headers[name]
    except asyncio.CancelledError:
        raise
    except Exception as failure:
        mapped = backend_failures.for_exception(failure)
        if mapped is None:
            log.exception("unexpected failure on %s", request.path)
            mapped = ApiError("Internal server error")
        else:
            log.warning("backend failure on %s: %s", request.path, type(failure).__name__)
        response = json_response(mapped.body(), mapped.status)
    response.headers["Cache-Control"] = "no-store"
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response
