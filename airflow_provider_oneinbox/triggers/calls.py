"""Trigger that waits, in the triggerer, for a OneInbox call to end and its analysis to arrive."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oneinbox.exceptions import OneInboxError, OneInboxRateLimitError
from airflow_provider_oneinbox.results import post_call_data_ready
from airflow_provider_oneinbox.status import OneInboxCallStatus

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

#: Longest pause after a transient error, whatever the backoff or ``Retry-After`` says.
MAX_ERROR_BACKOFF_SECONDS = 300.0
#: Bound on hanging up a call from :meth:`OneInboxCallTrigger.on_kill`.
ON_KILL_TIMEOUT_SECONDS = 30.0
#: Bound on asking Airflow, from :meth:`OneInboxCallTrigger.on_kill`, whether the task is still deferred.
TASK_STATE_TIMEOUT_SECONDS = 10.0


def error_backoff(poll_interval: float, errors: int, exc: OneInboxError) -> float:
    """
    Seconds to wait after ``errors`` failed polls in a row: doubling from ``poll_interval``, at
    least a 429's ``Retry-After``, at most :data:`MAX_ERROR_BACKOFF_SECONDS` (or ``poll_interval``).

    :param poll_interval: Seconds between two polls.
    :param errors: Failures in a row, the last one included (>= 1).
    :param exc: The last failure.
    """
    delay = poll_interval * 2 ** (errors - 1)
    if isinstance(exc, OneInboxRateLimitError) and exc.retry_after:
        delay = max(delay, exc.retry_after)
    return min(delay, max(MAX_ERROR_BACKOFF_SECONDS, poll_interval))


class CallWatch:
    """
    The rules of one wait for a call, without I/O: fed each poll's outcome, it says when to stop.

    Shared by :class:`OneInboxCallTrigger` (async, in the triggerer) and the worker-side polling
    loop, so both end a wait the same way and produce the same events.

    :param call_id: Id of the call being awaited.
    :param poll_interval: Seconds between two polls.
    :param deadline: Absolute wall-clock time (epoch seconds) of the timeout; ``None`` for none.
    :param analysis_grace_period: Seconds to wait for post-call data once the call has ended.
    :param max_consecutive_errors: Transient failures in a row tolerated before giving up.
    :param log: Where to report undocumented statuses, tolerated errors and missing analyses.
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
    ) -> None:
        self.call_id = call_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.analysis_grace_period = analysis_grace_period
        self.max_consecutive_errors = max_consecutive_errors
        self.log = log
        self.call: dict[str, Any] | None = None
        self.agent_id: str | None = None
        self.errors = 0
        #: ``time.monotonic()`` before which a poll would ignore the last failure's backoff.
        self.retry_at = 0.0
        self._delay = poll_interval
        self._ended_seen_at: float | None = None
        self._unknown_logged: set[str] = set()

    def observe(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """
        Take a fetched call record; return the final event, or ``None`` to keep polling.

        :param call: The record returned by ``GET /v1/calls/{id}``.
        """
        status = call.get("status")
        if self.ended and not OneInboxCallStatus.is_terminal(status):
            return None  # an older record (e.g. listed before the last read): ended is final
        self.agent_id = call.get("agent_id") or self.agent_id
        self.retry_at = 0.0
        # A running call's record matters only for a timeout's status: keep little per waiting call.
        kept = call if OneInboxCallStatus.is_terminal(status) else {"id": call.get("id"), "status": status}
        self.call, self.errors, self._delay = kept, 0, self.poll_interval
        if post_call_data_ready(call):
            return self.success_event(call, analysis_missing=False)
        if OneInboxCallStatus.is_terminal(status):
            if self._ended_seen_at is None:
                self._ended_seen_at = time.monotonic()
                self.log.info("OneInbox call %s is %s; waiting for its analysis.", self.call_id, status)
            elif time.monotonic() - self._ended_seen_at >= self.analysis_grace_period:
                self.log.warning(
                    "OneInbox call %s: no analysis %.0fs after it ended; finishing without it.",
                    self.call_id,
                    self.analysis_grace_period,
                )
                return self.success_event(call, analysis_missing=True)
            self._delay = min(self.poll_interval, self.analysis_grace_period)
        elif not OneInboxCallStatus.is_known(status) and str(status) not in self._unknown_logged:
            self._unknown_logged.add(str(status))
            self.log.warning(
                "OneInbox call %s reports undocumented status %r; treating it as still running.",
                self.call_id,
                status,
            )
        return None

    def observe_error(self, exc: OneInboxError) -> dict[str, Any] | None:
        """
        Take a failed poll; return an ``error`` event, or ``None`` to try again after a backoff.

        :param exc: The error the hook raised.
        """
        if not exc.transient:
            return self.error_event(exc, permanent=True)
        self.errors += 1
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
        if self.deadline is not None:
            delay = min(delay, max(self.deadline - time.time(), 0.0))
        return delay

    @property
    def ended(self) -> bool:
        """Whether the call has been seen ``completed`` or ``failed``."""
        return self.call is not None and OneInboxCallStatus.is_terminal(self.call.get("status"))

    def next_delay(self, slack: float = 0.0) -> tuple[float, dict[str, Any] | None]:
        """
        Seconds to sleep before the next poll, never past the deadline; or the event if it has passed.

        :param slack: Seconds added to the pause (not past the deadline), e.g. for a shared
            poller's answer.
        """
        if self.deadline is None:
            return self._delay + slack, None
        left = self.deadline - time.time()
        if left > 0:
            return min(self._delay + slack, left), None
        if self.call is not None and self.ended:
            # The call itself ended in time; only its analysis is late.
            return 0.0, self.success_event(self.call, analysis_missing=True)
        status = self.call.get("status") if self.call else "unknown"
        message = f"Timed out waiting for OneInbox call {self.call_id} (last status: {status})."
        return 0.0, {"status": "timeout", "call_id": self.call_id, "call": self.call, "message": message}

    def success_event(self, call: dict[str, Any], *, analysis_missing: bool) -> dict[str, Any]:
        """
        The ``success`` event of a finished call.

        :param call: The last call record.
        :param analysis_missing: Whether the wait gave up on the post-call analysis.
        """
        return {
            "status": "success",
            "call_id": self.call_id,
            "call": call,
            "analysis_missing": analysis_missing,
        }

    def error_event(self, exc: BaseException, *, permanent: bool) -> dict[str, Any]:
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
        return {
            "status": "error",
            "call_id": self.call_id,
            "message": message,
            "error_type": type(exc).__name__,
            "permanent": permanent,
        }


#: :meth:`OneInboxCallTrigger.on_kill` work that goes on after Airflow cancelled ``on_kill()``.
_KILL_DECISIONS: set[asyncio.Future[None]] = set()


class _StateUnknown(Exception):
    """Why :meth:`OneInboxCallTrigger.on_kill` could not learn its task instance's current state."""


class OneInboxCallTrigger(BaseTrigger):
    """
    Wait until the call has ended and its post-call data has arrived.

    Fires exactly one event, then returns; the event is plain data, safe to deliver twice:

    * ``{"status": "success", "call_id", "call", "analysis_missing"}``: the call is
      ``completed`` or ``failed`` and its analysis is there, or ``analysis_grace_period`` passed
      since the call was first seen ended (then ``analysis_missing`` is ``True``).
    * ``{"status": "timeout", "call_id", "call", "message"}``: ``deadline`` passed first;
      ``call`` is the last record seen, or ``None``.
    * ``{"status": "error", "call_id", "message", "error_type", "permanent"}``: at once on a
      permanent error (401/403/404, bad connection), or after more than
      ``max_consecutive_errors`` transient failures (429, 5xx, transport) in a row.

    While the call runs, the trigger learns its status from the process's shared poller for
    the call's agent (:mod:`~airflow_provider_oneinbox.triggers.shared_poller`): when at
    least four calls of one agent are waited for in one triggerer, one ``GET /v1/calls/cursor``
    page answers for up to a hundred of them, post-call data included once the list has shown
    that it carries it. Otherwise, and whenever the list cannot answer for this call, the
    trigger reads ``GET /v1/calls/{id}`` itself.

    All requests go through one HTTP session for the life of the wait. Request budget per wait:
    at most one GET of its own per ``poll_interval`` while the call runs, at most
    ``analysis_grace_period / poll_interval + 1`` more once it has ended, and at most
    ``max_consecutive_errors + 1`` failed polls in a row (each backing off, honouring
    ``Retry-After``), plus whatever retries the connection's ``max_retries`` allows inside the
    hook. A status the API does not document (e.g. ``ringing``) counts as still running and is
    logged once.

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
        max_consecutive_errors: int = 5,
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
        try:
            async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook:
                if self.first_poll_delay > 0:
                    await asyncio.sleep(watch.first_delay(self.first_poll_delay))
                event = await self._wait_shared(hook, watch) if self.shared_polling else None
                if event is None:
                    event = await self._wait_alone(hook, watch, check_first=not self.shared_polling)
        except OneInboxError as exc:  # raised opening the session, e.g. an unusable connection
            event = watch.error_event(exc, permanent=not exc.transient)
        except Exception as exc:
            # E.g. the connection does not exist yet: fixable, so a retry of the task may succeed.
            self.log.exception("Unexpected error while waiting for OneInbox call %s", self.call_id)
            event = watch.error_event(exc, permanent=False)
        yield TriggerEvent(event)

    async def _check(self, hook: OneInboxAsyncHook, watch: CallWatch) -> dict[str, Any] | None:
        """Read the call once; the final event, or ``None`` to go on."""
        try:
            return watch.observe(await hook.get_call(self.call_id))
        except OneInboxError as exc:
            return watch.observe_error(exc)

    async def _wait_alone(
        self, hook: OneInboxAsyncHook, watch: CallWatch, *, check_first: bool
    ) -> dict[str, Any]:
        """Poll ``GET /v1/calls/{id}`` until the wait ends; return its event."""
        event = await self._check(hook, watch) if check_first else None
        while event is None:
            delay, event = watch.next_delay()
            if event is None:
                await asyncio.sleep(delay)
                event = await self._check(hook, watch)
        return event

    async def _wait_shared(self, hook: OneInboxAsyncHook, watch: CallWatch) -> dict[str, Any] | None:
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
        The task instance's current state tells the two apart: a user's mark failed/success or
        clear leaves it no longer ``deferred``; a handover leaves it ``deferred``. So the call is
        hung up only when that state was read and is neither ``deferred`` nor ``up_for_retry`` (a
        try that failed on its own, whose retry waits for the same call). When it cannot be read,
        the call is left running with a warning: a missed hang-up ends at the agent's maximum
        duration, a wrong one cuts a live conversation.

        Airflow 3.3's trigger runner cancels a cancelled trigger again on each of its loops (about
        every second) until it has finished, which cuts ``on_kill()`` short. So the decision and
        the hang-up run in a task of their own, each step bounded in time, that goes on when this
        coroutine is cancelled.
        """
        decision = asyncio.ensure_future(self._hang_up_if_killed())
        _KILL_DECISIONS.add(decision)
        decision.add_done_callback(_KILL_DECISIONS.discard)
        await asyncio.shield(decision)

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
        if state == "deferred":
            self.log.info(
                "Trigger cancelled while its task instance is still deferred (handed over to another "
                "triggerer, not killed): leaving OneInbox call %s running.",
                self.call_id,
            )
            return
        if state == "up_for_retry":
            # No user action leads here: the wait ended (e.g. in another triggerer) and failed the
            # try, and the next try will wait for this same call.
            self.log.info(
                "Trigger cancelled while its task instance is up for retry (not killed): leaving "
                "OneInbox call %s running for the next try.",
                self.call_id,
            )
            return
        try:
            from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

            async with asyncio.timeout(ON_KILL_TIMEOUT_SECONDS):
                async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook:
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
        """
        The current state of the task instance this trigger serves, as the metadata DB has it.

        Asks the triggerer's supervisor over the Task SDK's comms (``GetTaskStates``, the request
        behind ``RuntimeTaskInstance.get_task_states``) with its async ``asend``: awaiting it never
        blocks the event loop, and a timeout withdraws the request. Raises :class:`_StateUnknown`
        saying why when there is no answer to trust.
        """
        ti = self.task_instance
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
            request = GetTaskStates(
                dag_id=ti.dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
            )
            async with asyncio.timeout(TASK_STATE_TIMEOUT_SECONDS):
                response = await asend(request)
        except TimeoutError:
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

    async def cleanup(self) -> None:
        """Release nothing remote: this also runs on triggerer restarts, when the call must go on."""
