"""Sensor that waits for a OneInbox call to end and returns its transcript and analysis."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.links.oneinbox import OneInboxCallLink
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator, default_deferrable
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS, WaitPolicy
from airflow_provider_oneinbox.task_errors import (
    AirflowSensorTimeout,
    AirflowSkipException,
    airflow_error,
)
from airflow_provider_oneinbox.validation import require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.waiter import CallWaiter


class OneInboxCallSensor(OneInboxBaseOperator, BaseSensorOperator):
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

    * ``deferrable=True`` (the default, see below): the status is checked once, then the wait
      moves to the triggerer (:class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`),
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
    :param deferrable: Wait in the triggerer instead of the worker. Not given: the deployment's
        ``[operators] default_deferrable`` if it sets one (``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE``
        or ``airflow.cfg``), else ``True`` (see
        :func:`~airflow_provider_oneinbox.operators._base.default_deferrable`).
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
    :param max_consecutive_errors: Failed polls in a row with a transient error (429, 5xx,
        network) tolerated before the task fails (and may retry); each poll is one request, its
        pauses doubling from ``poke_interval`` (at least a 429's ``Retry-After``, at most 300 s).
        Permanent errors (401/403/404) fail at once.
    :param shared_polling: While deferred, learn the call's status from the triggerer's shared
        poller for the call's agent (one list request for many waits; see
        :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`). ``False``
        polls ``GET /v1/calls/{id}`` for this call alone.
    """

    template_fields: Sequence[str] = ("call_id",)
    operator_extra_links = (OneInboxCallLink(),)
    ui_color = "#dff4f0"

    def __init__(
        self,
        *,
        call_id: str,
        oneinbox_conn_id: str = "oneinbox_default",
        deferrable: bool | None = None,
        poke_interval: float | timedelta = 10,
        timeout: float | timedelta = 3600,
        analysis_grace_period: float = 60,
        fail_on_outcomes: Collection[str] = (),
        skip_on_outcomes: Collection[str] = (),
        hang_up_on_timeout: bool = True,
        hang_up_on_kill: bool = True,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        shared_polling: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poke_interval=poke_interval, timeout=timeout, oneinbox_conn_id=oneinbox_conn_id, **kwargs
        )
        self.call_id = call_id
        if deferrable is None:
            deferrable = default_deferrable()
        self.deferrable = bool(deferrable) and self.mode != "reschedule"
        # Held once: poke_interval and timeout are BaseSensorOperator's; wait_policy reads them.
        policy = WaitPolicy.of(
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
        self.analysis_grace_period = policy.analysis_grace_period
        self.fail_on_outcomes = policy.fail_on_outcomes
        self.skip_on_outcomes = policy.skip_on_outcomes
        self.hang_up_on_timeout = policy.hang_up_on_timeout
        self.hang_up_on_kill = policy.hang_up_on_kill
        self.max_consecutive_errors = policy.max_consecutive_errors
        self.shared_polling = policy.shared_polling
        self._waiter: CallWaiter | None = None
        #: Whether the last poke raised (so an exception leaving BaseSensorOperator.execute is
        #: that poke's, possibly turned into a skip by soft_fail, not the base's own timeout).
        self._poke_raised = False

    @property
    def wait_policy(self) -> WaitPolicy:
        """How this sensor waits: its ``poke_interval`` and ``timeout`` and the wait's own settings."""
        return WaitPolicy(
            poll_interval=self.poke_interval,
            timeout=self.timeout,
            analysis_grace_period=self.analysis_grace_period,
            max_consecutive_errors=self.max_consecutive_errors,
            fail_on_outcomes=self.fail_on_outcomes,
            skip_on_outcomes=self.skip_on_outcomes,
            hang_up_on_timeout=self.hang_up_on_timeout,
            hang_up_on_kill=self.hang_up_on_kill,
            shared_polling=self.shared_polling,
            poll_interval_name="poke_interval",
        )

    @property
    def waiter(self) -> CallWaiter:
        """This task run's waiter (made on first use, for this very task object)."""
        if self._waiter is None or self._waiter.task is not self:
            from airflow_provider_oneinbox.waiter import CallWaiter  # when a task runs, not at DAG parse

            self._waiter = CallWaiter(self, self.wait_policy, timeout_exception=AirflowSensorTimeout)
        return self._waiter

    def execute(self, context: Context) -> Any:
        """Push the call's id and link, then wait for it (deferring, or poking here)."""
        try:
            call_id = require_text("call_id", self.call_id)
        except OneInboxError as exc:
            raise airflow_error(exc, "Waiting for a OneInbox call") from None
        waiter = self.waiter
        waiter.push_call_ref(context, call_id)
        if self.deferrable:
            return waiter.wait(context, call_id, deferrable=True)
        waiter.awaited_call_id = call_id
        self._poke_raised = False
        try:
            return super().execute(context)
        except (AirflowSensorTimeout, AirflowSkipException) as exc:
            if self._poke_raised:
                raise  # the poke's own verdict (skip_on_outcomes, or a failure soft_fail skips)
            # BaseSensorOperator's timeout (a skip with soft_fail): hang up, then re-raise.
            raise type(exc)(f"{exc} {waiter.hang_up_after_timeout(call_id)}") from exc

    def poke(self, context: Context) -> PokeReturnValue:
        """Poll the call once; once it has ended, wait here for its analysis (see the class docstring)."""
        self._poke_raised = True
        done, result = self.waiter.poke(context, str(self.call_id).strip())
        self._poke_raised = False
        return PokeReturnValue(is_done=done, xcom_value=result)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Resume after the trigger fired: validate its event and finish the task.

        :param context: The task context.
        :param event: The trigger's event (see
            :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`).
        """
        return self.waiter.complete(context, event)

    def on_kill(self) -> None:
        """Hang up the call awaited when the task is killed (unless ``hang_up_on_kill=False``)."""
        if self._waiter is not None:
            self._waiter.on_kill()
