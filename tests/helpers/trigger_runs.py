"""
Running ``OneInboxCallTrigger`` in the test process: on a fresh loop, or in Airflow's own
``TriggerRunner``; and seeing which record each wait decided on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.rules.events import CallWaitEvent
from airflow_provider_oneinbox.rules.watch import CallWatch
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from airflow.triggers.base import BaseTrigger

    from airflow_provider_oneinbox.triggers.campaign import OneInboxCampaignTrigger


def run(trigger: BaseTrigger) -> list[dict[str, Any]]:
    """
    Every event ``run()`` yields until it returns.

    :param trigger: The trigger, run on a new event loop.
    """

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def only_event(trigger: BaseTrigger) -> dict[str, Any]:
    """
    The single event of ``trigger``'s run.

    :param trigger: The trigger, run on a new event loop.
    """
    events = run(trigger)
    assert len(events) == 1, events
    return events[0]


def campaign_trigger_for(call_ids: list[str], **kwargs: Any) -> OneInboxCampaignTrigger:
    """
    A campaign trigger of ``agt_sales`` watching ``call_ids``, quick to poll, no wake-up time.

    :param call_ids: The campaign's live calls.
    :param kwargs: More (or other) arguments of ``OneInboxCampaignTrigger``.
    """
    from airflow_provider_oneinbox.triggers.campaign import OneInboxCampaignTrigger

    kwargs.setdefault("agent_id", "agt_sales")
    kwargs.setdefault("wake_at", None)
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("analysis_grace_period", 2.0)
    return OneInboxCampaignTrigger(call_ids=call_ids, **kwargs)


def run_together(
    triggers: Sequence[BaseTrigger],
    alongside: Callable[[], Awaitable[Any]] | None = None,
    timeout: float = 30,
) -> list[list[dict[str, Any]]]:
    """
    Run ``triggers`` at once on one new event loop (as one triggerer process runs them); each one's events.

    :param triggers: The triggers.
    :param alongside: A coroutine function run on the same loop meanwhile (e.g. moving the
        simulator's clock, or looking at the shared pollers); awaited before returning.
    :param timeout: Seconds after which the run fails.
    """

    async def collect(trigger: BaseTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    async def main() -> list[list[dict[str, Any]]]:
        async with _compat.timeout(timeout):
            side = asyncio.ensure_future(alongside()) if alongside is not None else None
            events = await asyncio.gather(*(collect(trigger) for trigger in triggers))
            if side is not None:
                await side
            return list(events)

    return asyncio.run(main())


def first_event_within(trigger: BaseTrigger, seconds: float) -> dict[str, Any] | None:
    """
    ``trigger``'s first event if it fires within ``seconds``, else ``None`` (it is then cancelled).

    :param trigger: The trigger, run on a new event loop.
    :param seconds: How long to wait.
    """

    async def first() -> dict[str, Any] | None:
        events = aiter(trigger.run())
        try:
            async with _compat.timeout(seconds):
                return (await anext(events)).payload
        except _compat.TIMEOUT_ERRORS:
            return None
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return asyncio.run(first())


def trigger_for(call_id: str, **kwargs: Any) -> OneInboxCallTrigger:
    """
    A trigger waiting for ``call_id``, quick to poll, with a deadline 30 s away.

    :param call_id: The call to wait for.
    :param kwargs: More (or other) arguments of ``OneInboxCallTrigger``.
    """
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("analysis_grace_period", 2.0)
    kwargs.setdefault("deadline", time.time() + 30)
    return OneInboxCallTrigger(call_id=call_id, **kwargs)


def deciding_records(
    monkeypatch: pytest.MonkeyPatch, into: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """
    From now on, each wait's deciding record by call id: the one its rules ended the wait on.

    Events carry no record (the worker reads it when it resumes), so this is how a test sees
    what a trigger decided on, e.g. that it did not end on an empty analysis.

    :param monkeypatch: The test's ``monkeypatch``; the recording ends with the test.
    :param into: The dict to fill (a new one by default).
    """
    seen: dict[str, dict[str, Any]] = {} if into is None else into
    observe = CallWatch.observe

    def recording_observe(self: CallWatch, call: dict[str, Any]) -> CallWaitEvent | None:
        event = observe(self, call)
        if event is not None:
            seen[self.call_id] = call
        return event

    monkeypatch.setattr(CallWatch, "observe", recording_observe)
    return seen


class InProcessTriggerer:
    """
    Airflow's own ``TriggerRunner.run_trigger``, driven on this event loop.

    It is what the triggerer process runs for each trigger: it iterates ``run()``, and on every
    exit, a restart's cancellation included, awaits ``cleanup()``; on Airflow 3.3 it calls
    ``on_kill()`` only when the cancellation is a user's action.
    """

    def __init__(self) -> None:
        from airflow.jobs.triggerer_job_runner import TriggerRunner

        self.runner = TriggerRunner()
        self.task: asyncio.Task[None] | None = None

    def start(self, trigger: BaseTrigger, trigger_id: int = 1) -> None:
        self.trigger_id = trigger_id
        self.task = asyncio.ensure_future(self.runner.run_trigger(trigger_id, trigger))
        # The runner's bookkeeping (3.1 has no "is_watcher"; an extra key is harmless there).
        details: Any = {"task": self.task, "name": "call", "events": 0, "is_watcher": False}
        self.runner.triggers[trigger_id] = details

    async def stop(self, *, user_action: bool) -> None:
        """Cancel the trigger: a triggerer shutdown, or (``user_action``) a user killing the task."""
        assert self.task is not None
        if user_action:
            self.runner.to_cancel.append(self.trigger_id)
            await self.runner.cancel_triggers()
        else:
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def finished(self, timeout: float) -> list[dict[str, Any]]:
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout)
        return [event.payload for _trigger_id, event in self.events()]

    def events(self) -> list[tuple[int, Any]]:
        events = []
        for entry in self.runner.events:  # 3.3: TriggerEventEntry; 3.1: (trigger_id, event)
            if isinstance(entry, tuple):
                events.append((entry[0], entry[1]))
            else:
                events.append((entry.trigger_id, entry.event))
        return events
