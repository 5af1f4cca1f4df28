"""Logging set-up for both processes: one JSON object per line in production, plain text for people."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; attributes passed through `extra=` become fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str, output_format: str) -> None:
    """Install one stderr handler on the root logger, replacing any previous one."""
    handler = logging.StreamHandler()
    if output_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The clients log every request at INFO with URLs; keep them to warnings.
    for noisy in ("elastic_transport", "elasticsearch", "aiohttp.access", "pymongo"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
