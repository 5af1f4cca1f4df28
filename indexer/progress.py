"""Backfill progress for people: a bar with rate and ETA on a terminal, otherwise a JSON log line every few seconds."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

BAR_WIDTH = 30


def eta_text(remaining: int, rate: float) -> str:
    if rate <= 0 or remaining <= 0:
        return "--:--:--" if remaining > 0 else "0:00:00"
    return str(dt.timedelta(seconds=int(remaining / rate)))


def bar_line(done: int, total: int, rate: float) -> str:
    """One progress line (pure): `[#####.....]  45.2% 45,210/100,000 8,123/s ETA 0:00:07`."""
    fraction = min(1.0, done / total) if total > 0 else 0.0
    filled = int(fraction * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return (
        f"[{bar}] {fraction * 100:5.1f}% {done:,}/{max(total, done):,} "
        f"{rate:,.0f}/s ETA {eta_text(max(0, total - done), rate)}"
    )


class Progress:
    """Counts acknowledged documents of one pass and reports at most every `interval` seconds."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream
        self._interval = 0.5 if stream is not None else interval
        self._clock = clock
        self._started = clock()
        self._reported = self._started

    def rate(self) -> float:
        elapsed = self._clock() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = self._clock()
        if now - self._reported >= self._interval:
            self._reported = now
            self._report(final=False)

    def finish(self) -> None:
        self._report(final=True)

    def _report(self, *, final: bool) -> None:
        rate = self.rate()
        if self._stream is not None:
            self._stream.write(f"\r{self.label} {bar_line(self.done, self.total, rate)}" + ("\n" if final else ""))
            self._stream.flush()
            return
        log.info(
            "%s %s: %d/%d documents, %.0f/s",
            self.label,
            "done" if final else "progress",
            self.done,
            self.total,
            rate,
            extra={
                "phase": self.label,
                "done": self.done,
                "total": self.total,
                "rate": round(rate, 1),
                "eta_seconds": int(max(0, self.total - self.done) / rate) if rate > 0 else None,
            },
        )
