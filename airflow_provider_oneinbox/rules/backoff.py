"""
The one backoff rule of the provider: how long to pause after failures in a row.

Used by the hooks' retries (with jitter, capped by the connection's ``retry_wait_max``) and by
every wait (the trigger, the shared poller, the worker-side poll), which pause without jitter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["backoff_delay"]


def backoff_delay(
    failures: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    jitter: bool = False,
    rng: Callable[[], float] = random.random,
) -> float:
    """
    Seconds to pause after ``failures`` failures in a row: ``base`` doubling with each failure,
    at least a 429's ``Retry-After``, at most ``cap``.

    With ``jitter`` the exponential part is drawn uniformly between ``base`` and its full value
    ("full jitter" above a floor), so many clients failing together do not retry together; a
    ``Retry-After`` is honoured as given (up to ``cap``), never jittered below.

    :param failures: Failures in a row, the last one included (>= 1).
    :param base: Pause after the first failure, in seconds (>= 0).
    :param cap: Longest pause, in seconds.
    :param retry_after: Seconds the server asked to wait (a 429's ``Retry-After``), if any.
    :param jitter: Whether to randomise the exponential part.
    :param rng: Source of uniform numbers in [0, 1), for tests.
    """
    exponent = max(failures, 1) - 1
    # 2**1024 overflows a float; any exponent past 64 is far beyond every cap anyway.
    delay = base * 2.0 ** min(exponent, 64)
    if jitter and delay > base:
        delay = base + (delay - base) * rng()
    if retry_after is not None and math.isfinite(retry_after):
        delay = max(delay, retry_after)
    return float(max(0.0, min(delay, cap)))
