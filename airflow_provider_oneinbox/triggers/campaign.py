"""
The campaign's trigger: watches a campaign's live calls through list reads and wakes its worker.

Design: ``docs/campaigns.md``. It never creates a call (``POST /v1/calls`` is the worker's alone)
and carries no state the worker needs: its kwargs are the agent, the ids of the live calls and
times; its one event (:class:`~airflow_provider_oneinbox.rules.campaign_events.CampaignWake`) says
why it fired. The worker rebuilds everything from the ledger on resume, so a lost or repeated
event costs a resume, never a call.

It learns the calls' statuses from the triggerer process's shared poller for the agent
(:mod:`~airflow_provider_oneinbox.triggers.shared_poller`): one list walk per agent per round,
however many campaign and call triggers of that agent the process runs. A call the list cannot
answer for (fewer than four calls watched in the process, not on the pages read, or ended while
the list has not shown that it carries post-call data) is read with ``GET /v1/calls/{id}``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.kill_marker import failed_by_itself
from airflow_provider_oneinbox.rules.campaign_events import CampaignWake
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS
from airflow_provider_oneinbox.rules.results import post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus
from airflow_provider_oneinbox.rules.watch import error_backoff
from airflow_provider_oneinbox.triggers import calls as kills

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
    from airflow_provider_oneinbox.triggers.shared_poller import Flock

__all__ = ["MAX_WALK_PAGES", "OneInboxCampaignTrigger"]

#: Kept for imports of the first version (its own walk read at most this many pages); the shared
#: poller bounds its walks by the number of calls watched.
MAX_WALK_PAGES = 100
#: Hang-ups sent at once from :meth:`OneInboxCampaignTrigger.on_kill`.
STOP_CONCURRENCY = 8


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime_fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an ISO 8601 time or None, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class OneInboxCampaignTrigger(BaseTrigger):
    """
    Fire when one of ``call_ids`` is settled (a slot frees, a redial may fall due), or at ``wake_at``.

    "Settled" is the worker's own rule (``CampaignRunner``): the call is ``failed``, or it is
    ``completed`` and its post-call data is in, or ``analysis_grace_period`` passed since this
    trigger first saw it ended (per call). A ``wake_at`` that was not after ``deferred_at`` means
    "when a call ends" (the worker found nothing to wake for), not "now"; one that fell due while
    the trigger was moving between triggerers fires at once.

    Requests: reads only, through one pooled HTTP session per connection in the process, retries
    off (the trigger owns the backoff). Per round: the shared poller's one list walk (bounded to
    ``2 * ceil(calls / page) + 1`` pages, each response bounded by the hook's size limit), plus one
    ``GET`` per call the list could not answer for. A permanent error, or more than
    ``max_consecutive_errors`` failed reads in a row, fires a ``"error"`` event: the worker then
    reads the calls itself.

    :param agent_id: The campaign's agent (its calls are listed, newest first).
    :param call_ids: The campaign's live calls.
    :param wake_at: ISO 8601 time to fire at the latest (the next pacing slot, calling window,
        redial or quota reset the worker computed); ``None``: only when a call ends.
    :param oneinbox_conn_id: The connection (read by id in the triggerer: no secret in the kwargs).
    :param poll_interval: Seconds between reads.
    :param analysis_grace_period: Seconds an ended call's outcome is awaited (a redial depends on
        it) before the call counts as settled without one, as the worker does.
    :param max_consecutive_errors: Failed reads in a row tolerated before an ``"error"`` event.
    :param hang_up_on_kill: Whether :meth:`on_kill` hangs up the live calls when the task is killed.
    :param deferred_at: ISO 8601 time the worker deferred (default: when the trigger is built,
        i.e. in the worker).
    """

    def __init__(
        self,
        agent_id: str,
        call_ids: list[str],
        wake_at: str | None,
        oneinbox_conn_id: str = "oneinbox_default",
        poll_interval: float = 10.0,
        analysis_grace_period: float = 60.0,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        hang_up_on_kill: bool = True,
        deferred_at: str | None = None,
    ) -> None:
        super().__init__()
        if not agent_id or not isinstance(agent_id, str):
            raise ValueError(f"agent_id must be a non-empty string, got {agent_id!r}")
        self.agent_id = agent_id
        self.call_ids = list(dict.fromkeys(str(call_id) for call_id in call_ids))
        self.wake_at = wake_at
        self.deferred_at = deferred_at or datetime.now(UTC).isoformat()
        wake, deferred = _parse_time("wake_at", wake_at), _parse_time("deferred_at", self.deferred_at)
        #: When to fire without a call ending; ``None``: never.
        self.wake: datetime | None = (
            wake if wake is not None and deferred is not None and wake > deferred else None
        )
        self.oneinbox_conn_id = oneinbox_conn_id
        self.poll_interval = float(poll_interval)
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
        self.analysis_grace_period = float(analysis_grace_period)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.hang_up_on_kill = bool(hang_up_on_kill)
        self._seen_ended: dict[str, float] = {}
        self._errors = 0
        self._retry_at = 0.0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the plain keyword arguments (ids and times only) that rebuild it."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "agent_id": self.agent_id,
                "call_ids": self.call_ids,
                "wake_at": self.wake_at,
                "oneinbox_conn_id": self.oneinbox_conn_id,
                "poll_interval": self.poll_interval,
                "analysis_grace_period": self.analysis_grace_period,
                "max_consecutive_errors": self.max_consecutive_errors,
                "hang_up_on_kill": self.hang_up_on_kill,
                "deferred_at": self.deferred_at,
            },
        )

    # Watching

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch until a live call is settled, ``wake_at`` comes, or reading fails for good: one event."""
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        event: CampaignWake
        try:
            if not self.call_ids:
                await asyncio.sleep(self._left())
                event = CampaignWake("wake")
            else:
                # Retries off: the trigger owns the error budget and the backoff.
                async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id, max_retries=0) as hook:
                    event = await self._watch(hook)
        except OneInboxError as exc:  # opening the session, e.g. an unusable connection
            event = self._error(exc, permanent=not exc.transient)
        except Exception as exc:
            self.log.exception(
                "Unexpected error while watching the campaign's calls of agent %s", self.agent_id
            )
            event = self._error(exc, permanent=False)
        yield TriggerEvent(event.to_payload())

    def _left(self) -> float:
        """Seconds until the wake-up (0 when nothing at all can wake the worker but time: fire now)."""
        if self.wake is None:
            return float("inf") if self.call_ids else 0.0
        return max((self.wake - datetime.now(UTC)).total_seconds(), 0.0)

    async def _watch(self, hook: OneInboxAsyncHook) -> CampaignWake:
        from airflow_provider_oneinbox.triggers import shared_poller

        settings = await hook.get_settings()
        with shared_poller.watching_calls(
            settings, self.agent_id, self.poll_interval, self.call_ids
        ) as flock:
            alone = False
            while True:
                left = self._left()
                if left <= 0:
                    return CampaignWake("wake")
                if alone:
                    await asyncio.sleep(min(max(self.poll_interval, self._retry_at - time.monotonic()), left))
                    if self._left() <= 0:
                        return CampaignWake("wake")
                    records, event = await self._read_own(hook, self.call_ids)
                else:
                    records, event, alone = await self._from_poller(hook, flock, left)
                if event is not None:
                    return event
                settled = [call_id for call_id, call in records.items() if self._settled(call_id, call)]
                if settled:
                    return CampaignWake("ended", tuple(settled))

    async def _from_poller(
        self, hook: OneInboxAsyncHook, flock: Flock, left: float
    ) -> tuple[dict[str, dict[str, Any]], CampaignWake | None, bool]:
        """One round's news: ``(records by call id, an event to fire, whether to poll alone now)``."""
        from airflow_provider_oneinbox.triggers.shared_poller import SightingKind

        sightings = await flock.next(min(2 * self.poll_interval, left))
        if not sightings:
            # A late or failed round: the poller retries, backing off; or it stopped: read alone.
            return {}, None, not flock.poller.answering
        if any(s.kind is SightingKind.FALLBACK for s in sightings.values()):
            # Everyone at this poller leaves at once: spread their first own reads.
            await asyncio.sleep(random.uniform(0.0, min(self.poll_interval, left)))
            return {}, None, True
        records: dict[str, dict[str, Any]] = {}
        to_read: list[str] = []
        for call_id, sighting in sightings.items():
            call = sighting.call
            if call is None:
                to_read.append(call_id)  # not on the pages read, or too few calls to list
            elif (
                flock.poller.vouches_for(call)
                or post_call_data_ready(call)
                # First seen ended, without its outcome: start its grace, read it next round.
                or call_id not in self._seen_ended
            ):
                records[call_id] = call
            else:
                to_read.append(call_id)
        if to_read and time.monotonic() >= self._retry_at:
            own, event = await self._read_own(hook, to_read)
            records.update(own)
            if event is not None:
                return records, event, False
        return records, None, False

    async def _read_own(
        self, hook: OneInboxAsyncHook, call_ids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], CampaignWake | None]:
        """``GET`` each call (sequentially, each bounded by the connection's timeout)."""
        records: dict[str, dict[str, Any]] = {}
        for call_id in call_ids:
            try:
                records[call_id] = await hook.get_call(call_id)
            except OneInboxError as exc:
                self._errors += 1
                if not exc.transient or self._errors > self.max_consecutive_errors:
                    return records, self._error(exc, permanent=not exc.transient)
                self._retry_at = time.monotonic() + error_backoff(self.poll_interval, self._errors, exc)
                self.log.warning(
                    "Reading OneInbox call %s failed (%s; %d in a row); backing off.",
                    call_id,
                    exc,
                    self._errors,
                )
                return records, None
            self._errors = 0
        return records, None

    def _settled(self, call_id: str, call: dict[str, Any]) -> bool:
        """The worker's rule: ended, and ``failed`` or its post-call data in or the per-call grace over."""
        status = call.get("status")
        if not OneInboxCallStatus.is_terminal(status):
            return False
        first = self._seen_ended.setdefault(call_id, time.monotonic())
        return (
            status == OneInboxCallStatus.FAILED
            or post_call_data_ready(call)
            or time.monotonic() - first >= self.analysis_grace_period
        )

    def _error(self, exc: BaseException, *, permanent: bool) -> CampaignWake:
        self.log.warning("Cannot watch the campaign's calls of agent %s: %s", self.agent_id, exc)
        return CampaignWake("error", message=str(exc), error_type=type(exc).__name__, permanent=permanent)

    # Stopping

    async def on_kill(self) -> None:
        """
        Hang up every live call of the campaign when a user killed the deferred task (Airflow 3.3+).

        Never on a triggerer restart or shutdown (Airflow does not call it then), and never on a
        handover after a stall: the task instance's current state must have been read and be one
        a user's kill leaves (:data:`~airflow_provider_oneinbox.triggers.kills.KILLED_STATES`),
        exactly as :meth:`OneInboxCallTrigger.on_kill
        <airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger.on_kill>` decides. The
        work goes on in a task of its own when Airflow cancels this coroutine; each step is bounded.
        """
        await kills.decide_and_act(self._hang_up_if_killed())

    async def _hang_up_if_killed(self) -> None:
        what = f"the {len(self.call_ids)} live call(s) of the campaign (agent {self.agent_id})"
        if not self.hang_up_on_kill:
            self.log.info("Task killed; leaving %s running (hang_up_on_kill=False).", what)
            return
        if not self.call_ids:
            self.log.info("Task killed; the campaign had no live call to hang up.")
            return
        try:
            state = await kills.task_instance_state(self.task_instance)
        except kills.StateUnknown as exc:
            self.log.warning(
                "Trigger cancelled, but the task instance's state could not be read (%s), so a user's "
                "kill cannot be told from a handover to another triggerer: %s were left running.",
                exc,
                what,
            )
            return
        if state == "failed" and await failed_by_itself(self.task_instance):
            self.log.info(
                "Trigger cancelled after its task failed by itself (not a user's kill): leaving %s running.",
                what,
            )
            return
        if state not in kills.KILLED_STATES:
            self.log.info(
                "Trigger cancelled while its task instance is %s (not marked failed, success or skipped "
                "by a user): leaving %s running.",
                state,
                what,
            )
            return
        stopped, failed = await self._stop_all()
        self.log.warning(
            "Campaign task killed (task instance now %s): hung up %d live call(s) of %d (a call that "
            "had already ended counts as hung up); %d could not be hung up.",
            state,
            stopped,
            len(self.call_ids),
            failed,
        )

    async def _stop_all(self) -> tuple[int, int]:
        """Hang up every call of the kwargs, a few at a time, within one bound: ``(stopped, failed)``."""
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        gate = asyncio.Semaphore(STOP_CONCURRENCY)
        done: dict[str, bool] = {}

        async def stop(hook: OneInboxAsyncHook, call_id: str) -> None:
            async with gate:
                try:
                    await hook.stop_call(call_id)
                    done[call_id] = True
                except OneInboxError as exc:
                    done[call_id] = False
                    self.log.warning("Could not hang up OneInbox call %s: %s", call_id, exc)

        try:
            async with (
                _compat.timeout(kills.ON_KILL_TIMEOUT_SECONDS),
                OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook,
            ):
                await asyncio.gather(*(stop(hook, call_id) for call_id in self.call_ids))
        except Exception as exc:
            self.log.warning("Hanging up the campaign's calls stopped early: %r", exc)
        stopped = sum(done.values())
        return stopped, len(self.call_ids) - stopped

    async def cleanup(self) -> None:
        """Release nothing remote: this also runs on triggerer restarts, when the calls must go on."""
