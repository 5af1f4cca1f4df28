"""Which node of the cluster the lookup's client asks next (pure: the time is passed in).

Each request starts at the next node in turn; a node that could not be reached is set aside for 1 s, doubling with
each further failure up to 30 s (elastic-transport's defaults), and tried after the live ones, so a request is
tried everywhere before it fails. Each process starts at a random node, so a fleet of workers does not start on
the same one.
"""

from __future__ import annotations

import random
from typing import Final

FIRST_PAUSE: Final = 1.0
LONGEST_PAUSE: Final = 30.0


def pause_after(failures: int) -> float:
    """Seconds a node is set aside after its `failures`-th failure in a row."""
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2.0 ** (failures - 1))


class NodeRotation:
    def __init__(self, count: int, first: int | None = None) -> None:
        if count < 1:
            raise ValueError("a cluster has at least one node")
        self._count = count
        self._failures = [0] * count
        self._back_at = [0.0] * count
        # `_turn` is advanced before each use, so the first request goes to `first`.
        self._turn = (random.randrange(count) if first is None else first) - 1

    def order(self, now: float) -> list[int]:
        """Every node once for one request: from the next in turn, live ones first, then those set aside, the
        soonest back first."""
        self._turn = (self._turn + 1) % self._count
        rotation = [(self._turn + step) % self._count for step in range(self._count)]
        return sorted(rotation, key=lambda index: max(0.0, self._back_at[index] - now))

    def failed(self, index: int, now: float) -> None:
        self._failures[index] += 1
        self._back_at[index] = now + pause_after(self._failures[index])

    def succeeded(self, index: int) -> None:
        self._failures[index], self._back_at[index] = 0, 0.0

    def back_at(self, index: int) -> float:
        """When a node set aside is first tried again before the live ones (0: it is live)."""
        return self._back_at[index]
