"""
Pacing a campaign: how many calls may be live at once, and how close together they may start.

Pure: the standard library only, no clock of its own (the caller passes ``now``), so the same
rule serves the worker, a test and a replay. Errors are ``ValueError`` naming the parameter and
the fix, as :class:`~airflow_provider_oneinbox.rules.policy.WaitPolicy` does.

``calls_per_minute`` is enforced as a minimum spacing of ``60 / calls_per_minute`` seconds between
two call starts, never as a budget per minute: 60 calls per minute is one call a second, never 60
calls in the minute's first second, so a carrier's per-second cap (Twilio: 1 call per second by
default) is never burst. ``max_concurrent_calls`` counts live calls: placed and not yet ended.

**After a restart** (a task retry, a worker that died, a deferral's resume) there is no memory but
the placed-call ledger: the caller passes as ``last_start`` the latest attempt time the ledger
recorded (:func:`latest_start`), and as ``live`` the calls recorded and not known to have ended. A
ledger attempt is written *before* its ``POST /v1/calls``, so the call may have started up to the
create's duration later: :func:`latest_start` adds that ``slack`` (pass the create request's
timeout) so the spacing holds from the latest instant the call could have started.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

__all__ = ["MAX_CALLS_PER_MINUTE", "MAX_CONCURRENT_CALLS", "Pacing", "PacingDecision", "latest_start"]

#: Largest ``max_concurrent_calls`` accepted.
MAX_CONCURRENT_CALLS = 1000
#: Largest ``calls_per_minute`` accepted (10 calls a second).
MAX_CALLS_PER_MINUTE = 600


class PacingDecision(NamedTuple):
    """
    What :meth:`Pacing.next_start` allows.

    :param start_now: Whether a call may start now.
    :param next_at: If ``start_now``: when the call after it may start, supposing it starts now;
        otherwise when this one may start. ``None`` means "when a live call ends" (the concurrency
        cap is reached, or will be once this call starts): ask again then.
    """

    start_now: bool
    next_at: datetime | None


def _aware(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Pacing:
    """
    A campaign's pace: at most ``max_concurrent_calls`` live, starts at least ``spacing`` apart.

    :param max_concurrent_calls: Most calls live at once (an agent's or carrier's cap), 1 to
        :data:`MAX_CONCURRENT_CALLS`.
    :param calls_per_minute: Most call starts per minute, > 0 and at most
        :data:`MAX_CALLS_PER_MINUTE`; fractions allowed (0.5 is one call every two minutes).
    :raises ValueError: Naming the parameter and the accepted range.
    """

    max_concurrent_calls: int
    calls_per_minute: float

    def __post_init__(self) -> None:
        cap = self.max_concurrent_calls
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CONCURRENT_CALLS:
            raise ValueError(
                f"max_concurrent_calls must be an integer from 1 to {MAX_CONCURRENT_CALLS}, got {cap!r}; "
                "e.g. the number of calls your agent and carrier take at once"
            )
        rate = self.calls_per_minute
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0 < rate <= MAX_CALLS_PER_MINUTE
        ):
            raise ValueError(
                f"calls_per_minute must be a number > 0 and at most {MAX_CALLS_PER_MINUTE}, got {rate!r}; "
                "e.g. 60 for a carrier that takes one call a second"
            )

    @property
    def spacing(self) -> timedelta:
        """The least time between two call starts: ``60 / calls_per_minute`` seconds."""
        return timedelta(seconds=60 / self.calls_per_minute)

    def next_start(self, now: datetime, live: int, last_start: datetime | None) -> PacingDecision:
        """
        Whether a call may start at ``now``, and when the next one may.

        :param now: The current time, timezone-aware.
        :param live: Calls placed and not yet ended (counting the ledger's unfinished attempts after
            a restart), >= 0.
        :param last_start: When the latest call started (after a restart, :func:`latest_start` of the
            ledger's attempt times); ``None`` when none has.
        :raises ValueError: For a naive datetime or a negative ``live``.
        """
        _aware("now", now)
        if isinstance(live, bool) or not isinstance(live, int) or live < 0:
            raise ValueError(f"live must be an integer >= 0, got {live!r}")
        if live >= self.max_concurrent_calls:
            return PacingDecision(False, None)
        if last_start is not None:
            due = _aware("last_start", last_start) + self.spacing
            if now < due:
                return PacingDecision(False, due)
        following = now + self.spacing if live + 1 < self.max_concurrent_calls else None
        return PacingDecision(True, following)


def latest_start(recorded: Iterable[datetime], *, slack: timedelta = timedelta(0)) -> datetime | None:
    """
    The ``last_start`` to pace from after a restart: the latest recorded attempt, plus ``slack``.

    :param recorded: The attempt times the placed-call ledger recorded (each written before its
        POST), timezone-aware.
    :param slack: How much later than its record a call may have started: the create request's
        timeout (at least 0).
    :return: ``None`` when nothing was recorded.
    """
    if not isinstance(slack, timedelta) or slack < timedelta(0):
        raise ValueError(f"slack must be a timedelta >= 0, got {slack!r}")
    latest = max((_aware("recorded", at) for at in recorded), default=None)
    return None if latest is None else latest + slack
