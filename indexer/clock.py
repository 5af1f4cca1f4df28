"""The indexer's one notion of now: naive UTC dates as MongoDB stores them, and epoch milliseconds (the versions)."""

from __future__ import annotations

import datetime as dt
import time


def utcnow() -> dt.datetime:
    """Naive UTC with millisecond precision, as MongoDB stores dates."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def now_millis() -> int:
    """Now in epoch milliseconds, the unit of every version and polling position."""
    return int(time.time() * 1000)
