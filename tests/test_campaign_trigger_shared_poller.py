"""
Campaign triggers share the triggerer's list walk: one ``GET /v1/calls/cursor`` round per agent
answers for every campaign (and call) trigger of that agent, however many run in the process.

Run on one event loop, as one triggerer process runs them, against the simulator on loopback.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers import shared_poller
from tests.helpers.calls import place
from tests.helpers.trigger_runs import campaign_trigger_for, run_together, trigger_for

POLL = 0.1


def list_rounds(sim: OneInboxSimulator) -> int:
    return len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))


def own_reads(sim: OneInboxSimulator, call_ids: list[str]) -> int:
    return sum(len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) for call_id in call_ids)


def test_three_campaigns_and_a_call_wait_share_one_list_walk_per_round(frozen: OneInboxSimulator) -> None:
    # Seven long calls of one agent, frozen in flight: three campaigns of two, one single wait.
    calls = [place(f"+1415555{20 + i:02d}05") for i in range(7)]
    wake = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    campaigns = [campaign_trigger_for(calls[i : i + 2], wake_at=wake, poll_interval=POLL) for i in (0, 2, 4)]
    single = trigger_for(calls[6], poll_interval=POLL, agent_id="agt_sales", deadline=None)
    pollers: list[int] = []

    async def watch_the_pollers() -> None:
        await asyncio.sleep(0.7)
        pollers.append(len(shared_poller.active_pollers()))
        await asyncio.sleep(1.2)  # past the campaigns' wake-up: end the single wait's call
        frozen.advance(700)

    before = list_rounds(frozen)
    events = run_together([*campaigns, single], watch_the_pollers)
    rounds = list_rounds(frozen) - before

    assert events[:3] == [[{"reason": "wake", "ended": []}]] * 3
    assert events[3][0]["status"] == "success"
    assert pollers == [1]  # one poller for the agent, shared by every trigger
    # About 2.5 s at one round per 0.1 s: one walk (a single page for 7 calls) per round, not one
    # per trigger (4 triggers would make about 100).
    assert 8 <= rounds <= 30, rounds
    assert own_reads(frozen, calls[:6]) == 0  # the list answered for every campaign call
    assert frozen.calls_created() == 7  # reads only: no trigger ever places a call


def test_campaigns_whose_calls_end_fire_from_the_shared_list_without_reading_each_call(
    frozen: OneInboxSimulator,
) -> None:
    calls = [place(f"+1415556{10 + i:02d}05") for i in range(6)]
    campaigns = [campaign_trigger_for(calls[i : i + 2], poll_interval=POLL) for i in (0, 2, 4)]

    async def end_the_calls() -> None:
        await asyncio.sleep(0.5)
        frozen.advance(700)  # every call ends; its post-call data follows 3 simulated seconds later

    before = list_rounds(frozen)
    events = run_together(campaigns, end_the_calls)

    for i, fired in enumerate(events):
        (event,) = fired
        assert event["reason"] == "ended"
        assert sorted(event["ended"]) == sorted(calls[2 * i : 2 * i + 2])
    assert list_rounds(frozen) - before <= 15
    assert own_reads(frozen, calls) == 0
    assert frozen.calls_created() == 6
