"""OneInboxCallEventTrigger against the simulator's inbound traffic, over loopback."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from airflow_provider_oneinbox.events.store import MemoryCursorStore
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
from tests.helpers.call_events import collect, listed_calls, register_number
from tests.helpers.simulator_api import create_call
from tests.helpers.trigger_runs import InProcessTriggerer

PAYLOAD_KEYS = {
    "call_id",
    "agent_id",
    "direction",
    "status",
    "outcome",
    "analysed",
    "ended_at",
    "duration_seconds",
}


def test_one_event_per_analysed_inbound_call_and_none_for_outbound(frozen: OneInboxSimulator) -> None:
    sim = frozen
    register_number(sim, "+15739690001", agent_id="agt_support")
    create_call(sim, agent_id="agt_support")  # outbound: never fires with direction="inbound"
    trigger = OneInboxCallEventTrigger(agent_ids=["agt_support"], poll_interval=0.05)

    async def drive(events: list[dict[str, Any]]) -> bool:
        if drive.steps < 40:  # type: ignore[attr-defined]
            if drive.steps == 2:  # type: ignore[attr-defined]
                sim.configure(inbound_calls_per_minute=6)
            sim.advance(5)
            drive.steps += 1  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)
            return False
        if drive.steps == 40:  # type: ignore[attr-defined]
            sim.configure(inbound_calls_per_minute=0)
        sim.advance(30)
        drive.steps += 1  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        return drive.steps > 50  # type: ignore[attr-defined]

    drive.steps = 0  # type: ignore[attr-defined]
    events = asyncio.run(collect(trigger, drive, timeout=60))
    inbound = [c for c in listed_calls(sim, "agt_support") if c["direction"] == "inbound"]
    assert len(inbound) >= 15
    assert all(c["status"] in ("completed", "failed") and c["messages"] for c in inbound)
    assert sorted(e["call_id"] for e in events) == sorted(c["id"] for c in inbound)
    assert all(set(e) == PAYLOAD_KEYS for e in events)
    assert {e["direction"] for e in events} == {"inbound"}
    assert all(e["analysed"] for e in events)


def test_airflows_own_trigger_runner_fires_one_event_per_call(
    frozen: OneInboxSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = frozen
    register_number(sim, "+15739690017", agent_id="agt_support")
    trigger = OneInboxCallEventTrigger(agent_ids=["agt_support"], poll_interval=0.05)
    trigger.cursor_store = MemoryCursorStore(f"runner-{uuid.uuid4()}")

    async def main() -> list[dict[str, Any]]:
        triggerer = InProcessTriggerer()
        triggerer.start(trigger)
        sim.configure(inbound_calls_per_minute=6)
        for step in range(30):
            if step == 16:
                sim.configure(inbound_calls_per_minute=0)
            sim.advance(5 if step < 16 else 60)
            await asyncio.sleep(0.08)
        await triggerer.stop(user_action=False)
        return [event.payload for _id, event in triggerer.events()]

    with caplog.at_level(logging.INFO):
        events = asyncio.run(main())
    calls = listed_calls(sim, "agt_support")
    assert len(calls) >= 8
    assert sorted(e["call_id"] for e in events) == sorted(c["id"] for c in calls)
    assert all(set(e) == PAYLOAD_KEYS for e in events)
    assert "+15739690017" not in caplog.text
