"""
OneInboxCallEventTrigger on Airflow 3.3's shared streams, driven by Airflow's own
``SharedStreamManager`` in this process, against the simulator's inbound traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from airflow_provider_oneinbox.events import walk as walks_module
from airflow_provider_oneinbox.events.store import MemoryCursorStore
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
from tests.helpers.call_events import listed_calls, register_number

shared_stream = pytest.importorskip("airflow.triggers.shared_stream", reason="Airflow 3.3 shared streams")


def watch(**kwargs: Any) -> OneInboxCallEventTrigger:
    made = OneInboxCallEventTrigger(agent_ids=["agt_support"], poll_interval=0.05, **kwargs)
    store = MemoryCursorStore(made.cursor_key())
    MemoryCursorStore._values.pop(store.key, None)
    made.cursor_store = store
    return made


class Subscriber:
    """One trigger subscribed to the manager, its events collected by a task."""

    def __init__(self, manager: Any, trigger_id: int, trigger: OneInboxCallEventTrigger) -> None:
        self.manager, self.trigger_id, self.trigger = manager, trigger_id, trigger
        self.key = trigger.shared_stream_key()
        self.events: list[dict[str, Any]] = []
        stream = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=self.key)
        self.task = asyncio.ensure_future(self._consume(trigger.filter_shared_stream(stream)))

    async def _consume(self, events: Any) -> None:
        async for event in events:
            self.events.append(event.payload)

    async def leave(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.manager.unsubscribe(self.trigger_id, self.key)

    def ids(self) -> list[str]:
        if self.task.done() and not self.task.cancelled():
            self.task.result()  # a failed filter fails the test
        return [e["call_id"] for e in self.events]


async def advance(sim: OneInboxSimulator, steps: int, seconds: float = 5.0) -> None:
    for _ in range(steps):
        sim.advance(seconds)
        await asyncio.sleep(0.08)


def test_watches_of_the_same_agents_share_one_poll_and_keep_their_own_filters(
    frozen: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = frozen
    register_number(sim, "+15739690004", agent_id="agt_support")  # fails
    register_number(sim, "+15739690017", agent_id="agt_support")  # completes
    walks: list[str] = []
    real_walk = walks_module.walk

    async def counting_walk(hook: Any, agent_id: str, *args: Any) -> Any:
        walks.append(agent_id)
        return await real_walk(hook, agent_id, *args)

    monkeypatch.setattr(walks_module, "walk", counting_walk)

    async def main() -> tuple[list[str], list[str]]:
        manager = shared_stream.SharedStreamManager()
        every = Subscriber(manager, 1, watch())
        failed = Subscriber(manager, 2, watch(statuses=["failed"]))
        assert every.key == failed.key
        sim.configure(inbound_calls_per_minute=6)
        await advance(sim, 16)
        sim.configure(inbound_calls_per_minute=0)
        await advance(sim, 8, 60.0)
        result = every.ids(), failed.ids()
        await every.leave()
        await failed.leave()
        await manager.stop_all()
        return result

    every_ids, failed_ids = asyncio.run(main())
    calls = listed_calls(sim, "agt_support")
    assert sorted(every_ids) == sorted(c["id"] for c in calls)
    assert sorted(failed_ids) == sorted(c["id"] for c in calls if c["status"] == "failed")
    assert len(failed_ids) >= 3
    rounds = len(walks)
    # One walk per round for both watches (plus at most one catch-up walk each at the start).
    assert rounds >= 10
    assert sim.requests("GET", "/v1/calls/cursor").__len__() <= rounds + 2


def test_a_watch_resuming_late_catches_up_on_calls_broadcast_before_it_joined(
    frozen: OneInboxSimulator,
) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")

    async def main() -> tuple[list[str], list[str], list[str]]:
        manager = shared_stream.SharedStreamManager()
        other = Subscriber(manager, 1, watch(direction="any"))  # keeps the stream alive
        first_trigger = watch()
        first_trigger.commit_delay = 0.3
        first = Subscriber(manager, 2, first_trigger)
        sim.configure(inbound_calls_per_minute=12)
        await advance(sim, 12)
        await asyncio.sleep(0.5)  # its events committed
        await first.leave()
        await advance(sim, 25, 60.0)  # 300 calls while it is away: the rounds cover only the newest
        again = OneInboxCallEventTrigger(**first_trigger.serialize()[1])
        again.cursor_store = first_trigger.cursor_store
        second = Subscriber(manager, 3, again)
        sim.configure(inbound_calls_per_minute=0)
        await advance(sim, 8, 60.0)
        result = first.ids(), second.ids(), other.ids()
        await second.leave()
        await other.leave()
        await manager.stop_all()
        return result

    before, after, other = asyncio.run(main())
    every = {c["id"] for c in listed_calls(sim, "agt_support")}
    assert before
    assert after
    assert not set(before) & set(after)
    assert set(before) | set(after) == every
    assert set(other) == every
