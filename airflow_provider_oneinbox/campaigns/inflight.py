"""
Airflow 3.1's "create in flight" rule: when a walk's silence about a key can be believed.

Without a task state store (Airflow 3.1) a campaign rebuilds what it placed from one bounded walk
of the agent's calls, matching each call's ``airflow_idempotency_key``. A key the walk does not
find is taken as never dialled, and dialled. But a create sent by an earlier process of the same
task instance just before that process died may still be on its way (or created and not yet
listed): the walk cannot tell it from a create never sent, and dialling the key again would ring
the phone twice. A create lasts at most its timeout, so the rule (``docs/campaigns.md``, "What
survives between resumes"): **a walk's absence is trusted only once one create timeout has passed
since the last moment an earlier process could have sent a create**; a rebuild earlier than that
waits first.

Only a *death* leaves a create in flight: a worker that deferred returned from every create first.
So the rule applies to a retry's first process (:func:`earlier_process_until`), not to a resume.
With a task state store (3.3+) every attempt is recorded before its POST and none of this applies.
Standard library only: the callers pass the clock, the timeout and (for tests) the sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_oneinbox._compat import UTC

__all__ = ["absence_trusted_from", "earlier_process_until", "wait_before_walk", "wait_for_inflight_creates"]

#: Longest wait the rule imposes, whatever the timeout says: a misconfigured timeout must not stall a
#: campaign for long (a create longer than this is not waited for; the walk's bound still holds).
MAX_WAIT = timedelta(minutes=5)


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _timeout(create_timeout: float | timedelta) -> timedelta:
    timeout = create_timeout if isinstance(create_timeout, timedelta) else timedelta(seconds=create_timeout)
    if timeout < timedelta(0):
        raise ValueError(f"create_timeout must be >= 0, got {create_timeout!r}")
    return min(timeout, MAX_WAIT)


def earlier_process_until(try_number: int | None, resumed: bool, started: datetime) -> datetime | None:
    """
    The last moment an earlier process of this task instance could have sent a create that may
    still be in flight, or ``None`` when none can be.

    A retry (``try_number > 1``) follows a try that may have died mid-create: it ended before this
    process ``started``. A first try has no earlier process; a resume follows a deferral, which
    happens only between creates.

    :param try_number: The task instance's try number (``None`` counts as 1).
    :param resumed: Whether this process resumes the try after a deferral.
    :param started: When this process started (or any later time: ``now`` is safe), aware.
    """
    _aware("started", started)
    if resumed or (try_number or 1) <= 1:
        return None
    return started


def absence_trusted_from(
    earlier_until: datetime | None, create_timeout: float | timedelta
) -> datetime | None:
    """
    From when a walk that does not find a key proves that no earlier process placed it.

    :param earlier_until: :func:`earlier_process_until`'s answer (``None``: no earlier process, any
        walk's absence is trusted).
    :param create_timeout: The create request's timeout (seconds or ``timedelta``), capped at
        :data:`MAX_WAIT`.
    :return: ``earlier_until`` plus the timeout, or ``None`` when absence is trusted at once.
    """
    if earlier_until is None:
        return None
    return _aware("earlier_until", earlier_until) + _timeout(create_timeout)


def wait_before_walk(
    earlier_until: datetime | None, create_timeout: float | timedelta, now: datetime
) -> timedelta:
    """
    How long to wait before a walk whose absences will be believed (``timedelta(0)`` when none).

    :param earlier_until: :func:`earlier_process_until`'s answer.
    :param create_timeout: The create request's timeout (seconds or ``timedelta``).
    :param now: The current time, aware.
    """
    trusted = absence_trusted_from(earlier_until, create_timeout)
    _aware("now", now)
    return max(trusted - now, timedelta(0)) if trusted is not None else timedelta(0)


def wait_for_inflight_creates(
    earlier_until: datetime | None,
    create_timeout: float | timedelta,
    *,
    log: Any = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Any] = time.sleep,
) -> float:
    """
    Wait (if needed) until a walk's absences can be believed; return the seconds waited.

    Call it right before the rebuild's walk when there is no task state store.

    :param earlier_until: :func:`earlier_process_until`'s answer.
    :param create_timeout: The create request's timeout (seconds or ``timedelta``).
    :param log: Where the wait is logged (INFO), if anywhere.
    :param now: The clock (tests).
    :param sleep: How to wait (tests).
    """
    pause = wait_before_walk(earlier_until, create_timeout, now()).total_seconds()
    if pause <= 0:
        return 0.0
    if log is not None:
        log.info(
            "No task state store: waiting %.1f s (the create timeout) before trusting that calls an earlier "
            "try did not list were never placed.",
            pause,
        )
    sleep(pause)
    return pause
