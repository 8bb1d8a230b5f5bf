"""
Every wait path ends with the real analysis, whatever shape the API gives an unanalysed call.

The API reference allows an ended call that is not analysed yet to carry ``analysis`` as
``{"outcome": null, "summary": null}`` (the simulator's default, as the outcomes guide
describes), ``{}`` (the list examples) or ``null``, with ``messages: []``; and ids as UUIDs or
prefixed strings. Each wait path (the deferred trigger polling alone, the shared poller, the
sensor poking and rescheduling in the worker, and place-and-wait) runs against each shape and
id style, and must end with the analysis that arrives after the call ended. The old rule,
"ready once ``analysis`` is truthy", ends the nulls and ``{}`` cases at the end of the call,
with an empty analysis: these tests fail on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_oneinbox.results import build_call_result
from airflow_provider_oneinbox.rules.events import CallWaitEvent
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from airflow_provider_oneinbox.wait_rules import CallWatch
from tests.conftest import task_xcoms
from tests.helpers.calls import AGENT, FROM, get, place
from tests.helpers.dags import instances, write_dag

SHAPES = ["nulls", "empty", "null"]
ID_STYLES = ["uuid", "prefixed"]
BOOKED = "+14155550101"  # scenario 01: answered, "Appointment Booked"
#: Simulated seconds between a call's end and its post-call data: a second of real time at
#: speed 20, so every wait sees the call ended and not yet analysed for several polls.
ANALYSIS_DELAY = 20.0
#: Simulated seconds of post-call delay that only ``sim.advance`` gets past.
HELD_BACK = 100_000.0


@pytest.fixture(params=[(shape, style) for shape in SHAPES for style in ID_STYLES], ids="-".join)
def shaped_sim(sim: OneInboxSimulator, request: pytest.FixtureRequest) -> Iterator[OneInboxSimulator]:
    """The simulator giving unanalysed calls one post-call shape and ids of one style."""
    shape, style = request.param
    sim.configure(post_call_shape=shape, id_style=style, analysis_delay=ANALYSIS_DELAY)
    try:
        yield sim
    finally:
        sim.configure(analysis_delay=3.0)
        sim.reset()


def assert_real_analysis(result: dict[str, Any], call_id: str) -> None:
    """The result of a booked call, with the analysis that arrived after it ended."""
    assert result["call_id"] == call_id
    assert result["analysis_missing"] is False
    assert result["status"] == "completed"
    assert result["analysis"] is not None, "the wait ended before the call was analysed"
    assert result["analysis"]["outcome"] == "Appointment Booked"
    assert result["outcome"] == "Appointment Booked"
    assert result["summary"]
    assert result["messages"]
    assert "Agent:" in result["transcript"]


def assert_unanalysed_while_ended(call_id: str, shape: str) -> None:
    """Right after the call ends, the simulator shows the shape under test (so the test means something)."""
    record = get(call_id)
    assert record["messages"] == []
    expected = {"nulls": {"outcome": None, "summary": None}, "empty": {}, "null": None}[shape]
    assert record["analysis"] == expected


def release_the_analysis(sim: OneInboxSimulator, call_id: str, reads: int) -> None:
    """Once the call has been read ``reads`` times in all, jump the clock past its analysis delay."""
    deadline = time.monotonic() + 30
    while len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) < reads:
        if time.monotonic() > deadline:
            return  # the wait ended without reading the unanalysed call: the test fails on its result
        time.sleep(0.02)
    sim.advance(HELD_BACK)


def deciding_records(
    monkeypatch: pytest.MonkeyPatch, into: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """
    From now on, each wait's deciding record by call id: the one its rules ended the wait on.

    Events carry no record (the worker reads it when it resumes), so this is how a test sees
    what a trigger decided on, e.g. that it did not end on an empty analysis.

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


def run_triggers(triggers: list[OneInboxCallTrigger]) -> list[dict[str, Any]]:
    """Run the triggers on one loop, as the triggerer does; each one's single event."""

    async def one(trigger: OneInboxCallTrigger) -> dict[str, Any]:
        (event,) = [event.payload async for event in trigger.run()]
        return event

    async def all_of() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(t) for t in triggers)))

    return asyncio.run(all_of())


