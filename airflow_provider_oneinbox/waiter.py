"""
Waiting for a OneInbox call and turning it into a task result, by composition: a task holds a
:class:`CallWaiter` and hands it the wait. Public path: :mod:`airflow_provider_oneinbox.waiting`.

Used by :class:`~airflow_provider_oneinbox.sensors.calls.OneInboxCallSensor` and
:class:`~airflow_provider_oneinbox.operators.calls.OneInboxPlaceCallOperator` (and any operator
that waits for calls): the task gives its ``log``, ``defer``, ``execution_timeout``, connection,
hook and :class:`~airflow_provider_oneinbox.rules.policy.WaitPolicy`; the waiter polls (with a
hook whose retries are off: :class:`~airflow_provider_oneinbox.rules.watch.CallWatch` owns the
wait's error budget and backoff) or defers to
:class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`, and gives the result.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.links.oneinbox import CALL_ID_XCOM_KEY, CALL_URL_XCOM_KEY
from airflow_provider_oneinbox.rules.results import build_call_result, post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus
from airflow_provider_oneinbox.task_errors import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    airflow_error,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.rules.events import CallWaitEvent
    from airflow_provider_oneinbox.rules.policy import WaitPolicy
    from airflow_provider_oneinbox.rules.watch import CallWatch

__all__ = [
    "ANALYSIS_XCOM_KEY",
    "TRANSCRIPT_XCOM_KEY",
    "CallWaiter",
    "WaitingTask",
    "poll_until_done",
]

#: XCom keys pushed when a wait ends with the call's record.
TRANSCRIPT_XCOM_KEY = "transcript"
ANALYSIS_XCOM_KEY = "analysis"
#: Bound on a worker-side hang-up, retries included: a kill must not outlast Airflow's grace period.
HANG_UP_TIMEOUT_SECONDS = 30.0


class WaitingTask(Protocol):
    """What a :class:`CallWaiter` needs of the task it waits for (a OneInbox operator has it all)."""

    task_id: str
    oneinbox_conn_id: str
    oneinbox_call_url: str | None
    execution_timeout: timedelta | None

    @property
    def log(self) -> Any: ...

    @property
    def hook(self) -> OneInboxHook: ...

    def defer(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | int | float | None = None,
    ) -> NoReturn: ...


def poll_until_done(hook: OneInboxHook, watch: CallWatch, first_delay: float = 0.0) -> CallWaitEvent:
    """
    Poll in the worker (``time.sleep`` between GETs) until ``watch`` ends the wait.

    :param hook: The hook polling; give it ``max_retries=0``, the watch owns the retries.
    :param watch: The rules of the wait.
    :param first_delay: Seconds to pause before the first poll (after a failed check).
    """
    if first_delay > 0:
        time.sleep(watch.first_delay(first_delay))
    while True:
        # One poll never runs past the wait's deadline.
        left = watch.time_left()
        event: CallWaitEvent | None
        try:
            event = watch.observe(
                hook.get_call(watch.call_id, timeout=None if left is None else max(left, 0.05))
            )
        except OneInboxError as exc:
            event = watch.observe_error(exc)
        if event is None:
            delay, event = watch.next_delay()
        if event is not None:
            return event
        time.sleep(delay)


class CallWaiter:
    """
    Waits for calls on behalf of one task run, in the worker or by deferring; gives the result.

    A wait ends in one of these ways:

    * the call ended and its analysis arrived (or ``analysis_grace_period`` passed): XComs
      ``transcript`` and ``analysis`` are pushed and the result dict is returned (see
      :func:`~airflow_provider_oneinbox.rules.results.build_call_result`). A ``failed`` call
      raises :class:`AirflowFailException` (a retry would only reattach to the same failed call)
      unless ``failures_as_results``, as does an outcome in ``fail_on_outcomes``; an outcome in
      ``skip_on_outcomes`` raises :class:`AirflowSkipException`. Any other outcome, "Not
      Connected" and "Voicemail" included, is a success;
    * the deadline passed: the call is hung up unless ``hang_up_on_timeout=False``, then
      ``timeout_exception`` is raised (never retried), saying whether the call was hung up;
    * the API kept failing: :class:`AirflowFailException` if retrying cannot help,
      :class:`AirflowException` (retried) otherwise.

    :param task: The task waiting (its log, ``defer``, ``execution_timeout``, connection, hook).
    :param policy: How to wait.
    :param timeout_exception: Raised when the wait times out (e.g. ``AirflowSensorTimeout``).
    :param failures_as_results: Return a ``failed`` call's result instead of failing the task.
    """

    def __init__(
        self,
        task: WaitingTask,
        policy: WaitPolicy,
        *,
        timeout_exception: type[AirflowException] = AirflowFailException,
        failures_as_results: bool = False,
    ) -> None:
        self.task = task
        self.policy = policy
        self.timeout_exception = timeout_exception
        self.failures_as_results = failures_as_results
        #: The call being waited for (the one ``on_kill`` hangs up), ``None`` when none is.
        self.awaited_call_id: str | None = None
        self._poll_hook: OneInboxHook | None = None
        self._poke_watch: CallWatch | None = None

    @property
    def log(self) -> Any:
        """The task's logger."""
        return self.task.log

    @property
    def poll_hook(self) -> OneInboxHook:
        """The hook polling in the worker: its retries are off, the wait's watch owns them."""
        if self._poll_hook is None:
            from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

            self._poll_hook = OneInboxHook(oneinbox_conn_id=self.task.oneinbox_conn_id, max_retries=0)
        return self._poll_hook

    def push_call_ref(self, context: Context, call_id: str) -> None:
        """
        Push the ``call_id`` and ``call_url`` XComs, so the extra link works while waiting.

        :param context: The task context.
        :param call_id: The call.
        """
        ti = context["ti"]
        ti.xcom_push(key=CALL_ID_XCOM_KEY, value=call_id)
        try:
            self.task.oneinbox_call_url = self.task.hook.call_url(call_id)
        except OneInboxError as exc:
            self.log.warning("No dashboard link for call %s: %s", call_id, exc)
        else:
            ti.xcom_push(key=CALL_URL_XCOM_KEY, value=self.task.oneinbox_call_url)

    def deadline(self, context: Context) -> float:
        """
        Absolute time the wait must end: ``timeout`` from now, or sooner if ``execution_timeout`` is.

        :param context: The task context (its task instance's start).
        """
        execution_timeout = self.task.execution_timeout
        started = getattr(context["ti"], "start_date", None) or datetime.now(UTC)
        spent = (datetime.now(UTC) - started).total_seconds()
        limit = None if execution_timeout is None else execution_timeout.total_seconds()
        return time.time() + self.policy.budget(limit, spent)

    def watch(self, call_id: str, deadline: float | None) -> CallWatch:
        """
        The rules of a wait in the worker: it keeps the ended call's record to build the result from.

        :param call_id: The call.
        :param deadline: Absolute end of the wait (epoch seconds), ``None`` for none.
        """
        from airflow_provider_oneinbox.rules.watch import CallWatch

        return CallWatch(
            call_id,
            poll_interval=self.policy.poll_interval,
            deadline=deadline,
            analysis_grace_period=self.policy.analysis_grace_period,
            max_consecutive_errors=self.policy.max_consecutive_errors,
            log=self.log,
            keep_record=True,
        )

    def wait(
        self, context: Context, call_id: str, call: dict[str, Any] | None = None, *, deferrable: bool = True
    ) -> dict[str, Any]:
        """
        Wait for ``call_id`` to end and return its result: defer, or poll here.

        :param context: The task context.
        :param call_id: The call.
        :param call: The call's record, if the caller has just read it; otherwise it is read here
            once first. Either way a call that has already ended finishes at once.
        :param deferrable: Wait in the triggerer (the task is deferred) rather than here.
        """
        deadline = self.deadline(context)
        self.awaited_call_id = call_id
        first_delay = 0.0
        if call is None:
            try:
                call = self.poll_hook.get_call(call_id)
            except OneInboxError as exc:
                if not exc.transient:
                    raise airflow_error(exc, f"Reading OneInbox call {call_id}") from None
                self.log.warning("Could not read call %s yet (%s); waiting anyway.", call_id, exc)
                from airflow_provider_oneinbox.rules.watch import error_backoff

                # The wait's first failed poll: back off before the next (honouring a 429's Retry-After).
                first_delay = error_backoff(self.policy.poll_interval, 1, exc)
        if call is not None and post_call_data_ready(call):
            return self.finish_success(context, call, analysis_missing=False)
        if not deferrable:
            watch = self.watch(call_id, deadline)
            event = poll_until_done(self.poll_hook, watch, first_delay=first_delay)
            return self.finish(context, event, watch.record)
        self._defer(call_id, deadline, first_delay, call.get("agent_id") if call else None)

    def _defer(self, call_id: str, deadline: float, first_delay: float, agent_id: Any) -> NoReturn:
        from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger

        policy = self.policy
        self.log.info("Deferring until call %s ends (at most %.0fs).", call_id, deadline - time.time())
        self.task.defer(
            trigger=OneInboxCallTrigger(
                call_id=call_id,
                oneinbox_conn_id=self.task.oneinbox_conn_id,
                poll_interval=policy.poll_interval,
                deadline=deadline,
                analysis_grace_period=policy.analysis_grace_period,
                max_consecutive_errors=policy.max_consecutive_errors,
                hang_up_on_kill=policy.hang_up_on_kill,
                first_poll_delay=first_delay,
                agent_id=agent_id if isinstance(agent_id, str) else None,
                shared_polling=policy.shared_polling,
            ),
            method_name="execute_complete",
            # A backstop only: the trigger fires its own timeout event (which hangs up) at the deadline.
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + max(60.0, 3 * policy.poll_interval)),
        )

    def poke(self, context: Context, call_id: str) -> tuple[bool, dict[str, Any] | None]:
        """
        Poll the call once (a sensor's poke); once it has ended, wait here for its analysis.

        Nothing but this waiter survives between pokes of one run (and nothing between
        reschedules), so the error budget counts failures within the run's pokes. After a failed
        poll, pokes skip their request until the wait's backoff has passed.

        :param context: The task context.
        :param call_id: The call.
        :return: ``(done, result)``.
        """
        self.awaited_call_id = call_id
        if self._poke_watch is None or self._poke_watch.call_id != call_id:
            self._poke_watch = self.watch(call_id, deadline=None)
        watch, hook = self._poke_watch, self.poll_hook
        if time.monotonic() < watch.retry_at:
            # Backing off after failed polls (or a 429's Retry-After): this poke does not ask.
            self.log.info(
                "OneInbox call %s: backing off, next poll in %.1fs.",
                call_id,
                watch.retry_at - time.monotonic(),
            )
            return False, None
        event: CallWaitEvent | None
        try:
            event = watch.observe(hook.get_call(call_id))
        except OneInboxError as exc:
            event = watch.observe_error(exc)
        if event is None and watch.ended:
            event = poll_until_done(hook, watch)
        if event is None:
            status = (watch.status or "unknown") if watch.seen else "unknown (last poll failed)"
            self.log.info("OneInbox call %s is %s.", call_id, status)
            return False, None
        return True, self.finish(context, event, watch.record)

    def complete(self, context: Context, payload: Any) -> dict[str, Any]:
        """
        Resume after the trigger fired: read its event (any version's shape) and finish.

        :param context: The task context.
        :param payload: The trigger's event payload.
        """
        from airflow_provider_oneinbox.kill_marker import mark_failed_by_itself
        from airflow_provider_oneinbox.rules.events import MalformedEventError, event_from_payload

        try:
            try:
                event = event_from_payload(payload)
            except MalformedEventError as exc:
                raise AirflowException(str(exc)) from None
            return self.finish(context, event)
        except Exception:
            # A stalled triggerer's copy of the trigger, cancelled later, must not read this
            # failure as a user's "mark failed" and hang up (see kill_marker).
            mark_failed_by_itself(context)
            raise

    def finish(
        self, context: Context, event: CallWaitEvent, record: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """
        Turn a wait's final event into the task's result or exception.

        :param context: The task context.
        :param event: The event the wait ended with.
        :param record: The ended call's record, if the wait has it (a wait in the worker); else a
            success reads it once with ``GET /v1/calls/{id}``.
        """
        # Not needed to parse a DAG file: the events' module loads when a wait ends.
        from airflow_provider_oneinbox.rules.events import CallSucceeded, CallTimedOut, CallWaitFailed

        call_id = event.call_id
        if isinstance(event, CallSucceeded):
            analysis_missing = event.analysis_missing
            if record is None:
                record = self._read_ended_call(call_id)
                # What the record read now holds decides: the analysis may have arrived since the
                # wait gave up on it, and an event of an earlier version may have judged too early.
                analysis_missing = not post_call_data_ready(record)
            return self.finish_success(context, record, analysis_missing=analysis_missing)
        if isinstance(event, CallTimedOut):
            raise self.timeout_exception(
                f"{event.message or 'Timed out.'} {self.hang_up_after_timeout(call_id)}"
            )
        failed = event if isinstance(event, CallWaitFailed) else CallWaitFailed(call_id)
        message = failed.message or f"Waiting for OneInbox call {call_id} failed."
        if failed.permanent:
            raise AirflowFailException(f"{message} (not retried: retrying cannot help)")
        raise AirflowException(message)

    def _read_ended_call(self, call_id: str) -> dict[str, Any]:
        """
        The record of a call the trigger saw end (its event carries no record): one read.

        A failure fails the try; a transient one is retried (the task's hook retries, and so does
        the task), and the retry reattaches to the same call, which has ended.
        """
        try:
            return self.task.hook.get_call(call_id)
        except OneInboxError as exc:
            raise airflow_error(exc, f"Reading OneInbox call {call_id}, which has ended") from None

    def finish_success(
        self, context: Context, call: dict[str, Any], *, analysis_missing: bool
    ) -> dict[str, Any]:
        """
        The result of an ended call, or the exception its status or outcome calls for.

        :param context: The task context.
        :param call: The ended call's record.
        :param analysis_missing: Whether the wait gave up waiting for post-call data.
        """
        self.awaited_call_id = None
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
        if self.policy.fails_on(outcome):
            raise AirflowFailException(
                f"OneInbox call {call_id} ended with outcome {outcome!r} (in fail_on_outcomes)."
            )
        if self.policy.skips_on(outcome):
            raise AirflowSkipException(
                f"OneInbox call {call_id} ended with outcome {outcome!r} (in skip_on_outcomes)."
            )
        self.log.info("OneInbox call %s %s, outcome %r.", call_id, result["status"], outcome)
        return result

    def hang_up_after_timeout(self, call_id: str) -> str:
        """
        Hang up a call the wait gave up on, unless told not to; say what happened.

        :param call_id: The call.
        """
        self.awaited_call_id = None
        if not self.policy.hang_up_on_timeout:
            return "The call was left running (hang_up_on_timeout=False)."
        try:
            record = self.task.hook.stop_call(call_id, timeout=HANG_UP_TIMEOUT_SECONDS)
        except OneInboxError as exc:
            self.log.warning("Could not hang up call %s: %s", call_id, exc)
            return f"Hanging up the call failed: {exc}"
        self.log.info("Hung up call %s after the timeout (status now %s).", call_id, record.get("status"))
        return "The call was hung up."

    def on_kill(self) -> None:
        """Hang up the call awaited when the task is killed (unless ``hang_up_on_kill=False``)."""
        call_id = self.awaited_call_id
        if not call_id:
            return
        if not self.policy.hang_up_on_kill:
            self.log.info("Task killed; leaving call %s running (hang_up_on_kill=False).", call_id)
            return
        try:
            # A fresh hook: on_kill may run from a signal handler while another hook is mid-request.
            from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

            with OneInboxHook(oneinbox_conn_id=self.task.oneinbox_conn_id) as hook:
                hook.stop_call(call_id, timeout=HANG_UP_TIMEOUT_SECONDS)
            self.log.info("Task killed; hung up OneInbox call %s.", call_id)
        except Exception as exc:
            self.log.warning("Task killed; could not hang up OneInbox call %s: %s", call_id, exc)
