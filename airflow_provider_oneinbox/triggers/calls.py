"""Trigger that waits, in the triggerer, for a OneInbox call to end and its analysis to arrive."""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.kill_marker import failed_by_itself
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS
from airflow_provider_oneinbox.rules.results import post_call_data_ready
from airflow_provider_oneinbox.rules.watch import MAX_ERROR_BACKOFF_SECONDS, CallWatch, error_backoff

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
    from airflow_provider_oneinbox.rules.events import CallWaitEvent

__all__ = ["MAX_ERROR_BACKOFF_SECONDS", "CallWatch", "OneInboxCallTrigger", "error_backoff"]

#: Bound on hanging up a call from :meth:`OneInboxCallTrigger.on_kill`.
ON_KILL_TIMEOUT_SECONDS = 30.0
#: Task instance states a user's "mark failed / success / skipped" (or removing the task) leaves;
#: only in these does :meth:`OneInboxCallTrigger.on_kill` hang up.
KILLED_STATES = frozenset({"failed", "success", "skipped", "removed"})
#: Bound on asking Airflow, from :meth:`OneInboxCallTrigger.on_kill`, whether the task is still deferred.
TASK_STATE_TIMEOUT_SECONDS = 10.0
#: A poll still running this long after the wait's deadline is abandoned (the hook's own bound failed).
DEADLINE_BACKSTOP_SECONDS = 1.0


#: :meth:`OneInboxCallTrigger.on_kill` work that goes on after Airflow cancelled ``on_kill()``.
_KILL_DECISIONS: set[asyncio.Future[None]] = set()


class _StateUnknown(Exception):
    """Why :meth:`OneInboxCallTrigger.on_kill` could not learn its task instance's current state."""


