"""
Running ``OneInboxCallEventTrigger`` in the test process against the simulator: register a
number with inbound traffic, move the simulated clock, and collect what the trigger fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox import _compat
from tests.helpers.simulator_api import api

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_oneinbox.simulator import OneInboxSimulator


def register_number(sim: OneInboxSimulator, phone_number: str, **body: Any) -> dict[str, Any]:
    """``POST /v1/phone-numbers``; the created record (asserts the 201)."""
    response = api(sim, "POST", "/v1/phone-numbers", json={"phone_number": phone_number, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def listed_calls(sim: OneInboxSimulator, agent_id: str | None = None) -> list[dict[str, Any]]:
    """Every call the simulator holds (of ``agent_id``), newest first, read page by page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if agent_id:
            params["agent_id"] = agent_id
        if cursor:
            params["cursor"] = cursor
        page = api(sim, "GET", "/v1/calls/cursor", params=params).json()
        found += page["items"]
        cursor = page.get("next_cursor")
        if not page.get("has_more") or not cursor:
            return found


class MemoryAccessor:
    """
    An in-memory stand-in for one asset's 3.3 state store accessor (``aget`` / ``aset``).

    For unit tests of the cursor store, and of a restart over the same store in one process.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.writes += 1
        self.values[key] = json.loads(json.dumps(value))  # stored as JSON, like the real store


async def collect(
    trigger: BaseTrigger,
    drive: Callable[[list[dict[str, Any]]], Awaitable[bool]],
    timeout: float = 30.0,
    times: list[float] | None = None,
) -> list[dict[str, Any]]:
    """
    Run ``trigger`` on this loop, calling ``drive(events so far)`` every 50 ms until it returns True.

    :param trigger: The trigger.
    :param drive: Moves the world (the simulator's clock) and says when enough was seen.
    :param timeout: Seconds after which the run fails.
    :param times: Filled with each event's arrival (``time.monotonic()``), if given.
    """
    events: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)
            if times is not None:
                times.append(time.monotonic())

    task = asyncio.ensure_future(consume())
    try:
        async with _compat.timeout(timeout):
            while not await drive(events):
                if task.done():
                    task.result()
                    raise AssertionError(f"the trigger ended: {events}")
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return events


def clock_driver(
    sim: OneInboxSimulator, steps: int, seconds: float = 5.0, pause: float = 0.05, *, settle: int = 10
) -> Callable[[list[dict[str, Any]]], Awaitable[bool]]:
    """
    A ``drive`` for :func:`collect`: advance the simulated clock ``steps`` times by ``seconds``,
    then turn inbound traffic off and let everything end and be analysed (``settle`` jumps of 60 s).

    :param sim: The simulator.
    :param steps: Jumps while traffic runs.
    :param seconds: Simulated seconds per jump.
    :param pause: Real seconds between jumps (the trigger polls meanwhile).
    :param settle: Jumps of 60 simulated seconds after traffic stops.
    """
    done = 0

    async def drive(events: list[dict[str, Any]]) -> bool:
        nonlocal done
        done += 1
        if done == steps:
            sim.configure(inbound_calls_per_minute=0)
        sim.advance(seconds if done < steps else 60.0)
        await asyncio.sleep(pause if done < steps else 0.3)
        return done >= steps + settle

    return drive
