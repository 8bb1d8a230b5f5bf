"""Sensor that waits for a OneInbox call to end and returns its transcript and analysis."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.links.oneinbox import OneInboxCallLink
from airflow_provider_oneinbox.task_errors import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    airflow_error,
)
from airflow_provider_oneinbox.validation import require_text
from airflow_provider_oneinbox.waiting import OneInboxCallWaitMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.wait_rules import CallWatch


class OneInboxCallSensor(OneInboxCallWaitMixin, BaseSensorOperator):
    """
    Wait for a OneInbox call to end and its post-call analysis to arrive; return the call's result.

    Pushes XComs ``call_id`` and ``call_url`` (the "OneInbox Call" link) before waiting, then
    ``transcript`` and ``analysis``; returns the dict of
    :func:`~airflow_provider_oneinbox.results.build_call_result` (``call_id, status,
    duration_seconds, messages, transcript, analysis, outcome, summary, end_reason,
    recording_url, analysis_missing, to_number, from_number, agent_id, metadata``).

    A ``failed`` call fails the task (naming the call, its status and ``end_reason``). Outcomes
    such as "Not Connected" or "Voicemail" are successes unless listed in ``fail_on_outcomes``
    or ``skip_on_outcomes``. When ``timeout`` passes, the call is hung up (unless
    ``hang_up_on_timeout=False``) and the task fails without retrying (``AirflowSensorTimeout``;
    skipped instead with ``soft_fail=True``).

    Modes:

    * ``deferrable=True`` (default): the status is checked once, then the wait moves to the
      triggerer (:class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`),
      freeing the worker slot. The deadline (``timeout``, or sooner if ``execution_timeout``
      is) travels into the trigger, as Airflow does not enforce ``execution_timeout`` while
      deferred.
    * ``deferrable=False, mode="poke"``: one GET per ``poke_interval`` in the worker.
    * ``mode="reschedule"`` (implies ``deferrable=False``): one GET per reschedule. Nothing
      survives between reschedules, so once a poke sees the call ended it waits for the
      analysis right there, polling every ``poke_interval`` for at most
      ``analysis_grace_period`` seconds, instead of rescheduling; for the same reason
      ``max_consecutive_errors`` counts errors within one poke only (transient errors are
      retried at the next reschedule until ``timeout``).

    :param call_id: Id of the call to wait for (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='place_call', key='call_id') }}"``.
    :param oneinbox_conn_id: Airflow connection to the OneInbox API.
    :param deferrable: Wait in the triggerer instead of the worker.
    :param poke_interval: Seconds between two polls (> 0).
    :param timeout: Seconds to wait for the call before giving up (>= ``poke_interval``).
    :param analysis_grace_period: Seconds to keep waiting for post-call data (messages,
        analysis) after the call ended; then the result has ``analysis_missing=True``.
    :param fail_on_outcomes: Outcomes (case-insensitive) that fail the task without retries,
        e.g. ``["Not Interested"]``.
    :param skip_on_outcomes: Outcomes (case-insensitive) that skip the task, e.g. ``["Voicemail"]``.
    :param hang_up_on_timeout: Hang up a call still running when ``timeout`` passes.
    :param hang_up_on_kill: Hang up a call still running when the task is killed (marked
        failed/success or cleared by a user, or hits ``execution_timeout`` in the worker).
    :param max_consecutive_errors: Transient API failures (429, 5xx, network) in a row
        tolerated before the task fails (and may retry); permanent ones (401/403/404) fail at once.
    :param shared_polling: While deferred, learn the call's status from the triggerer's shared
        poller for the call's agent (one list request for many waits; see
        :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`). ``False``
        polls ``GET /v1/calls/{id}`` for this call alone.
    """

    template_fields: Sequence[str] = ("call_id",)
    operator_extra_links = (OneInboxCallLink(),)
    timeout_exception: ClassVar[type[AirflowException]] = AirflowSensorTimeout
    ui_color = "#dff4f0"

    def __init__(
        self,
        *,
        call_id: str,
        oneinbox_conn_id: str = "oneinbox_default",
        deferrable: bool = True,
        poke_interval: float | timedelta = 10,
        timeout: float | timedelta = 3600,
        analysis_grace_period: float = 60,
        fail_on_outcomes: Collection[str] = (),
        skip_on_outcomes: Collection[str] = (),
        hang_up_on_timeout: bool = True,
        hang_up_on_kill: bool = True,
        max_consecutive_errors: int = 5,
        shared_polling: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poke_interval=poke_interval, timeout=timeout, oneinbox_conn_id=oneinbox_conn_id, **kwargs
        )
        self.call_id = call_id
        self.deferrable = deferrable and self.mode != "reschedule"
        self._init_waiting(
            poll_interval=self.poke_interval,
            timeout=self.timeout,
            analysis_grace_period=analysis_grace_period,
            fail_on_outcomes=fail_on_outcomes,
            skip_on_outcomes=skip_on_outcomes,
            hang_up_on_timeout=hang_up_on_timeout,
            hang_up_on_kill=hang_up_on_kill,
            max_consecutive_errors=max_consecutive_errors,
            shared_polling=shared_polling,
            poll_interval_name="poke_interval",
        )
        self._poke_watch: CallWatch | None = None

    def execute(self, context: Context) -> Any:
        """Push the call's id and link, then wait for it (deferring, or poking here)."""
        try:
            call_id = require_text("call_id", self.call_id)
        except OneInboxError as exc:
            raise airflow_error(exc, "Waiting for a OneInbox call") from None
        hook = self.hook
        self._push_call_ref(context, hook, call_id)
        if self.deferrable:
            return self._wait_for_call(context, hook, call_id)
        self._awaited_call_id = call_id
        try:
            return super().execute(context)
        except (AirflowSensorTimeout, AirflowSkipException) as exc:
            # BaseSensorOperator's own timeout (a skip when soft_fail=True): hang up, then re-raise.
            if not isinstance(exc, AirflowSensorTimeout) and not str(exc).startswith("Sensor has timed out"):
                raise
            raise type(exc)(f"{exc} {self._hang_up_after_timeout(call_id)}") from exc

    def poke(self, context: Context) -> PokeReturnValue:
        """Poll the call once; once it has ended, wait here for its analysis (see the class docstring)."""
        call_id = str(self.call_id).strip()
        if self._poke_watch is None or self._poke_watch.call_id != call_id:
            self._poke_watch = self._watch(call_id, deadline=None)
        watch, hook = self._poke_watch, self.hook
        try:
            event = watch.observe(hook.get_call(call_id))
        except OneInboxError as exc:
            event = watch.observe_error(exc)
        if event is None and watch.ended:
            event = self._poll_here(hook, watch)
        if event is None:
            status = (watch.status or "unknown") if watch.seen else "unknown (last poll failed)"
            self.log.info("OneInbox call %s is %s.", call_id, status)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, event, watch.record))
