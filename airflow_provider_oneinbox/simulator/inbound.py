"""
Inbound traffic: calls arriving on registered numbers at a fixed rate of the simulated clock.

Each registered number receives ``inbound_calls_per_minute`` calls per simulated minute, evenly spaced,
the first one interval after the number was registered (or after the rate last changed). Arrivals are
created lazily, in time order, whenever the store is read or written, so a clock jump creates every call
it skipped over (at most :data:`MAX_BACKFILL` per number). The caller's number is deterministic per
(number, arrival index); one caller in :data:`WITHHELD_EVERY` withholds it (``from_number`` null).
"""

from __future__ import annotations

import random
from typing import NamedTuple

#: A clock jump creates at most this many skipped-over arrivals per number (the oldest are dropped).
MAX_BACKFILL = 1000
#: One caller in this many withholds their number.
WITHHELD_EVERY = 5


class Arrival(NamedTuple):
    """One inbound call due: when, on which number (its id), and its sequence number on that number."""

    at: float
    number_id: str
    seq: int


def caller_number(phone_number: str, index: int) -> str | None:
    """The caller of arrival ``index`` on ``phone_number``: a US number, or ``None`` (withheld)."""
    rng = random.Random(f"{phone_number}:{index}")
    if rng.randrange(WITHHELD_EVERY) == 0:
        return None
    return f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


class InboundSchedule:
    """Per number: when its arrivals are counted from, and how many have been created."""

    def __init__(self) -> None:
        self._anchor: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def clear(self) -> None:
        """Forget every number."""
        self._anchor.clear()
        self._count.clear()

    def add(self, number_id: str, now: float) -> None:
        """Start counting arrivals on a newly registered number from ``now``."""
        self._anchor[number_id] = now
        self._count[number_id] = 0

    def restart(self, now: float) -> None:
        """Count every number's arrivals from ``now`` (the rate changed)."""
        for number_id in self._anchor:
            self.add(number_id, now)

    def next_arrival(self, rate: float) -> float | None:
        """Simulated time of the next arrival on any number, ``None`` when inbound traffic is off."""
        if rate <= 0 or not self._anchor:
            return None
        interval = 60.0 / rate
        return min(self._anchor[n] + (self._count[n] + 1) * interval for n in self._anchor)

    def due(self, rate: float, now: float) -> list[Arrival]:
        """Every arrival up to ``now`` not handed out yet, oldest first (each handed out once)."""
        if rate <= 0:
            return []
        interval = 60.0 / rate
        arrivals: list[Arrival] = []
        for number_id, anchor in self._anchor.items():
            done = self._count[number_id]
            total = int((now - anchor) / interval)
            first = max(done, total - MAX_BACKFILL)
            arrivals += [Arrival(anchor + (i + 1) * interval, number_id, i) for i in range(first, total)]
            self._count[number_id] = max(done, total)
        arrivals.sort()
        return arrivals