class OneInboxCallTrigger(BaseTrigger):
    """
    Wait until the call has ended and its post-call data has arrived.

    Fires exactly one event, then returns; the event is plain data, safe to deliver twice, and
    carries ids, statuses and flags only: never the transcript, messages, analysis, variables,
    metadata, phone numbers or recording URL (Airflow logs every event and stores it in the
    metadata DB; the task reads the call's record itself when it resumes):

    * ``{"status": "success", "call_id", "call_status", "end_reason", "analysis_missing"}``:
      the call is ``completed`` or ``failed`` and its analysis is there, or
      ``analysis_grace_period`` passed since the call was first seen ended, or ``deadline``
      passed after it ended (then ``analysis_missing`` is ``True``).
    * ``{"status": "timeout", "call_id", "call_status", "message"}``: ``deadline`` passed
      while the call ran; ``call_status`` is the last status seen, or ``None``. A poll still
      running at the deadline is abandoned, and a transient failure once it has passed ends
      the wait this way too, not as an error.
    * ``{"status": "error", "call_id", "message", "error_type", "permanent"}``: at once on a
      permanent error (401/403/404, bad connection), or after more than
      ``max_consecutive_errors`` transient failures (429, 5xx, transport) in a row.

    Each status change is logged once at INFO (``OneInbox call <id>: initiated → in_progress``),
    which Airflow 3 routes to the task's log.

    While the call runs, the trigger learns its status from the process's shared poller for
    the call's agent (:mod:`~airflow_provider_oneinbox.triggers.shared_poller`): when at
    least four calls of one agent are waited for in one triggerer, one ``GET /v1/calls/cursor``
    page answers for up to a hundred of them, post-call data included once the list has shown
    that it carries it. Otherwise, and whenever the list cannot answer for this call, the
    trigger reads ``GET /v1/calls/{id}`` itself.

    All requests go through one HTTP session for the life of the wait (shared with every wait of
    the connection in the triggerer). Request budget per wait: at most one GET of its own per
    ``poll_interval`` while the call runs, at most ``analysis_grace_period / poll_interval + 1``
    more once it has ended, and at most ``max_consecutive_errors + 1`` failed polls in a row,
    each one request: the hook polling has its retries off (whatever the connection's
    ``max_retries``), so the wait alone owns the error budget and the backoff (doubling from
    ``poll_interval``, at least a 429's ``Retry-After``, at most 300 s). A status the API does not
    document (e.g. ``ringing``) counts as still running and is logged once.

    :meth:`cleanup` runs on every exit, including triggerer restarts, so it never touches the
    call; :meth:`on_kill` (Airflow 3.3+) hangs it up only once it has read that the task instance
    is no longer deferred (a user's kill, not a handover to another triggerer).

    :param call_id: Id of the call to wait for.
    :param oneinbox_conn_id: Airflow connection to the OneInbox API; read by id in the
        triggerer, so no secret travels in the trigger's kwargs.
    :param poll_interval: Seconds between two polls.
    :param deadline: Absolute wall-clock time (epoch seconds) after which a ``timeout`` event
        is fired; ``None`` waits without limit.
    :param analysis_grace_period: Seconds to keep polling for post-call data (messages,
        analysis) after the call is first seen ended.
    :param max_consecutive_errors: Transient failures in a row tolerated before an ``error``
        event; a successful poll resets the count.
    :param hang_up_on_kill: Whether :meth:`on_kill` stops a live call.
    :param first_poll_delay: Seconds to pause before the first poll: the worker's check just
        failed (e.g. a 429 whose ``Retry-After`` must be honoured). Capped by ``deadline``.
    :param agent_id: The call's agent, if known; lets the wait join the shared poller without
        reading the call first.
    :param shared_polling: Whether to learn the call's status from the shared poller of the
        call's agent; ``False`` always polls ``GET /v1/calls/{id}``.
    """

    def __init__(
        self,
        call_id: str,
        oneinbox_conn_id: str = "oneinbox_default",
        poll_interval: float = 10.0,
        deadline: float | None = None,
        analysis_grace_period: float = 60.0,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        hang_up_on_kill: bool = True,
        first_poll_delay: float = 0.0,
        agent_id: str | None = None,
        shared_polling: bool = True,
    ) -> None:
        super().__init__()
        self.call_id = call_id
        self.oneinbox_conn_id = oneinbox_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.analysis_grace_period = float(analysis_grace_period)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.hang_up_on_kill = bool(hang_up_on_kill)
        self.first_poll_delay = float(first_poll_delay)
        self.agent_id = agent_id or None
        self.shared_polling = bool(shared_polling)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the plain keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "call_id": self.call_id,
                "oneinbox_conn_id": self.oneinbox_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "analysis_grace_period": self.analysis_grace_period,
                "max_consecutive_errors": self.max_consecutive_errors,
                "hang_up_on_kill": self.hang_up_on_kill,
                "first_poll_delay": self.first_poll_delay,
                "agent_id": self.agent_id,
                "shared_polling": self.shared_polling,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the call and yield exactly one event (see the class docstring)."""
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        watch = self._watch()
        event: CallWaitEvent
        try:
            # Retries off: the watch owns the wait's error budget and its backoff.
            async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id, max_retries=0) as hook:
                if self.first_poll_delay > 0:
                    await asyncio.sleep(watch.first_delay(self.first_poll_delay))
                shared = await self._wait_shared(hook, watch) if self.shared_polling else None
                event = (
                    shared
                    if shared is not None
                    else await self._wait_alone(hook, watch, check_first=not self.shared_polling)
                )
        except OneInboxError as exc:  # raised opening the session, e.g. an unusable connection
            event = watch.error_event(exc, permanent=not exc.transient)
        except Exception as exc:
            # E.g. the connection does not exist yet: fixable, so a retry of the task may succeed.
            self.log.exception("Unexpected error while waiting for OneInbox call %s", self.call_id)
            event = watch.error_event(exc, permanent=False)
        yield TriggerEvent(event.to_payload())

    async def _check(self, hook: OneInboxAsyncHook, watch: CallWatch) -> CallWaitEvent | None:
        """
        Read the call once; the final event, or ``None`` to go on.

        The read may not outlast the deadline: the hook gives up
        just after it (a transient error, which then ends the wait as the deadline says), and
        should it not, the read is abandoned :data:`DEADLINE_BACKSTOP_SECONDS` later.
        """
        left = watch.time_left()
        if left is not None and left <= 0:
            return watch.deadline_event()
        bound = _compat.timeout(None if left is None else left + DEADLINE_BACKSTOP_SECONDS)
        try:
            async with bound:
                # Just past the deadline, so that the hook's failure finds it passed.
                call = await hook.get_call(self.call_id, timeout=None if left is None else left + 0.05)
        except OneInboxError as exc:
            return watch.observe_error(exc)
        except _compat.TIMEOUT_ERRORS:
            if not bound.expired():
                raise
            self.log.warning(
                "Reading OneInbox call %s was still running at the wait's deadline; abandoned.", self.call_id
            )
            return watch.deadline_event()
        return watch.observe(call)

    async def _wait_alone(
        self, hook: OneInboxAsyncHook, watch: CallWatch, *, check_first: bool
    ) -> CallWaitEvent:
        """Poll ``GET /v1/calls/{id}`` until the wait ends; return its event."""
        event = await self._check(hook, watch) if check_first else None
        while event is None:
            delay, event = watch.next_delay()
            if event is None:
                await asyncio.sleep(delay)
                event = await self._check(hook, watch)
        return event

    async def _wait_shared(self, hook: OneInboxAsyncHook, watch: CallWatch) -> CallWaitEvent | None:
        """
        Wait through the agent's shared poller while the call runs.

        Returns the final event, or ``None`` once the poller has stepped aside (the wait has
        just read its call then).
        """
        from airflow_provider_oneinbox.triggers import shared_poller
        from airflow_provider_oneinbox.triggers.shared_poller import SightingKind

        if self.agent_id is None:
            event = await self._check(hook, watch)
            if event is not None or watch.agent_id is None:
                return event
        agent_id = self.agent_id or watch.agent_id
        assert agent_id is not None
        settings = await hook.get_settings()
        with shared_poller.watching(settings, agent_id, self.poll_interval, self.call_id) as seat:
            while True:
                timeout, event = watch.next_delay(slack=self.poll_interval)
                if event is not None:
                    return event
                sighting = await seat.next(timeout)
                if sighting is None and seat.poller.answering:
                    continue  # a late or failed round: the poller retries, backing off, or steps aside
                if sighting is not None and sighting.kind is SightingKind.FALLBACK:
                    # Everyone at this poller leaves at once: spread their first own polls.
                    await asyncio.sleep(random.uniform(0.0, min(self.poll_interval, timeout)))
                    return await self._check(hook, watch)
                call = sighting.call if sighting is not None else None
                if call is not None and (
                    seat.poller.vouches_for(call)
                    # First seen ended, without its analysis: give it a round before reading it.
                    or (not watch.ended and not post_call_data_ready(call))
                ):
                    event = watch.observe(call)
                elif time.monotonic() < watch.retry_at:
                    continue  # this wait's own last read failed: keep to its backoff
                else:
                    event = await self._check(hook, watch)
                    seat.discard()  # whatever arrived during the read is older than it
                if event is not None:
                    return event

    def _watch(self) -> CallWatch:
        return CallWatch(
            self.call_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            analysis_grace_period=self.analysis_grace_period,
            max_consecutive_errors=self.max_consecutive_errors,
            log=self.log,
        )

    async def on_kill(self) -> None:
        """
        Hang up the call when a user killed the deferred task (Airflow 3.3+); never fails.

        Airflow 3.3 (up to at least 3.3.2) also calls this on a handover: a triggerer that stalled
        past ``[triggerer] triggerer_health_check_threshold`` finds, when it wakes, its triggers
        running in another triggerer and cancels its own copies the way it cancels a user's kill.
        The task instance's current state tells the two apart: a user's mark failed, success or
        skipped leaves it in that state (:data:`KILLED_STATES`); a handover leaves it ``deferred``.
        So the call is hung up only when that state was read and is one of those. Any other state
        leaves the call running: ``up_for_retry`` (the try failed on its own and the retry waits
        for the same call) and a clear (the new try reattaches to the same call). When the state
        cannot be read, the call is left running with a warning: a missed hang-up ends at the
        agent's maximum duration, a wrong one cuts a live conversation.

        Airflow 3.3's trigger runner cancels a cancelled trigger again on each of its loops (about
        every second) until it has finished, which cuts ``on_kill()`` short. So the decision and
        the hang-up run in a task of their own, each step bounded in time, that goes on when this
        coroutine is cancelled.
        """
        await decide_and_act(self._hang_up_if_killed())

    async def _hang_up_if_killed(self) -> None:
        """:meth:`on_kill`'s work: read the task instance's state, hang up if it was killed."""
        if not self.hang_up_on_kill:
            self.log.info(
                "Task killed; leaving OneInbox call %s running (hang_up_on_kill=False).", self.call_id
            )
            return
        try:
            state = await self._task_instance_state()
        except _StateUnknown as exc:
            self.log.warning(
                "Trigger cancelled, but the task instance's state could not be read (%s), so a user's "
                "kill cannot be told from a handover to another triggerer: OneInbox call %s was left "
                "running. Stop it with OneInboxStopCallOperator if it must end.",
                exc,
                self.call_id,
            )
            return
        if state == "failed" and await failed_by_itself(self.task_instance):
            self.log.info(
                "Trigger cancelled after its task failed by itself (not a user's kill): leaving "
                "OneInbox call %s running.",
                self.call_id,
            )
            return
        if state not in KILLED_STATES:
            # deferred: handed over to another triggerer; up_for_retry: the wait failed the try and
            # the next try waits for this same call; cleared (None, scheduled, queued, running...):
            # the new try reattaches to this same call and waits for it.
            self.log.info(
                "Trigger cancelled while its task instance is %s (not marked failed, success or "
                "skipped by a user): leaving OneInbox call %s running.",
                state,
                self.call_id,
            )
            return
        try:
            from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

            async with (
                _compat.timeout(ON_KILL_TIMEOUT_SECONDS),
                OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook,
            ):
                call = await hook.stop_call(self.call_id)
            self.log.info(
                "Task killed (task instance now %s); hung up OneInbox call %s (status %s).",
                state,
                self.call_id,
                call.get("status"),
            )
        except Exception as exc:
            self.log.warning("Task killed; could not hang up OneInbox call %s: %s", self.call_id, exc)

    async def _task_instance_state(self) -> str | None:
        """The current state of the task instance this trigger serves (:func:`task_instance_state`)."""
        return await task_instance_state(self.task_instance)

    async def cleanup(self) -> None:
        """Release nothing remote: this also runs on triggerer restarts, when the call must go on."""


async def decide_and_act(work: Coroutine[Any, Any, None]) -> None:
    """
    Run an ``on_kill`` decision in a task of its own, awaited but shielded: Airflow 3.3 cancels a
    cancelled trigger again about every second until it has finished, which would cut it short.

    :param work: The decision and its action, each step bounded in time by its author.
    """
    decision = asyncio.ensure_future(work)
    _KILL_DECISIONS.add(decision)
    decision.add_done_callback(_KILL_DECISIONS.discard)
    await asyncio.shield(decision)


async def task_instance_state(ti: Any) -> str | None:
    """
    The current state of the task instance a trigger serves, as the metadata DB has it.

    Asks the triggerer's supervisor over the Task SDK's comms (``GetTaskStates``, the request
    behind ``RuntimeTaskInstance.get_task_states``) with its async ``asend``: awaiting it never
    blocks the event loop, and a timeout withdraws the request. Raises :class:`StateUnknown`
    saying why when there is no answer to trust. Shared by every trigger's ``on_kill`` ("was the
    task really killed, or was the trigger handed over?").

    :param ti: The trigger's ``task_instance`` (``None`` outside a triggerer).
    """
    if ti is None:
        raise _StateUnknown("the trigger has no task instance")
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import GetTaskStates
    except ImportError as exc:
        raise _StateUnknown(f"this Airflow has no task-state request: {exc}") from None
    asend = getattr(getattr(task_runner, "SUPERVISOR_COMMS", None), "asend", None)
    if not inspect.iscoroutinefunction(asend):
        raise _StateUnknown("no async channel to the triggerer's supervisor")
    try:
        task_id, run_id, map_index = ti.task_id, ti.run_id, ti.map_index
        request = GetTaskStates(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index)
        # Shielded: the comms read their answer in order, so an abandoned request must still
        # consume its own answer, or the next request of any trigger would get it.
        response = await asyncio.wait_for(asyncio.shield(asend(request)), TASK_STATE_TIMEOUT_SECONDS)
    except _compat.TIMEOUT_ERRORS:
        raise _StateUnknown(f"no answer within {TASK_STATE_TIMEOUT_SECONDS:.0f}s") from None
    except Exception as exc:
        raise _StateUnknown(f"asking failed: {exc!r}") from None
    # {run_id: {task_id, or f"{task_id}_{map_index}" for a mapped instance: state}}
    by_run = getattr(response, "task_states", None)
    states = by_run.get(run_id) if isinstance(by_run, dict) else None
    key = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"
    if not isinstance(states, dict) or key not in states:
        raise _StateUnknown(f"unexpected answer {response!r}")
    state = getattr(states[key], "value", states[key])  # a TaskInstanceState, a str or None
    if state is not None and not isinstance(state, str):
        raise _StateUnknown(f"unexpected state {state!r}")
    return state


#: Public name of why :func:`task_instance_state` had no answer to trust.
StateUnknown = _StateUnknown
