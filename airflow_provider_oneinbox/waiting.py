"""
Waiting for a OneInbox call and turning it into a task result: the one implementation shared by
:class:`~airflow_provider_oneinbox.sensors.calls.OneInboxCallSensor` and
:class:`~airflow_provider_oneinbox.operators.calls.OneInboxPlaceCallOperator`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
)
from airflow_provider_oneinbox.links.oneinbox import CALL_ID_XCOM_KEY, CALL_URL_XCOM_KEY
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator
from airflow_provider_oneinbox.results import build_call_result, post_call_data_ready
from airflow_provider_oneinbox.status import OneInboxCallStatus
from airflow_provider_oneinbox.task_errors import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    airflow_error,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.wait_rules import CallWatch

__all__ = ["OneInboxCallWaitMixin"]

#: XCom keys pushed when a wait ends with the call's record.
TRANSCRIPT_XCOM_KEY = "transcript"
ANALYSIS_XCOM_KEY = "analysis"
EVENT_STATUSES = frozenset({"success", "timeout", "error"})


def _seconds(name: str, value: float | timedelta) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"{name} must be a number of seconds or a timedelta, got {value!r}")
    return float(seconds)


def _outcomes(name: str, values: Collection[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{name} must be a collection of outcome strings, e.g. ['Not Interested'].")
    return tuple(values)


class OneInboxCallWaitMixin(OneInboxBaseOperator):
    """
    Wait for a call to end (deferring by default) and return its result.

    Not a task of its own: subclasses call :meth:`_init_waiting` from ``__init__`` and
    :meth:`_wait_for_call` from ``execute``. A wait ends in one of these ways:

    * the call ended and its analysis arrived (or ``analysis_grace_period`` passed): XComs
      ``transcript`` and ``analysis`` are pushed and the result dict is returned (XCom
      ``return_value``, see :func:`~airflow_provider_oneinbox.results.build_call_result`).
      A ``failed`` call raises :class:`AirflowFailException` (a retry would only reattach to
      the same failed call), as does an outcome in ``fail_on_outcomes``; an outcome in
      ``skip_on_outcomes`` raises :class:`AirflowSkipException`. Any other outcome, "Not
      Connected" and "Voicemail" included, is a success;
    * the timeout passed: the call is hung up unless ``hang_up_on_timeout=False``, then
      :attr:`timeout_exception` is raised (not retried), saying whether the call was hung up;
    * the API kept failing: :class:`AirflowFailException` if retrying cannot help,
      :class:`AirflowException` (retried) otherwise.
    """

    #: Raised when the wait times out; never retried, as a retry would find the call hung up.
    timeout_exception: ClassVar[type[AirflowException]] = AirflowFailException
    #: Whether a ``failed`` call is returned as a result rather than failing the task.
    failures_as_results: bool = False

    deferrable: bool

    def _init_waiting(
        self,
        *,
        poll_interval: float | timedelta,
        timeout: float | timedelta,
        analysis_grace_period: float,
        fail_on_outcomes: Collection[str],
        skip_on_outcomes: Collection[str],
        hang_up_on_timeout: bool,
        hang_up_on_kill: bool,
        max_consecutive_errors: int,
        shared_polling: bool = True,
        poll_interval_name: str = "poll_interval",
    ) -> None:
        """Validate and store the wait settings; raise ``ValueError`` naming the parameter and the fix."""
        self.wait_poll_interval = _seconds(poll_interval_name, poll_interval)
        self.wait_timeout = _seconds("timeout", timeout)
        if self.wait_poll_interval <= 0:
            raise ValueError(f"{poll_interval_name} must be > 0 seconds, got {poll_interval!r}; e.g. 10.")
        if self.wait_timeout < self.wait_poll_interval:
            raise ValueError(
                f"timeout ({self.wait_timeout:g}s) must be >= {poll_interval_name} "
                f"({self.wait_poll_interval:g}s); raise timeout or lower {poll_interval_name}."
            )
        self.analysis_grace_period = _seconds("analysis_grace_period", analysis_grace_period)
        if self.analysis_grace_period < 0:
            raise ValueError(f"analysis_grace_period must be >= 0 seconds, got {analysis_grace_period!r}.")
        if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, int):
            raise ValueError(f"max_consecutive_errors must be an int >= 0, got {max_consecutive_errors!r}.")
        if max_consecutive_errors < 0:
            raise ValueError(f"max_consecutive_errors must be >= 0, got {max_consecutive_errors}.")
        self.fail_on_outcomes = _outcomes("fail_on_outcomes", fail_on_outcomes)
        self.skip_on_outcomes = _outcomes("skip_on_outcomes", skip_on_outcomes)
        clash = {o.casefold() for o in self.fail_on_outcomes} & {o.casefold() for o in self.skip_on_outcomes}
        if clash:
            raise ValueError(f"outcomes {sorted(clash)} are in both fail_on_outcomes and skip_on_outcomes.")
        self.hang_up_on_timeout = hang_up_on_timeout
        self.hang_up_on_kill = hang_up_on_kill
        self.max_consecutive_errors = max_consecutive_errors
        self.shared_polling = bool(shared_polling)
        self._awaited_call_id: str | None = None

    def _push_call_ref(self, context: Context, hook: OneInboxHook, call_id: str) -> None:
        """Push the ``call_id`` and ``call_url`` XComs, so the extra link works while waiting."""
        ti = context["ti"]
        ti.xcom_push(key=CALL_ID_XCOM_KEY, value=call_id)
        try:
            self.oneinbox_call_url = hook.call_url(call_id)
        except OneInboxError as exc:
            self.log.warning("No dashboard link for call %s: %s", call_id, exc)
        else:
            ti.xcom_push(key=CALL_URL_XCOM_KEY, value=self.oneinbox_call_url)

    def _deadline(self, context: Context) -> float:
        """
        Absolute time the wait must end: ``timeout`` from now, or sooner if ``execution_timeout`` is.

        Airflow does not enforce ``execution_timeout`` while a task is deferred, so it is folded in here.
        """
        budget = self.wait_timeout
        if self.execution_timeout is not None:
            started = getattr(context["ti"], "start_date", None) or datetime.now(UTC)
            spent = (datetime.now(UTC) - started).total_seconds()
            budget = min(budget, self.execution_timeout.total_seconds() - spent)
        return time.time() + max(budget, 0.0)

    def _watch(self, call_id: str, deadline: float | None) -> CallWatch:
        """The rules of a wait in the worker: it keeps the ended call's record to build the result from."""
        from airflow_provider_oneinbox.wait_rules import CallWatch  # not needed to parse a DAG

        return CallWatch(
            call_id,
            poll_interval=self.wait_poll_interval,
            deadline=deadline,
            analysis_grace_period=self.analysis_grace_period,
            max_consecutive_errors=self.max_consecutive_errors,
            log=self.log,
            keep_record=True,
        )

    def _wait_for_call(
        self, context: Context, hook: OneInboxHook, call_id: str, call: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """
        Wait for ``call_id`` to end and return its result: defer, or poll here if not deferrable.

        :param call: The call's record, if the caller has just read it; otherwise it is read here
            once first. Either way a call that has already ended finishes at once.
        """
        deadline = self._deadline(context)
        self._awaited_call_id = call_id
        first_delay = 0.0
        if call is None:
            try:
                call = hook.get_call(call_id)
            except OneInboxError as exc:
                if not exc.transient:
                    raise airflow_error(exc, f"Reading OneInbox call {call_id}") from None
                self.log.warning("Could not read call %s yet (%s); waiting anyway.", call_id, exc)
                from airflow_provider_oneinbox.wait_rules import error_backoff

                # The wait's first failed poll: back off before the next (honouring a 429's Retry-After).
                first_delay = error_backoff(self.wait_poll_interval, 1, exc)
        if call is not None and post_call_data_ready(call):
            return self._finish_success(context, call, analysis_missing=False)
        if not self.deferrable:
            watch = self._watch(call_id, deadline)
            event = self._poll_here(hook, watch, first_delay=first_delay)
            return self._finish(context, event, watch.record)

        from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger

        self.log.info("Deferring until call %s ends (at most %.0fs).", call_id, deadline - time.time())
        self.defer(
            trigger=OneInboxCallTrigger(
                call_id=call_id,
                oneinbox_conn_id=self.oneinbox_conn_id,
                poll_interval=self.wait_poll_interval,
                deadline=deadline,
                analysis_grace_period=self.analysis_grace_period,
                max_consecutive_errors=self.max_consecutive_errors,
                hang_up_on_kill=self.hang_up_on_kill,
                first_poll_delay=first_delay,
                agent_id=call.get("agent_id") if call else None,
                shared_polling=self.shared_polling,
            ),
            method_name="execute_complete",
            # A backstop only: the trigger fires its own timeout event (which hangs up) at the deadline.
            timeout=timedelta(
                seconds=max(deadline - time.time(), 0) + max(60.0, 3 * self.wait_poll_interval)
            ),
        )

    @staticmethod
    def _poll_here(hook: OneInboxHook, watch: CallWatch, first_delay: float = 0.0) -> dict[str, Any]:
        """
        Poll in the worker (``time.sleep`` between GETs) until ``watch`` ends the wait.

        :param hook: The hook polling.
        :param watch: The rules of the wait.
        :param first_delay: Seconds to pause before the first poll (after a failed check).
        """
        if first_delay > 0:
            time.sleep(watch.first_delay(first_delay))
        while True:
            # One poll, its retries included, never runs past the wait's deadline.
            left = None if watch.deadline is None else max(watch.deadline - time.time(), 0.05)
            try:
                event = watch.observe(hook.get_call(watch.call_id, timeout=left))
            except OneInboxError as exc:
                event = watch.observe_error(exc)
            if event is None:
                delay, event = watch.next_delay()
            if event is not None:
                return event
            time.sleep(delay)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Resume after the trigger fired: validate its event and finish the task.

        :param context: The task context.
        :param event: The trigger's event (see
            :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`).
        """
        if event is None:
            raise AirflowException("The OneInbox call trigger resumed the task without an event.")
        if not isinstance(event, dict):
            raise AirflowException(
                f"Malformed OneInbox trigger event: expected a dict, got {type(event).__name__}."
            )
        status = event.get("status")
        if status not in EVENT_STATUSES:
            raise AirflowException(
                f"Malformed OneInbox trigger event: 'status' is {status!r}, "
                f"expected one of {sorted(EVENT_STATUSES)}."
            )
        # Events of earlier versions carried the call's record (judged ready by an older rule);
        # one may fire across an upgrade. It is validated, then read afresh like any other.
        record = event.get("call")
        if status == "success" and not isinstance(record, dict) and "call_status" not in event:
            raise AirflowException(
                "Malformed OneInbox trigger event: a 'success' event without a 'call' record "
                "or a 'call_status'."
            )
        call_id = event.get("call_id")
        if not call_id:
            raise AirflowException("Malformed OneInbox trigger event: no 'call_id'.")
        if not isinstance(call_id, str):
            raise AirflowException(f"Malformed OneInbox trigger event: 'call_id' is {call_id!r}.")
        if not isinstance(event.get("analysis_missing", False), bool):
            raise AirflowException("Malformed OneInbox trigger event: 'analysis_missing' is not a bool.")
        return self._finish(context, event)

    def _finish(
        self, context: Context, event: dict[str, Any], record: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """
        Turn a wait's final event into the task's result or exception.

        :param event: The event the wait ended with (ids, statuses and flags only).
        :param record: The ended call's record, if the wait has it (a wait in the worker); else a
            ``success`` reads it once with ``GET /v1/calls/{id}``.
        """
        call_id = str(event["call_id"])
        if event["status"] == "success":
            analysis_missing = bool(event.get("analysis_missing"))
            if record is None:
                record = self._read_ended_call(call_id)
                # What the record read now holds decides: the analysis may have arrived since the
                # wait gave up on it, and an event of an earlier version may have judged too early.
                analysis_missing = not post_call_data_ready(record)
            return self._finish_success(context, record, analysis_missing=analysis_missing)
        if event["status"] == "timeout":
            raise self.timeout_exception(
                f"{event.get('message') or 'Timed out.'} {self._hang_up_after_timeout(call_id)}"
            )
        message = event.get("message") or f"Waiting for OneInbox call {call_id} failed."
        if event.get("permanent"):
            raise AirflowFailException(f"{message} (not retried: retrying cannot help)")
        raise AirflowException(message)

    def _read_ended_call(self, call_id: str) -> dict[str, Any]:
        """
        The record of a call the trigger saw end (its event carries no record): one GET.

        A failure fails the try; a transient one is retried, and the retry reattaches to the same
        call, which has ended, and finishes without waiting again.
        """
        try:
            return self.hook.get_call(call_id)
        except OneInboxError as exc:
            raise airflow_error(exc, f"Reading OneInbox call {call_id}, which has ended") from None

    def _finish_success(
        self, context: Context, call: dict[str, Any], *, analysis_missing: bool
    ) -> dict[str, Any]:
        self._awaited_call_id = None
        result = build_call_result(call, analysis_missing=analysis_missing)
        ti = context["ti"]
        ti.xcom_push(key=TRANSCRIPT_XCOM_KEY, value=result["transcript"])
        ti.xcom_push(key=ANALYSIS_XCOM_KEY, value=result["analysis"])
        call_id, outcome = result["call_id"], result["outcome"]
        if result.get("end_reason") == "api_stop":
            # Not this try: its own hang-ups (timeout, kill) end the task before it gets here.
            self.log.warning(
                "OneInbox call %s was hung up through the API (end_reason api_stop) by someone other "
                "than this task; its transcript and analysis are those of a cut conversation.",
                call_id,
            )
        if result["status"] == OneInboxCallStatus.FAILED.value:
            if self.failures_as_results:
                self.log.warning(
                    "OneInbox call %s failed (end_reason %r); returned as a result (failures_as_results).",
                    call_id,
                    result["end_reason"],
                )
                return result
            # Not retried: a retry would reattach to this same failed call, never redial it.
            raise AirflowFailException(
                f"OneInbox call {call_id} failed: status {result['status']!r}, "
                f"end_reason {result['end_reason']!r}."
            )
        folded = outcome.casefold() if isinstance(outcome, str) else None
        if folded is not None and folded in {o.casefold() for o in self.fail_on_outcomes}:
            raise AirflowFailException(
                f"OneInbox call {call_id} ended with outcome {outcome!r} (in fail_on_outcomes)."
            )
        if folded is not None and folded in {o.casefold() for o in self.skip_on_outcomes}:
            raise AirflowSkipException(
                f"OneInbox call {call_id} ended with outcome {outcome!r} (in skip_on_outcomes)."
            )
        self.log.info("OneInbox call %s %s, outcome %r.", call_id, result["status"], outcome)
        return result

    def _hang_up_after_timeout(self, call_id: str) -> str:
        """Hang up a call the wait gave up on, unless told not to; say what happened."""
        self._awaited_call_id = None
        if not self.hang_up_on_timeout:
            return "The call was left running (hang_up_on_timeout=False)."
        try:
            record = self.hook.stop_call(call_id)
        except OneInboxError as exc:
            self.log.warning("Could not hang up call %s: %s", call_id, exc)
            return f"Hanging up the call failed: {exc}"
        self.log.info("Hung up call %s after the timeout (status now %s).", call_id, record.get("status"))
        return "The call was hung up."

    def on_kill(self) -> None:
        """Hang up the call awaited when the task is killed (unless ``hang_up_on_kill=False``)."""
        call_id = getattr(self, "_awaited_call_id", None)
        if not call_id:
            return
        if not self.hang_up_on_kill:
            self.log.info("Task killed; leaving call %s running (hang_up_on_kill=False).", call_id)
            return
        try:
            # A fresh hook: on_kill may run from a signal handler while self.hook is mid-request.
            from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

            with OneInboxHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook:
                hook.stop_call(call_id)
            self.log.info("Task killed; hung up OneInbox call %s.", call_id)
        except Exception as exc:
            self.log.warning("Task killed; could not hang up OneInbox call %s: %s", call_id, exc)
