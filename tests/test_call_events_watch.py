"""
OneInboxCallEventTrigger against the simulator over loopback: phone-number watches, filters,
the analysis grace, start_lookback, and a restart over the same cursor store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_oneinbox.events import walk as walks_module
from airflow_provider_oneinbox.events.store import MemoryCursorStore
from airflow_provider_oneinbox.rules.call_events import parse_time
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
from tests.helpers.call_events import clock_driver, collect, listed_calls, register_number
from tests.helpers.simulator_api import api, create_call


def fresh_store(trigger: OneInboxCallEventTrigger) -> MemoryCursorStore:
    """A cursor store of the trigger's key, emptied (the memory store is per process)."""
    store = MemoryCursorStore(trigger.cursor_key())
    MemoryCursorStore._values.pop(store.key, None)
    trigger.cursor_store = store
    return store


def inbound_to(sim: OneInboxSimulator, number: str, agent_id: str) -> list[dict[str, Any]]:
    return [
        c for c in listed_calls(sim, agent_id) if c["direction"] == "inbound" and c["to_number"] == number
    ]


@pytest.mark.parametrize("by", ["e164", "id"])
def test_a_phone_number_watch_reads_its_routing_and_fallback_agents_and_keeps_only_its_calls(
    frozen: OneInboxSimulator, by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = frozen
    listed_agents: set[str] = set()
    real_walk = walks_module.walk

    async def spying_walk(hook: Any, agent_id: str, *args: Any) -> Any:
        listed_agents.add(agent_id)
        return await real_walk(hook, agent_id, *args)

    monkeypatch.setattr(walks_module, "walk", spying_walk)
    watched = register_number(sim, "+15739690011", agent_id="agt_support")
    api(
        sim,
        "POST",
        f"/v1/phone-numbers/{watched['id']}/inbound-routing",
        json={"fallback": {"agent_id": "agt_survey"}},
    )
    register_number(sim, "+15739690012", agent_id="agt_support")  # same agent, another number
    sim.configure(inbound_calls_per_minute=6)
    trigger = OneInboxCallEventTrigger(
        phone_number=watched["phone_number"] if by == "e164" else watched["id"], poll_interval=0.05
    )
    fresh_store(trigger)
    events = asyncio.run(collect(trigger, clock_driver(sim, steps=24), timeout=60))
    mine = inbound_to(sim, "+15739690011", "agt_support")
    others = inbound_to(sim, "+15739690012", "agt_support")
    assert len(mine) >= 8
    assert others
    assert sorted(e["call_id"] for e in events) == sorted(c["id"] for c in mine)
    assert listed_agents == {"agt_support", "agt_survey"}
    assert sim.requests("GET", f"/v1/phone-numbers/{watched['id']}/inbound-routing")


def test_status_filter_keeps_only_failed_calls(frozen: OneInboxSimulator) -> None:
    sim = frozen
    register_number(sim, "+15739690004", agent_id="agt_support")  # "04": every call fails
    register_number(sim, "+15739690017", agent_id="agt_support")  # completes
    sim.configure(inbound_calls_per_minute=6)
    trigger = OneInboxCallEventTrigger(agent_ids=["agt_support"], statuses=["failed"], poll_interval=0.05)
    fresh_store(trigger)
    events = asyncio.run(collect(trigger, clock_driver(sim, steps=16), timeout=60))
    failed = [c for c in listed_calls(sim, "agt_support") if c["status"] == "failed"]
    assert len(failed) >= 4
    assert len(listed_calls(sim, "agt_support")) > len(failed)
    assert sorted(e["call_id"] for e in events) == sorted(c["id"] for c in failed)
    assert {e["status"] for e in events} == {"failed"}


def test_outbound_watch_fires_for_placed_calls_and_ignores_inbound_ones(frozen: OneInboxSimulator) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")
    sim.configure(inbound_calls_per_minute=6)
    placed = [create_call(sim, to_number=f"+1415555100{i}", agent_id="agt_support")["id"] for i in range(3)]
    trigger = OneInboxCallEventTrigger(
        agent_ids=["agt_support"], direction="outbound", ready="ended", poll_interval=0.05
    )
    fresh_store(trigger)
    events = asyncio.run(collect(trigger, clock_driver(sim, steps=10), timeout=60))
    assert sorted(e["call_id"] for e in events) == sorted(placed)
    assert {e["direction"] for e in events} == {"outbound"}


def test_a_call_without_post_call_data_fires_unanalysed_once_the_grace_has_passed(
    frozen: OneInboxSimulator,
) -> None:
    sim = frozen
    register_number(sim, "+15739690008", agent_id="agt_support")  # "08": never any post-call data
    sim.configure(inbound_calls_per_minute=6)  # traffic all along: the watch learns the API's clock
    trigger = OneInboxCallEventTrigger(agent_ids=["agt_support"], analysis_grace=120.0, poll_interval=0.05)
    fresh_store(trigger)
    seen_at: dict[str, float] = {}

    def sim_now() -> float:
        return parse_time(api(sim, "POST", "/_sim/advance", json={"seconds": 0}).json()["sim_time"]) or 0.0

    async def drive(events: list[dict[str, Any]]) -> bool:
        for event in events:
            seen_at.setdefault(event["call_id"], sim_now())
        drive.steps += 1  # type: ignore[attr-defined]
        sim.advance(5)
        await asyncio.sleep(0.1)
        return drive.steps > 80  # type: ignore[attr-defined]

    drive.steps = 0  # type: ignore[attr-defined]
    events = asyncio.run(collect(trigger, drive, timeout=90))
    end = sim_now()
    calls = {c["id"]: c for c in listed_calls(sim, "agt_support")}
    ended = {i: parse_time(c["ended_at"]) or 0.0 for i, c in calls.items() if c["ended_at"]}
    due = {i for i, at in ended.items() if at + 120 + 30 <= end}
    assert len(due) >= 10
    fired = [e["call_id"] for e in events]
    assert len(fired) == len(set(fired))
    assert due <= set(fired) <= set(ended)
    assert not any(e["analysed"] for e in events)
    assert len(seen_at) >= 10
    for call_id in seen_at:
        assert seen_at[call_id] >= ended[call_id] + 120.0 - 10  # never before the grace (a poll's slack)


def test_a_first_start_skips_calls_that_ended_before_it_unless_they_are_in_the_lookback(
    frozen: OneInboxSimulator,
) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")
    sim.configure(inbound_calls_per_minute=6)
    sim.advance(60)
    sim.configure(inbound_calls_per_minute=0)
    sim.advance(300)  # every call ended and analysed
    old = [c["id"] for c in listed_calls(sim, "agt_support")]
    assert len(old) >= 5
    create_call(sim, agent_id="agt_support")  # the newest record: the watch learns the API's clock

    def run(lookback: float) -> list[dict[str, Any]]:
        trigger = OneInboxCallEventTrigger(
            agent_ids=["agt_support"], start_lookback=lookback, poll_interval=0.05
        )
        fresh_store(trigger)

        async def drive(events: list[dict[str, Any]]) -> bool:
            await asyncio.sleep(0.5)
            return True

        return asyncio.run(collect(trigger, drive, timeout=30))

    assert run(0.0) == []
    assert sorted(e["call_id"] for e in run(3600.0)) == sorted(old)


def test_a_restart_over_the_same_cursor_store_loses_nothing_and_repeats_only_the_last_moments(
    frozen: OneInboxSimulator,
) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")
    sim.configure(inbound_calls_per_minute=12)
    first = OneInboxCallEventTrigger(agent_ids=["agt_support"], poll_interval=0.05)
    store = fresh_store(first)
    first.commit_delay = 0.5
    times: list[float] = []
    before = asyncio.run(collect(first, clock_driver(sim, steps=20, settle=0), timeout=60, times=times))
    stopped = time.monotonic()
    assert len(before) >= 5
    # Calls that ended while nobody watched, and more traffic after the restart.
    sim.configure(inbound_calls_per_minute=12)
    sim.advance(60)
    second = OneInboxCallEventTrigger(agent_ids=["agt_support"], poll_interval=0.05)
    second.cursor_store = store
    second.commit_delay = 0.5
    after = asyncio.run(collect(second, clock_driver(sim, steps=10), timeout=60))
    every = {c["id"] for c in listed_calls(sim, "agt_support")}
    fired_before = [e["call_id"] for e in before]
    fired_after = [e["call_id"] for e in after]
    assert len(set(fired_before)) == len(fired_before)
    assert len(set(fired_after)) == len(fired_after)
    assert set(fired_before) | set(fired_after) == every  # nothing lost
    repeated = set(fired_before) & set(fired_after)
    uncommitted = {
        e["call_id"] for e, at in zip(before, times, strict=True) if stopped - at < 0.5 + 1.5
    }  # delay + tick + slack
    assert repeated <= uncommitted


def test_a_backlog_deeper_than_a_rounds_pages_is_read_over_several_rounds(frozen: OneInboxSimulator) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")
    sim.configure(inbound_calls_per_minute=60)
    sim.advance(330)
    sim.configure(inbound_calls_per_minute=0)
    sim.advance(300)  # 330 calls, all analysed: more than three pages of 100
    backlog = {c["id"] for c in listed_calls(sim, "agt_support")}
    assert len(backlog) > 300
    trigger = OneInboxCallEventTrigger(
        agent_ids=["agt_support"], start_lookback=3600.0, max_pages_per_poll=1, poll_interval=0.05
    )
    fresh_store(trigger)

    async def drive(events: list[dict[str, Any]]) -> bool:
        await asyncio.sleep(0.1)
        return len(events) >= len(backlog)

    events = asyncio.run(collect(trigger, drive, timeout=30))
    fired = [e["call_id"] for e in events]
    assert len(fired) == len(set(fired))
    assert set(fired) == backlog


def test_the_async_hook_lists_phone_numbers_and_reads_a_routing(frozen: OneInboxSimulator) -> None:
    from airflow_provider_oneinbox.events.targets import resolve_number
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    plain = register_number(frozen, "+15739690021", agent_id="agt_sales")  # default routing: its agent

    async def main() -> tuple[list[dict[str, Any]], Any]:
        async with OneInboxAsyncHook() as hook:
            return await hook.list_phone_numbers(), await resolve_number(hook, plain["id"])

    numbers, resolved = asyncio.run(main())
    assert [n["id"] for n in numbers] == [plain["id"]]
    assert (resolved.number_id, resolved.number, resolved.agent_ids) == (
        plain["id"],
        "+15739690021",
        ("agt_sales",),
    )
