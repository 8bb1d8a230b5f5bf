"""
A task that failed by itself is not a user's kill: the worker leaves a marker (an XCom naming the
try) when a resumed try fails, and ``on_kill`` of both triggers, reading ``failed``, then leaves the
calls alone. This is the case of a stalled triggerer waking after the wait failed on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.kill_marker import FAILED_BY_ITSELF_KEY
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.conftest import task_xcoms
from tests.helpers.calls import place
from tests.helpers.dags import write_dag
from tests.helpers.trigger_runs import campaign_trigger_for
from tests.helpers.triggerers import FAKE_TASK_INSTANCE, in_a_triggerer, task_state_is


def stops(sim: OneInboxSimulator) -> int:
    return sum(1 for r in sim.requests(method="POST") if r["path"].endswith("/stop"))


def both_triggers(call_ids: list[str]) -> list[Any]:
    return [OneInboxCallTrigger(call_ids[0]), campaign_trigger_for(call_ids)]


@pytest.mark.parametrize(
    ("marker", "hangs_up"),
    [
        (FAKE_TASK_INSTANCE.try_number, False),  # this try failed by itself
        (None, True),  # no marker: a user's "mark failed"
        (FAKE_TASK_INSTANCE.try_number - 1 or 99, True),  # an earlier try's marker says nothing of this one
    ],
)
def test_on_kill_of_a_task_failed_by_itself_leaves_the_calls_alone(
    frozen: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, marker: int | None, hangs_up: bool
) -> None:
    for trigger in both_triggers([place("+14155596605"), place("+14155596705")]):
        before = stops(frozen)
        xcoms = {} if marker is None else {FAILED_BY_ITSELF_KEY: marker}
        comms = in_a_triggerer(monkeypatch, trigger, task_state_is("failed"), xcoms)

        asyncio.run(trigger.on_kill())

        assert len(comms.xcom_requests) == 1
        assert comms.xcom_requests[0].key == FAILED_BY_ITSELF_KEY
        assert (stops(frozen) > before) is hangs_up, type(trigger).__name__


def test_a_deferred_call_task_that_fails_by_itself_leaves_the_marker(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    sim.configure(speed=2)
    body = """
OneInboxPlaceCallOperator(
    task_id="call", agent_id="agt_sales", from_number="+14155550100", to_number="+14155596805",
    wait_for_completion=True, deferrable=True, poll_interval=0.2, timeout=1, hang_up_on_timeout=False,
)
"""
    dag_run = write_dag(load_dag, body).test()

    assert dag_run.state == "failed"
    assert task_xcoms(dag_run, "call", FAILED_BY_ITSELF_KEY) == [1]
    assert stops(sim) == 0
