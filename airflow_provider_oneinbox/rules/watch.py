"""
The rules of one wait for a call, without I/O: when to stop, how long to pause, and the event it ends with.

Shared by :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger` (async, in the
triggerer), the shared poller and the worker-side wait, so all of them end a wait the same way
and produce the same events (:mod:`~airflow_provider_oneinbox.rules.events`). The polls are
made with the hooks' retries off: this watch owns the wait's whole error budget and its backoff
(:func:`~airflow_provider_oneinbox.rules.backoff.backoff_delay`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from airflow_provider_oneinbox.rules.backoff import backoff_delay
from airflow_provider_oneinbox.rules.events import CallSucceeded, CallTimedOut, CallWaitEvent, CallWaitFailed
from airflow_provider_oneinbox.rules.results import post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

__all__ = ["MAX_ERROR_BACKOFF_SECONDS", "CallWatch", "ObservedError", "error_backoff"]

#: Longest pause after a transient error, whatever the backoff or ``Retry-After`` says.
MAX_ERROR_BACKOFF_SECONDS = 300.0
#: Longest status text put in an event or a log line (a hostile API may send anything).
MAX_STATUS_CHARS = 64


class ObservedError(Protocol):
    """
    What a wait needs of a failed poll's error (any ``OneInboxError``), without importing it.

    ``transient``: whether retrying may help (429, 5xx, transport). ``retry_after``, read when
    present: seconds a 429 asked to wait (``OneInboxRateLimitError`` has it; other errors may not).
    """

    @property
    def transient(self) -> bool: ...


def _retry_after(exc: ObservedError) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value else None


def error_backoff(poll_interval: float, errors: int, exc: ObservedError) -> float:
    """
    Seconds to wait after ``errors`` failed polls in a row: doubling from ``poll_interval``, at
    least a 429's ``Retry-After``, at most :data:`MAX_ERROR_BACKOFF_SECONDS` (or ``poll_interval``).

    :param poll_interval: Seconds between two polls.
    :param errors: Failures in a row, the last one included (>= 1).
    :param exc: The last failure.
    """
    return backoff_delay(
        errors,
        base=poll_interval,
        cap=max(MAX_ERROR_BACKOFF_SECONDS, poll_interval),
        retry_after=_retry_after(exc),
    )


def _text(value: Any) -> str | None:
    """A record's status or end reason as event-safe text: a string (capped), else ``None``."""
    return value[:MAX_STATUS_CHARS] if isinstance(value, str) else None


