"""
How to wait for a call: intervals, deadline, grace, error budget, outcomes and hang-up policy.

One validated value, built from an operator's arguments when the DAG is parsed (a bad value
fails there, naming the parameter and the fix) and read by the worker-side wait, the trigger's
arguments and the task's verdict.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = ["DEFAULT_MAX_CONSECUTIVE_ERRORS", "WaitPolicy"]

#: Failed polls in a row a wait tolerates by default. Each poll is one request (the hooks polling
#: for a wait do not retry), and the pauses between them double from ``poll_interval`` up to
#: 300 s: at the default 10 s, an outage of up to about 30 minutes is ridden out (10 failed polls
#: over 10 + 20 + 40 + 80 + 160 + 4 x 300 s), always within the wait's deadline.
DEFAULT_MAX_CONSECUTIVE_ERRORS = 10


def _seconds(name: str, value: Any) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"{name} must be a number of seconds or a timedelta, got {value!r}")
    return float(seconds)


def _outcomes(name: str, values: Any) -> tuple[str, ...]:
    if (
        isinstance(values, str)
        or not isinstance(values, Collection)
        or not all(isinstance(value, str) for value in values)
    ):
        raise ValueError(f"{name} must be a collection of outcome strings, e.g. ['Not Interested'].")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """
    How to wait for a call. Built with :meth:`of`, which accepts ``timedelta`` and any collection
    and raises ``ValueError`` naming the parameter and the fix; the constructor checks the same.

    :param poll_interval: Seconds between two polls (> 0).
    :param timeout: Seconds to wait for the call (>= ``poll_interval``).
    :param analysis_grace_period: Seconds to keep waiting for post-call data once the call ended.
    :param max_consecutive_errors: Transient failed polls (one request each) in a row tolerated.
    :param fail_on_outcomes: Outcomes (case-insensitive) that fail the task.
    :param skip_on_outcomes: Outcomes (case-insensitive) that skip the task.
    :param hang_up_on_timeout: Hang up a call still running when ``timeout`` passes.
    :param hang_up_on_kill: Hang up a call awaited when the task is killed.
    :param shared_polling: While deferred, learn the status from the triggerer's shared poller.
    :param poll_interval_name: The operator's name for ``poll_interval`` in error messages
        (``poke_interval`` for the sensor).
    """

    poll_interval: float = 10.0
    timeout: float = 3600.0
    analysis_grace_period: float = 60.0
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS
    fail_on_outcomes: tuple[str, ...] = ()
    skip_on_outcomes: tuple[str, ...] = ()
    hang_up_on_timeout: bool = True
    hang_up_on_kill: bool = True
    shared_polling: bool = True
    poll_interval_name: str = "poll_interval"

    @classmethod
    def of(
        cls,
        *,
        poll_interval: float | timedelta = 10.0,
        timeout: float | timedelta = 3600.0,
        analysis_grace_period: float | timedelta = 60.0,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        fail_on_outcomes: Collection[str] = (),
        skip_on_outcomes: Collection[str] = (),
        hang_up_on_timeout: bool = True,
        hang_up_on_kill: bool = True,
        shared_polling: bool = True,
        poll_interval_name: str = "poll_interval",
    ) -> WaitPolicy:
        """
        The policy of an operator's arguments, converted (``timedelta`` to seconds, collections
        to tuples) and checked.

        :param poll_interval: See the class.
        :param timeout: See the class.
        :param analysis_grace_period: See the class.
        :param max_consecutive_errors: See the class.
        :param fail_on_outcomes: See the class.
        :param skip_on_outcomes: See the class.
        :param hang_up_on_timeout: See the class.
        :param hang_up_on_kill: See the class.
        :param shared_polling: See the class.
        :param poll_interval_name: See the class.
        """
        return cls(
            poll_interval=_seconds(poll_interval_name, poll_interval),
            timeout=_seconds("timeout", timeout),
            analysis_grace_period=_seconds("analysis_grace_period", analysis_grace_period),
            max_consecutive_errors=max_consecutive_errors,
            fail_on_outcomes=_outcomes("fail_on_outcomes", fail_on_outcomes),
            skip_on_outcomes=_outcomes("skip_on_outcomes", skip_on_outcomes),
            hang_up_on_timeout=bool(hang_up_on_timeout),
            hang_up_on_kill=bool(hang_up_on_kill),
            shared_polling=bool(shared_polling),
            poll_interval_name=poll_interval_name,
        )

    def __post_init__(self) -> None:
        name = self.poll_interval_name
        interval = _seconds(name, self.poll_interval)
        if interval <= 0:
            raise ValueError(f"{name} must be > 0 seconds, got {self.poll_interval!r}; e.g. 10.")
        timeout = _seconds("timeout", self.timeout)
        if timeout < interval:
            raise ValueError(
                f"timeout ({timeout:g}s) must be >= {name} ({interval:g}s); raise timeout or lower {name}."
            )
        grace = _seconds("analysis_grace_period", self.analysis_grace_period)
        if grace < 0:
            raise ValueError(
                f"analysis_grace_period must be >= 0 seconds, got {self.analysis_grace_period!r}."
            )
        errors = self.max_consecutive_errors
        if isinstance(errors, bool) or not isinstance(errors, int):
            raise ValueError(f"max_consecutive_errors must be an int >= 0, got {errors!r}.")
        if errors < 0:
            raise ValueError(f"max_consecutive_errors must be >= 0, got {errors}.")
        fail = _outcomes("fail_on_outcomes", self.fail_on_outcomes)
        skip = _outcomes("skip_on_outcomes", self.skip_on_outcomes)
        clash = {o.casefold() for o in fail} & {o.casefold() for o in skip}
        if clash:
            raise ValueError(f"outcomes {sorted(clash)} are in both fail_on_outcomes and skip_on_outcomes.")
        for field_name, value in (
            ("poll_interval", interval),
            ("timeout", timeout),
            ("analysis_grace_period", grace),
            ("fail_on_outcomes", fail),
            ("skip_on_outcomes", skip),
        ):
            object.__setattr__(self, field_name, value)

    def fails_on(self, outcome: Any) -> bool:
        """
        Whether the call's outcome is one of ``fail_on_outcomes`` (case-insensitive).

        :param outcome: The result's ``outcome`` (``None`` or any value the API sent).
        """
        return isinstance(outcome, str) and outcome.casefold() in {
            o.casefold() for o in self.fail_on_outcomes
        }

    def skips_on(self, outcome: Any) -> bool:
        """
        Whether the call's outcome is one of ``skip_on_outcomes`` (case-insensitive).

        :param outcome: The result's ``outcome`` (``None`` or any value the API sent).
        """
        return isinstance(outcome, str) and outcome.casefold() in {
            o.casefold() for o in self.skip_on_outcomes
        }

    def budget(self, execution_timeout: float | None, spent: float) -> float:
        """
        Seconds the wait may last from now: ``timeout``, or less if ``execution_timeout`` is sooner
        (Airflow does not enforce ``execution_timeout`` while a task is deferred, so the wait does).

        :param execution_timeout: The task's ``execution_timeout`` in seconds, ``None`` for none.
        :param spent: Seconds the task has run so far.
        """
        budget = self.timeout
        if execution_timeout is not None:
            budget = min(budget, execution_timeout - spent)
        return max(budget, 0.0)