def trigger(call_id: str, *, shared: bool) -> OneInboxCallTrigger:
    return OneInboxCallTrigger(
        call_id=call_id,
        poll_interval=0.1,
        analysis_grace_period=10,
        deadline=time.time() + 60,
        agent_id=AGENT,
        shared_polling=shared,
    )


def test_the_deferred_trigger_polling_alone(
    shaped_sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = deciding_records(monkeypatch)
    call_id = place(BOOKED)
    (event,) = run_triggers([trigger(call_id, shared=False)])
    assert (event["status"], event["analysis_missing"]) == ("success", False)
    assert_real_analysis(build_call_result(seen[call_id]), call_id)


def test_the_shared_poller(shaped_sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = deciding_records(monkeypatch)
    call_ids = [place(BOOKED) for _ in range(6)]  # above the poller's minimum of shared waits
    events = run_triggers([trigger(call_id, shared=True) for call_id in call_ids])
    assert shaped_sim.requests(method="GET", path_prefix="/v1/calls/cursor")  # the list was used
    for event, call_id in zip(events, call_ids, strict=True):
        assert (event["status"], event["analysis_missing"]) == ("success", False)
        assert_real_analysis(build_call_result(seen[call_id]), call_id)


@pytest.mark.airflow_db
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_the_sensor_waiting_in_the_worker(
    shaped_sim: OneInboxSimulator, load_dag: Callable[..., Any], mode: str, request: pytest.FixtureRequest
) -> None:
    shape = request.node.callspec.params["shaped_sim"][0]
    # The analysis is held back until the sensor has read the ended, unanalysed call three times.
    shaped_sim.configure(analysis_delay=HELD_BACK)
    call_id = place(BOOKED)
    deadline = time.monotonic() + 30
    while get(call_id)["status"] != "completed":
        assert time.monotonic() < deadline, "the call never ended"
        time.sleep(0.05)
    assert_unanalysed_while_ended(call_id, shape)
    reads_before = len(shaped_sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}"))
    release = threading.Thread(target=release_the_analysis, args=(shaped_sim, call_id, reads_before + 3))
    release.start()
    body = (
        f'OneInboxCallSensor(task_id="wait", call_id="{call_id}", deferrable=False, mode="{mode}", '
        "poke_interval=0.1, timeout=60, analysis_grace_period=30)"
    )
    try:
        dag_run = write_dag(load_dag, body, prefix="shapes").test()
    finally:
        release.join(timeout=60)
    (ti,) = instances(dag_run, "wait")
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "wait")
    assert_real_analysis(result, call_id)
    assert task_xcoms(dag_run, "wait", "analysis") == [result["analysis"]]


@pytest.mark.airflow_db
def test_place_and_wait(shaped_sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    body = (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="{AGENT}", to_number="{BOOKED}", '
        f'from_number="{FROM}", wait_for_completion=True, poll_interval=0.1, analysis_grace_period=10)'
    )
    dag_run = write_dag(load_dag, body, prefix="shapes").test()
    (ti,) = instances(dag_run, "call")
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "call")
    (call_id,) = task_xcoms(dag_run, "call", "call_id")
    assert_real_analysis(result, call_id)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_call_never_analysed_ends_after_the_grace_period_as_missing(
    sim: OneInboxSimulator, shape: str
) -> None:
    """Scenario 08: completed, but post-call data never arrives; the wait ends flagged, not empty."""
    sim.configure(post_call_shape=shape)
    call_id = place("+14155550108")
    (event,) = run_triggers(
        [
            OneInboxCallTrigger(
                call_id=call_id, poll_interval=0.1, analysis_grace_period=0.5, deadline=time.time() + 30
            )
        ]
    )
    result = build_call_result(get(call_id), analysis_missing=event["analysis_missing"])
    assert (event["status"], result["analysis_missing"]) == ("success", True)
    assert (result["analysis"], result["outcome"], result["transcript"]) == (None, None, "")


def test_an_outcome_that_stays_null_is_ready_once_the_summary_arrived(sim: OneInboxSimulator) -> None:
    """Scenario 09: analysed, but the API never settles on an outcome (the reference allows it)."""
    call_id = place("+14155550109")
    (event,) = run_triggers([trigger(call_id, shared=False)])
    result = build_call_result(get(call_id))
    assert (event["status"], event["analysis_missing"]) == ("success", False)
    assert result["outcome"] is None
    assert result["summary"]
    assert result["transcript"]