class CallWatch:
    """
    The rules of one wait for a call: fed each poll's outcome, it says when to stop.

    It keeps the call's last status and end reason (and, with ``keep_record``, the record of the
    ended call), and logs each status change once at INFO (call id, old → new status).

    :param call_id: Id of the call being awaited.
    :param poll_interval: Seconds between two polls.
    :param deadline: Absolute wall-clock time (epoch seconds) of the timeout; ``None`` for none.
    :param analysis_grace_period: Seconds to wait for post-call data once the call has ended.
    :param max_consecutive_errors: Transient failed polls in a row tolerated before giving up
        (each poll is one request: the hooks polling for a wait do not retry).
    :param log: Where to report status changes, undocumented statuses, tolerated errors and
        missing analyses.
    :param keep_record: Keep the last record of the ended call in :attr:`record` (the worker
        builds its result from it; the trigger needs only the status).
    """

    def __init__(
        self,
        call_id: str,
        *,
        poll_interval: float,
        deadline: float | None,
        analysis_grace_period: float,
        max_consecutive_errors: int,
        log: logging.Logger | Any,
        keep_record: bool = False,
    ) -> None:
        self.call_id = call_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.analysis_grace_period = analysis_grace_period
        self.max_consecutive_errors = max_consecutive_errors
        self.log = log
        self.keep_record = keep_record
        #: Whether a record has been read at all.
        self.seen = False
        #: The last status read (``None`` before the first read, or if it was not a string).
        self.status: str | None = None
        self.end_reason: str | None = None
        #: The last record of the ended call (``keep_record`` only).
        self.record: dict[str, Any] | None = None
        self.agent_id: str | None = None
        self.errors = 0
        #: ``time.monotonic()`` before which a poll would ignore the last failure's backoff.
        self.retry_at = 0.0
        self._delay = poll_interval
        self._ended_seen_at: float | None = None
        self._unknown_logged: set[str] = set()

    def observe(self, call: dict[str, Any]) -> CallWaitEvent | None:
        """
        Take a fetched call record; return the final event, or ``None`` to keep polling.

        :param call: The record returned by ``GET /v1/calls/{id}`` (or a list page).
        """
        status = call.get("status")
        if self.ended and not OneInboxCallStatus.is_terminal(status):
            return None  # an older record (e.g. listed before the last read): ended is final
        agent_id = call.get("agent_id")
        self.agent_id = agent_id if isinstance(agent_id, str) and agent_id else self.agent_id
        self.retry_at = 0.0
        self.errors, self._delay = 0, self.poll_interval
        ready, ended = post_call_data_ready(call), OneInboxCallStatus.is_terminal(status)
        self._note_status(_text(status), waiting_for_analysis=ended and not ready)
        if ended:
            self.end_reason = _text(call.get("end_reason"))
            self.record = call if self.keep_record else None
        if ready:
            return self.success_event(analysis_missing=False)
        if ended:
            if self._ended_seen_at is None:
                self._ended_seen_at = time.monotonic()
            elif time.monotonic() - self._ended_seen_at >= self.analysis_grace_period:
                self.log.warning(
                    "OneInbox call %s: no analysis %.0fs after it ended; finishing without it.",
                    self.call_id,
                    self.analysis_grace_period,
                )
                return self.success_event(analysis_missing=True)
            self._delay = min(self.poll_interval, self.analysis_grace_period)
        elif not OneInboxCallStatus.is_known(status) and str(status) not in self._unknown_logged:
            self._unknown_logged.add(str(status))
            self.log.warning(
                "OneInbox call %s reports undocumented status %s; treating it as still running.",
                self.call_id,
                repr(status)[:MAX_STATUS_CHARS],
            )
        return None

    def _note_status(self, status: str | None, *, waiting_for_analysis: bool) -> None:
        """Remember the status read; log it at INFO when it is new (never anything else of the record)."""
        first, old = not self.seen, self.status
        self.seen, self.status = True, status
        if not first and status == old:
            return
        shown = status if status is not None else "unknown"
        tail = "; waiting for its analysis." if waiting_for_analysis else "."
        if first:
            self.log.info("OneInbox call %s is %s%s", self.call_id, shown, tail)
        else:
            self.log.info("OneInbox call %s: %s → %s%s", self.call_id, old or "unknown", shown, tail)

    def observe_error(self, exc: ObservedError) -> CallWaitEvent | None:
        """
        Take a failed poll; return the final event, or ``None`` to try again after a backoff.

        A permanent failure gives an ``error`` event at once. A transient one once the deadline
        has passed ends the wait as the deadline does (a timeout, not an error); before it, more
        than ``max_consecutive_errors`` in a row give an ``error`` event.

        :param exc: The error the hook raised.
        """
        if not exc.transient:
            return self.error_event(exc, permanent=True)
        self.errors += 1
        if self.deadline is not None and time.time() >= self.deadline:
            return self.deadline_event()
        if self.errors > self.max_consecutive_errors:
            return self.error_event(exc, permanent=False)
        self._delay = error_backoff(self.poll_interval, self.errors, exc)
        self.retry_at = time.monotonic() + self._delay
        self.log.warning(
            "Polling OneInbox call %s failed (%d in a row, %d tolerated); next try in %.1fs: %s",
            self.call_id,
            self.errors,
            self.max_consecutive_errors,
            self._delay,
            exc,
        )
        return None

    def first_delay(self, seconds: float) -> float:
        """
        How long to pause before the first poll when the wait starts right after a failed check.

        :param seconds: What the failure asks for (``poll_interval``, or a 429's ``Retry-After``);
            capped by the deadline and by :data:`MAX_ERROR_BACKOFF_SECONDS`.
        """
        delay = min(max(seconds, 0.0), max(MAX_ERROR_BACKOFF_SECONDS, self.poll_interval))
        left = self.time_left()
        return delay if left is None else min(delay, max(left, 0.0))

    def time_left(self) -> float | None:
        """Seconds until the deadline (negative once it has passed); ``None`` without a deadline."""
        return None if self.deadline is None else self.deadline - time.time()

    @property
    def ended(self) -> bool:
        """Whether the call has been seen ``completed`` or ``failed``."""
        return OneInboxCallStatus.is_terminal(self.status)

    def next_delay(self, slack: float = 0.0) -> tuple[float, CallWaitEvent | None]:
        """
        Seconds to sleep before the next poll, never past the deadline; or the event if it has passed.

        :param slack: Seconds added to the pause (not past the deadline), e.g. for a shared
            poller's answer.
        """
        left = self.time_left()
        if left is None:
            return self._delay + slack, None
        if left > 0:
            return min(self._delay + slack, left), None
        return 0.0, self.deadline_event()

    def deadline_event(self) -> CallWaitEvent:
        """
        The event of a wait whose deadline has passed: ``success`` with ``analysis_missing`` if the
        call itself ended in time (only its analysis is late), else ``timeout``.
        """
        if self.ended:
            return self.success_event(analysis_missing=True)
        status = self.status if self.status is not None else "unknown"
        message = f"Timed out waiting for OneInbox call {self.call_id} (last status: {status})."
        return CallTimedOut(self.call_id, call_status=self.status, message=message)

    def success_event(self, *, analysis_missing: bool) -> CallSucceeded:
        """
        The ``success`` event of a finished call: its id, last status and end reason, and a flag.

        :param analysis_missing: Whether the wait gave up on the post-call analysis.
        """
        return CallSucceeded(
            self.call_id,
            call_status=self.status,
            end_reason=self.end_reason,
            analysis_missing=analysis_missing,
        )

    def error_event(self, exc: ObservedError | BaseException, *, permanent: bool) -> CallWaitFailed:
        """
        The ``error`` event of a wait that cannot go on.

        :param exc: What went wrong.
        :param permanent: Whether retrying cannot help (bad key, unknown call, unusable connection).
        """
        message = f"Waiting for OneInbox call {self.call_id} failed: {exc}"
        if not permanent and self.errors > self.max_consecutive_errors:
            message += (
                f" ({self.errors} failures in a row; max_consecutive_errors={self.max_consecutive_errors})"
            )
        return CallWaitFailed(
            self.call_id, message=message, error_type=type(exc).__name__, permanent=permanent
        )
