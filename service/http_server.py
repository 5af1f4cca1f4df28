"""How the HTTP server meets clients before a handler runs: size limits, timeouts, its `Server` header, and what
it logs about the requests its parser refuses."""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import web_response
from aiohttp.http_exceptions import HttpProcessingError

from service.settings import Settings

# Longest request line (method, path and query string) and longest header line, in bytes; longer is a 400
# before any handler runs, and nothing longer is ever buffered.
MAX_LINE_SIZE: Final = 8190
MAX_HEADERS: Final = 64
# No route reads a request body; a body sent anyway is discarded, not buffered.
CLIENT_MAX_SIZE: Final = 1024
# Seconds spent reading and discarding what a client still sends after its answer, before the connection closes.
LINGERING_TIME: Final = 2.0
SERVER_NAME: Final = "contact-search"


def handler_args(settings: Settings) -> dict[str, Any]:
    """aiohttp's per-connection limits, for `web.Application(handler_args=...)`."""
    return {
        "max_line_size": MAX_LINE_SIZE,
        "max_field_size": MAX_LINE_SIZE,
        "max_headers": MAX_HEADERS,
        # aiohttp's keep-alive timer runs from the connection's start and from each answer until a whole request head
        # has arrived: it closes idle connections and also those that send a request too slowly.
        "keepalive_timeout": settings.keepalive_timeout,
        "lingering_time": LINGERING_TIME,
    }


class _RefusedRequestFilter(logging.Filter):
    """aiohttp logs a request its parser refuses at ERROR, with a traceback whose message quotes the start of the
    offending line: a query string's email or phone, an `X-Auth-Token`. Keep one WARNING line naming the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = record.exc_info[1] if record.exc_info else None
        if record.levelno > logging.DEBUG and isinstance(refused, HttpProcessingError):
            record.msg, record.args = "refused a malformed or oversized request: %s", (type(refused).__name__,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


_REFUSED_REQUEST_FILTER: Final = _RefusedRequestFilter()


def configure_process() -> None:
    """Process-wide settings of aiohttp's server, for `python -m service` (idempotent)."""
    # aiohttp writes `Server: Python/<version> aiohttp/<version>` on every response, also on the 400s its parser sends
    # before any app code or signal runs; the one way to change that is the default it reads from this module.
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
    logging.getLogger("aiohttp.server").addFilter(_REFUSED_REQUEST_FILTER)
