"""Never worse than Rocket.Chat: a request this service cannot answer because a backend failed (what would be the
contract's 502 or 503) is forwarded to Rocket.Chat (`ROCKETCHAT_URL`, its own in-cluster address), which answers
the same route from MongoDB, and Rocket.Chat's answer is relayed as it is.

It sits around every route's handler (a middleware), so a route added later falls back too. A request refused with
a 4xx is never forwarded; a forwarded request carries `X-Contact-Search-Fallback`, and a request that already carries
it is never forwarded again (ROCKETCHAT_URL pointing back at us would loop). Rocket.Chat gets `FALLBACK_TIMEOUT`
seconds; if it cannot answer in time, the caller gets this service's own error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

from service import backend_failures
from service.errors import ApiError
from service.metrics import route_name

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOP_GUARD: Final = "X-Contact-Search-Fallback"
# What identifies and describes the caller to Rocket.Chat; nothing else of the request is passed on.
FORWARDED_HEADERS: Final = (
    "X-User-Id",
    "X-Auth-Token",
    "Authorization",
    "Cookie",
    "Accept",
    "Accept-Language",
    "User-Agent",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
)
# The contract's backend failures (and a gateway timeout): what Rocket.Chat may answer instead.
FALLBACK_STATUSES: Final = frozenset({502, 503, 504})


def backend_status(failure: BaseException) -> int | None:
    """The status this failure would be answered with when it is a backend's (pure)."""
    mapped = failure if isinstance(failure, ApiError) else backend_failures.for_exception(failure)
    return mapped.status if mapped is not None else None


def forwarded_headers(request: web.BaseRequest) -> dict[str, str]:
    """The caller's headers Rocket.Chat needs, and the loop guard (pure)."""
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    headers[LOOP_GUARD] = "1"
    return headers


class RocketChat:
    """Forwards requests to Rocket.Chat over one pooled session."""

    def __init__(self, url: str, timeout: float, on_forwarded: Callable[[str], None] = lambda route: None) -> None:
        self._url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._on_forwarded = on_forwarded
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # No cookie jar: each request carries its caller's own cookies, never another caller's.
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request, failure: BaseException) -> web.Response | None:
        """Rocket.Chat's answer to the same request, or None when it gave none in time."""
        assert self._session is not None
        route = route_name(request)
        self._on_forwarded(route)
        try:
            async with self._session.request(
                request.method,
                URL(self._url + request.raw_path, encoded=True),  # path and query string as the caller sent them
                headers=forwarded_headers(request),
                timeout=self._timeout,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()  # decoded: the caller gets it as this service sends its own answers
                headers = {"Content-Type": answer.headers["Content-Type"]} if "Content-Type" in answer.headers else {}
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("fallback to Rocket.Chat failed on %s: %s", route, type(error).__name__)
            return None
        log.warning(
            "answered %s by Rocket.Chat (%d) after a backend failure: %s", route, answer.status, type(failure).__name__
        )
        return web.Response(body=body, status=answer.status, headers=headers)


FALLBACK: Final = web.AppKey("rocketchat_fallback", RocketChat)


@web.middleware
async def fallback_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the envelope middleware: a backend failure goes to Rocket.Chat; anything else, and a failure Rocket.Chat
    could not answer in time, goes on to the envelope as it is."""
    try:
        return await handler(request)
    except Exception as failure:
        rocketchat = request.app.get(FALLBACK)
        if rocketchat is None or backend_status(failure) not in FALLBACK_STATUSES:
            raise
        if LOOP_GUARD in request.headers:
            log.warning(
                "not forwarding %s: it came from a fallback already (ROCKETCHAT_URL loops)", route_name(request)
            )
            raise
        answer = await rocketchat.forward(request, failure)
        if answer is None:
            raise
        return answer


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    """The forwarding session, opened and closed with the app (a `cleanup_ctx`)."""
    rocketchat = app[FALLBACK]
    await rocketchat.open()
    try:
        yield
    finally:
        await rocketchat.close()
