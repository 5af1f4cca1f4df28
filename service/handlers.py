"""Service-wide handlers (OpenAPI) and the middleware that turns every failure into the contract's JSON
envelope. The routes' own handlers live with their family: `service.lookup.handler`, `service.lists.handlers`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from common import elasticsearch_refusals
from service import backend_failures
from service.errors import ApiError
from service.keys import SETTINGS
from service.openapi import OPENAPI

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def openapi(request: web.Request) -> web.Response:
    return json_response(OPENAPI)


def _log_backend_failure(request: web.Request, failure: Exception) -> None:
    """A refused credential or certificate is an operator's to fix: said as such, naming the kind, never a secret."""
    refused = elasticsearch_refusals.refusal(failure, request.app[SETTINGS].elasticsearch.credential)
    problem = None if refused is not None else elasticsearch_refusals.certificate_problem(failure)
    if refused is not None:
        log.error("backend failure on %s: %s", request.path, refused)
    elif problem is not None:
        log.error("backend failure on %s: Elasticsearch's certificate is refused: %s", request.path, problem)
    else:
        log.warning("backend failure on %s: %s", request.path, type(failure).__name__)


def envelope(request_log: float = 0.0) -> Middleware:
    """The middleware that maps failures to JSON envelopes and marks responses uncacheable; it logs one `request`
    line at INFO for the fraction `request_log` of requests (0: none, 1: every one). That line costs more CPU than
    the rest of a lookup's Python (docs/benchmarks.md), so it is off by default; failures are logged anyway."""

    @web.middleware
    async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await _answer(request, handler)
        if request_log and (request_log >= 1 or random.random() < request_log):
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

    return envelope_middleware


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
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
            _log_backend_failure(request, failure)
        response = json_response(mapped.body(), mapped.status)
    response.headers["Cache-Control"] = "no-store"
    return response
