"""
``GET /v1/usage`` and the daily quota of ``POST /v1/calls``, on the simulated clock (days in UTC).

Assumptions (the reference documents the usage fields, not the refusal): a create past
``max_calls_per_day`` is answered with ``quota_refusal_status`` (429 with ``Retry-After`` until the
reset, in simulated seconds like every time the simulator reports, or 403) and
``{"detail": ..., "code": "DAILY_CALL_LIMIT_REACHED"}``. Only ``POST /v1/calls`` counts against the
quota; the monthly figures count every call (outbound, inbound, web). Unlimited: ``max_calls_per_day``
and ``calls_remaining_today`` are ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.errors import ApiError
from airflow_provider_oneinbox.simulator.lifecycle import Call
from airflow_provider_oneinbox.simulator.options import SimOptions
from airflow_provider_oneinbox.simulator.record import cost_cents

QUOTA_CODE = "DAILY_CALL_LIMIT_REACHED"


def today(clock: SimClock, now: float) -> date:
    """The simulated UTC date at ``now``."""
    return clock.to_datetime(now).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def next_reset(clock: SimClock, now: float) -> float:
    """Simulated time of the next 00:00 UTC."""
    return clock.to_sim(_midnight(today(clock, now) + timedelta(days=1)))


def quota_error(options: SimOptions, made_today: int, clock: SimClock, now: float) -> ApiError | None:
    """The refusal of one more create, or ``None`` while under the quota (or unlimited)."""
    limit = options.max_calls_per_day
    if limit is None or made_today < limit:
        return None
    reset = next_reset(clock, now)
    detail = f"Daily call limit of {limit} reached; it resets at {clock.iso(reset)}"
    status = options.quota_refusal_status
    headers = {"Retry-After": str(max(1, math.ceil(reset - now)))} if status == 429 else None
    return ApiError(status, detail, QUOTA_CODE, headers)


def usage_document(
    options: SimOptions, made_today: int, calls: Iterable[Call], clock: SimClock, now: float
) -> dict[str, Any]:
    """The ``GET /v1/usage`` body; ``calls`` are the account's calls, oldest first."""
    day = today(clock, now)
    month_start = clock.to_sim(_midnight(day.replace(day=1)))
    this_month = [c for c in calls if c.created >= month_start]
    processed = [c for c in this_month if now >= c.analysis_ready]
    limit = options.max_calls_per_day
    return {
        "calls_made_today": made_today,
        "max_calls_per_day": limit,
        "calls_remaining_today": None if limit is None else max(0, limit - made_today),
        "calls_this_month": len(this_month),
        "minutes_used_this_month": round(sum(c.duration for c in processed) / 60, 2),
        "cost_cents_this_month": sum(cost_cents(c.duration) for c in processed),
        "period_start": clock.iso(month_start),
        "day_start": clock.iso(clock.to_sim(_midnight(day))),
        "resets_at": clock.iso(next_reset(clock, now)),
    }
