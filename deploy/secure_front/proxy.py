"""The secured front itself: TLS with the private CA's certificate, then every request authenticated as
Elasticsearch's security does it and passed on to the real (unsecured) Elasticsearch behind it.

What a refused request gets is Elasticsearch 8/9's answer: 401, `X-Elastic-Product: Elasticsearch`, the three
`WWW-Authenticate` challenges, and a `security_exception` body whose reason says whether credentials were missing
or wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web

CHALLENGES: Final = ('Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey")
# Hop-by-hop and framing headers are the front's own business on each side.
_NOT_FORWARDED: Final = frozenset(
    {"authorization", "host", "connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}
)
UPSTREAM: Final = web.AppKey("upstream", str)
SESSION: Final = web.AppKey("session", aiohttp.ClientSession)
API_KEY: Final = web.AppKey("api_key", str)
CREDENTIALS: Final = web.AppKey("credentials", tuple)


def refusal(reason: str) -> web.Response:
    """Elasticsearch's 401 (pure)."""
    cause: dict[str, Any] = {
        "type": "security_exception",
        "reason": reason,
        "header": {"WWW-Authenticate": list(CHALLENGES)},
    }
    body = {"error": {"root_cause": [cause], **cause}, "status": 401}
    response = web.Response(status=401, body=orjson.dumps(body), content_type="application/json")
    response.headers["X-elastic-product"] = "Elasticsearch"
    for challenge in CHALLENGES:
        response.headers.add("WWW-Authenticate", challenge)
    return response


def authentication_failure(authorization: str | None, target: str, api_key: str, user: tuple[str, str]) -> str | None:
    """Why a request is refused, in Elasticsearch's words, or None when its credential is the configured one."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if scheme.lower() == "apikey" and value:
        if hmac.compare_digest(value.encode(), api_key.encode()):
            return None
        return "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
    if scheme.lower() == "basic" and value:
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return f"missing authentication credentials for REST request [{target}]"
        if hmac.compare_digest(f"{name}:{password}".encode(), f"{user[0]}:{user[1]}".encode()):
            return None
        return f"unable to authenticate user [{name}] for REST request [{target}]"
    return f"missing authentication credentials for REST request [{target}]"


async def forward(request: web.Request) -> web.StreamResponse:
    app = request.app
    refused = authentication_failure(
        request.headers.get("Authorization"), request.path_qs, app[API_KEY], app[CREDENTIALS]
    )
    if refused is not None:
        return refusal(refused)
    headers = {name: value for name, value in request.headers.items() if name.lower() not in _NOT_FORWARDED}
    async with app[SESSION].request(
        request.method, app[UPSTREAM] + request.path_qs, data=await request.read(), headers=headers
    ) as answer:
        body = await answer.read()
        response = web.Response(status=answer.status, body=body)
        for name, value in answer.headers.items():
            if name.lower() not in _NOT_FORWARDED:
                response.headers.add(name, value)
        return response


async def _session(app: web.Application) -> AsyncIterator[None]:
    # Bodies pass through as Elasticsearch sent them, compressed only when the client asked for it.
    async with aiohttp.ClientSession(auto_decompress=False, skip_auto_headers={"Accept-Encoding"}) as session:
        app[SESSION] = session
        yield


def create_app(upstream: str, api_key: str, user: tuple[str, str]) -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app[UPSTREAM] = upstream.rstrip("/")
    app[API_KEY] = api_key
    app[CREDENTIALS] = user
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
