"""
Waiting for a OneInbox call and turning it into a task result: a task holds a :class:`CallWaiter`
(see :mod:`airflow_provider_oneinbox.waiter`) and hands it the wait. Used by
:class:`~airflow_provider_oneinbox.sensors.calls.OneInboxCallSensor` and
:class:`~airflow_provider_oneinbox.operators.calls.OneInboxPlaceCallOperator`.

:class:`OneInboxCallWaitMixin`, the operator base that waited by inheritance before, stays here as
a deprecated shim over :class:`CallWaiter`.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS, WaitPolicy
from airflow_provider_oneinbox.task_errors import AirflowException, AirflowFailException
from airflow_provider_oneinbox.waiter import (
    ANALYSIS_XCOM_KEY,
    TRANSCRIPT_XCOM_KEY,
    CallWaiter,
    WaitingTask,
    poll_until_done,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

__all__ = [
    "ANALYSIS_XCOM_KEY",
    "TRANSCRIPT_XCOM_KEY",
    "CallWaiter",
    "OneInboxCallWaitMixin",
    "WaitPolicy",
    "WaitingTask",
    "poll_until_done",
]


class OneInboxCallWaitMixin(OneInboxBaseOperator):
    """
    Deprecated: the operator base that waited by inheritance, kept as a thin shim over
    :class:`CallWaiter` for code that subclassed it (call :meth:`_init_waiting` from
    ``__init__``, :meth:`_wait_for_call` from ``execute``). New code holds a :class:`CallWaiter`.
    """

    timeout_exception: ClassVar[type[AirflowException]] = AirflowFailException
    failures_as_results: bool = False
    deferrable: bool = True
    wait_policy: WaitPolicy

    def _init_waiting(
        self,
        *,
        poll_interval: float | timedelta,
        timeout: float | timedelta,
        analysis_grace_period: float = 60,
        fail_on_outcomes: Collection[str] = (),
        skip_on_outcomes: Collection[str] = (),
        hang_up_on_timeout: bool = True,
        hang_up_on_kill: bool = True,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        shared_polling: bool = True,
        poll_interval_name: str = "poll_interval",
    ) -> None:
        """Validate and keep the wait settings (a :class:`WaitPolicy`); warn that the shim is deprecated."""
        warnings.warn(
            "OneInboxCallWaitMixin is deprecated: hold an airflow_provider_oneinbox.waiting.CallWaiter "
            "instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.wait_policy = WaitPolicy.of(
            poll_interval=poll_interval,
            timeout=timeout,
            analysis_grace_period=analysis_grace_period,
            fail_on_outcomes=fail_on_outcomes,
            skip_on_outcomes=skip_on_outcomes,
            hang_up_on_timeout=hang_up_on_timeout,
            hang_up_on_kill=hang_up_on_kill,
            max_consecutive_errors=max_consecutive_errors,
            shared_polling=shared_polling,
            poll_interval_name=poll_interval_name,
        )
        self._waiter: CallWaiter | None = None

    @property
    def waiter(self) -> CallWaiter:
        """This task run's waiter."""
        if getattr(self, "_waiter", None) is None or self._waiter.task is not self:  # type: ignore[union-attr]
            self._waiter = CallWaiter(
                self,
                self.wait_policy,
                timeout_exception=self.timeout_exception,
                failures_as_results=self.failures_as_results,
            )
        return self._waiter  # type: ignore[return-value]

    def _push_call_ref(self, context: Context, hook: OneInboxHook, call_id: str) -> None:
        self.waiter.push_call_ref(context, call_id)

    def _wait_for_call(
        self, context: Context, hook: OneInboxHook, call_id: str, call: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.waiter.wait(context, call_id, call, deferrable=self.deferrable)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Resume after the trigger fired.

        :param context: The task context.
        :param event: The trigger's event.
        """
        return self.waiter.complete(context, event)

    def on_kill(self) -> None:
        """Hang up the call awaited when the task is killed (unless ``hang_up_on_kill=False``)."""
        self.waiter.on_kill()
