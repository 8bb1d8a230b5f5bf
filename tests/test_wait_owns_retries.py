"""
A wait owns its error budget and backoff: its polls are single requests (the hooks polling for it
have retries off, whatever the connection says), while the task's own hook keeps its retries.
And the sensor tells its base class's timeout from its own verdicts without reading messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.hooks import session_pool
from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.helpers.calls import AGENT, get, place

CALL_RECORD = "/v1/calls/{call_id}"

SENSOR_DAG = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    OneInboxCallSensor(task_id="wait", call_id="{call_id}", {arguments})
"""


def run_sensor(load_dag: Callable[..., Any], call_id: str, arguments: str) -> Any:
    dag = load_dag(
        SENSOR_DAG.format(dag_id=f"owns_{uuid.uuid4().hex[:10]}", call_id=call_id, arguments=arguments)
    )
    (ti,) = [ti for ti in dag.test().get_task_instances() if ti.task_id == "wait"]
    return ti


def record_gets(sim: OneInboxSimulator, call_id: str) -> list[dict[str, Any]]:
    return [
        e for e in sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}") if e["route"] == CALL_RECORD
    ]


def assert_failures_waited_out_by_the_wait(gets: list[dict[str, Any]], poll_interval: float) -> None:
    """
    Each failed GET is followed by the wait's backoff (``poll_interval``, then twice that), never
    by a hook's retry (the test connection retries after 0.05..0.5 s, 3 times).
    """
    statuses = [g["status"] for g in gets]
    assert statuses[:3] == [500, 500, 200], statuses
    assert gets[1]["time"] - gets[0]["time"] >= poll_interval * 0.95
    assert gets[2]["time"] - gets[1]["time"] >= 2 * poll_interval * 0.95


def test_the_triggers_polls_are_not_retried_by_its_hook(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550101")
    sim.set_faults(server_error_burst=2, only_routes=[CALL_RECORD])
    trigger = OneInboxCallTrigger(
        call_id, poll_interval=0.6, deadline=time.time() + 60, analysis_grace_period=5, shared_polling=False
    )

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(run())
    assert (event["status"], event["call_id"]) == ("success", call_id)
    assert_failures_waited_out_by_the_wait(record_gets(sim, call_id), 0.6)


@pytest.mark.airflow_db
def test_the_workers_polls_are_not_retried_by_the_hook(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    call_id = place("+14155550101")
    sim.set_faults(server_error_burst=2, only_routes=[CALL_RECORD])
    ti = run_sensor(
        load_dag, call_id, "deferrable=False, poke_interval=0.6, timeout=60, analysis_grace_period=5"
    )
    assert ti.state == "success"
    assert_failures_waited_out_by_the_wait(record_gets(sim, call_id), 0.6)


def test_the_task_hook_keeps_its_retries_and_the_poll_hook_has_none(sim: OneInboxSimulator) -> None:
    sensor = OneInboxCallSensor(task_id="wait", call_id="c1")
    assert sensor.hook.settings.max_retries == 3  # the test connection's
    assert sensor.waiter.poll_hook.settings.max_retries == 0
    assert sensor.waiter.poll_hook is not sensor.hook


def test_the_trigger_and_the_shared_poller_share_one_session(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five waits of one agent: the waits' hooks and the poller's (all retries off) share one lease."""
    call_ids = [place(f"+1415555010{n}") for n in (1, 2, 3, 6, 7)]
    leases: list[session_pool.SessionLease] = []
    retries_asked: set[int] = set()
    acquire = session_pool.acquire

    async def recording_acquire(settings: Any) -> session_pool.SessionLease:
        retries_asked.add(settings.max_retries)
        lease = await acquire(settings)
        leases.append(lease)
        return lease

    monkeypatch.setattr(session_pool, "acquire", recording_acquire)
    triggers = [
        OneInboxCallTrigger(
            c, poll_interval=0.2, deadline=time.time() + 60, analysis_grace_period=5, agent_id=AGENT
        )
        for c in call_ids
    ]

    async def one(trigger: OneInboxCallTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    async def all_of() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(t) for t in triggers)))

    events = asyncio.run(all_of())
    assert [e["status"] for e in events] == ["success"] * 5
    assert sim.requests(method="GET", path_prefix="/v1/calls/cursor")  # the shared poller did list
    assert len(leases) >= 6  # five waits and the poller
    assert len({id(lease) for lease in leases}) == 1
    assert retries_asked == {0}  # every hook of the waits and the poller sends once, no retry


@pytest.mark.airflow_db
def test_soft_fail_skips_a_failed_call_without_hanging_up(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    """The poke's own failure, turned into a skip by soft_fail, is not the base's timeout."""
    call_id = place("+14155550104")  # fails: carrier_error
    ti = run_sensor(load_dag, call_id, "deferrable=False, soft_fail=True, poke_interval=0.2, timeout=30")
    assert ti.state == "skipped"
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")


@pytest.mark.airflow_db
def test_soft_fail_skips_at_the_base_timeout_and_hangs_up(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    call_id = place("+14155550105")  # talks for 10 simulated minutes
    ti = run_sensor(load_dag, call_id, "deferrable=False, soft_fail=True, poke_interval=0.2, timeout=1")
    assert ti.state == "skipped"
    assert len(sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")) == 1
    time.sleep(0.3)  # end_reason arrives with the post-call data
    assert get(call_id)["end_reason"] == "api_stop"
