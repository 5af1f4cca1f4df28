"""The shape of every pass: a reader fills a bounded queue with batches of change records, a writer drains it, and
the checkpoint moves only behind acknowledged batches. The bounded queue is the backpressure: memory stays flat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from indexer.changes import Change
from indexer.checkpoint import Position

log = logging.getLogger(__name__)

# A record of None from the reader means "flush what you have": the stream went idle.
ChangeFeed = AsyncIterator[Change | None]
OnAck = Callable[[Position, int], Awaitable[None]]


T = TypeVar("T")


async def read_ahead(items: AsyncIterator[T], depth: int) -> AsyncIterator[T]:
    """`items`, pulled by a task of their own up to `depth` ahead, so that the server prepares the next batch
    while this process transforms the current one."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=max(1, depth))

    async def pull() -> None:
        try:
            async for item in items:
                await queue.put((True, item))
        except Exception as error:
            await queue.put((False, error))
        else:
            await queue.put((False, None))

    puller = asyncio.create_task(pull(), name="indexer-read-ahead")
    try:
        while True:
            more, item = await queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        puller.cancel()
        await asyncio.gather(puller, return_exceptions=True)
        closing = getattr(items, "aclose", None)
        if closing is not None:
            await closing()


class SaveBehind:
    """Saves acknowledged positions at most every `interval` seconds; `flush` saves the one held back.

    Positions only ever move forward, so holding one back never records progress that was not acknowledged; a
    crash repeats at most `interval` of work, and the versioned writes make that repetition harmless.
    """

    def __init__(self, save: Callable[[Position], Awaitable[Any]], interval: float) -> None:
        self._save = save
        self._interval = interval
        self._pending = Position()
        self._saved_at = float("-inf")
        self._saving = asyncio.Lock()  # the writer's acknowledgements and an idle reader may both save

    async def offer(self, position: Position) -> None:
        self._pending = self._pending.merged(position)
        if time.monotonic() - self._saved_at >= self._interval:
            await self.flush()

    async def flush(self) -> None:
        async with self._saving:
            if self._pending:
                position, self._pending = self._pending, Position()
                self._saved_at = time.monotonic()
                await self._save(position)


def batch_position(batch: list[Change]) -> Position:
    """What the checkpoint records once the whole batch is written: the last position of each kind."""
    position = Position()
    for change in batch:
        position = position.merged(change.position)
    return position


class AckTracker:
    """Decides how far the checkpoint may move: past a change only once it and every change before it are written.

    Writes may finish out of order (batches in flight together, retried items); the tracker hands out the
    position of the longest acknowledged prefix.
    """

    def __init__(self) -> None:
        self._next = 0
        self._pending: OrderedDict[int, tuple[bool, Position]] = OrderedDict()

    def begin(self, position: Position) -> int:
        """Register a batch about to be written; returns its ticket."""
        ticket = self._next
        self._next += 1
        self._pending[ticket] = (False, position)
        return ticket

    def done(self, ticket: int) -> Position | None:
        """Mark a batch written; returns what the checkpoint may now record (the positions of the newly
        acknowledged prefix merged in order), or None when the prefix did not grow."""
        _, position = self._pending[ticket]
        self._pending[ticket] = (True, position)
        reached: Position | None = None
        while self._pending:
            first = next(iter(self._pending))
            acknowledged, first_position = self._pending[first]
            if not acknowledged:
                break
            del self._pending[first]
            reached = (reached or Position()).merged(first_position)
        return reached

    @property
    def in_flight(self) -> int:
        return len(self._pending)


async def pump(
    feed: ChangeFeed,
    write: Callable[[list[Change]], Awaitable[None]],
    on_ack: OnAck,
    *,
    batch_size: int,
    depth: int,
    stop: asyncio.Event,
) -> int:
    """Write every change of `feed` in batches; `on_ack(position, count)` after each acknowledged prefix.

    Returns how many changes were written. Stops after the batch in flight once `stop` is set. Errors of the
    reader or the writer propagate; then nothing past the last acknowledged batch is recorded.
    """
    queue: asyncio.Queue[tuple[int, list[Change]] | None] = asyncio.Queue(maxsize=max(1, depth))
    tracker = AckTracker()
    failures: list[BaseException] = []

    async def read() -> None:
        batch: list[Change] = []
        try:
            async for change in feed:
                if change is not None:
                    batch.append(change)
                if batch and (change is None or len(batch) >= batch_size):
                    await queue.put((tracker.begin(batch_position(batch)), batch))
                    batch = []
                if stop.is_set():
                    break
            if batch and not stop.is_set():
                await queue.put((tracker.begin(batch_position(batch)), batch))
        except Exception as error:
            failures.append(error)
        finally:
            closing = getattr(feed, "aclose", None)
            if closing is not None:
                await closing()
        await queue.put(None)

    reader = asyncio.create_task(read(), name="indexer-reader")
    stopping = asyncio.create_task(stop.wait(), name="indexer-stop")
    written = 0
    try:
        while True:
            # A stop while the reader is still busy (a slow query) ends the pass at once: nothing is in flight.
            getting = asyncio.create_task(queue.get())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() or not getting.done():
                getting.cancel()
                await asyncio.gather(getting, return_exceptions=True)
                break
            item = getting.result()
            if item is None:
                break
            ticket, batch = item
            await write(batch)
            written += len(batch)
            reached = tracker.done(ticket)
            if reached is not None:
                await on_ack(reached, len(batch))
            if stop.is_set():
                break
    finally:
        stopping.cancel()
        if not reader.done():
            reader.cancel()
        await asyncio.gather(reader, stopping, return_exceptions=True)
    if failures:
        raise failures[0]
    return written
