"""Placing and reading calls on the simulator the ``sim`` fixture points ``oneinbox_default`` at."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.results import build_call_result
from tests.helpers.dags import instances

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

FROM = "+14155550100"
AGENT = "agt_sales"


def place(to_number: str, agent_id: str = AGENT) -> str:
    """Place a call through the sync hook; its id."""
    with OneInboxHook() as hook:
        return str(hook.create_call(agent_id=agent_id, to_number=to_number, from_number=FROM)["id"])


def get(call_id: str) -> dict[str, Any]:
    """The call's record through the sync hook."""
    with OneInboxHook() as hook:
        return hook.get_call(call_id)


def calls_to(to_number: str) -> list[dict[str, Any]]:
    """
    Every call the API holds to ``to_number`` (the simulator's own count is checked too).

    Walks offset pages (``GET /v1/calls``), so the operator's own searches (``GET /v1/calls/cursor``)
    can be counted apart.
    """
    return [call for call in calls_to_all() if call["to_number"] == to_number]


def calls_to_all() -> list[dict[str, Any]]:
    """Every call of :data:`AGENT` the API holds, through offset pages."""
    with OneInboxHook() as hook:
        return list(hook.iter_calls_offset(agent_id=AGENT))


def assert_one_call_and_its_transcript(
    sim: OneInboxSimulator, dag_run: Any, to_number: str, map_index: int = -1
) -> dict[str, Any]:
    """
    Exactly one call was created to ``to_number``, and the task's XComs hold its transcript.

    :param sim: The simulator the run placed its calls on.
    :param dag_run: What ``dag.test()`` returned; the task is ``call``.
    :param to_number: The call's destination.
    :param map_index: The task instance's map index.
    """
    assert sim.calls_created(to_number) == 1
    (call,) = calls_to(to_number)
    expected = build_call_result(call)
    assert expected["transcript"], call  # a finished call with messages
    ti = next(ti for ti in instances(dag_run) if ti.map_index == map_index)
    result = ti.xcom_pull(task_ids="call", map_indexes=map_index)
    assert result["call_id"] == call["id"]
    assert result["transcript"] == expected["transcript"]
    assert ti.xcom_pull(task_ids="call", key="transcript", map_indexes=map_index) == expected["transcript"]
    assert ti.xcom_pull(task_ids="call", key="call_id", map_indexes=map_index) == call["id"]
    return call
