"""OneInboxPlaceCallOperator and OneInboxStopCallOperator through real ``dag.test()`` runs."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator, call_idempotency_key
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.conftest import task_xcoms
from tests.helpers.calls import get
from tests.helpers.dags import instances, write_dag

pytestmark = pytest.mark.airflow_db

FROM = "+14155550100"
#: Airflow 3.3 added the durable task state store; older versions reattach by searching.
HAS_TASK_STATE_STORE = importlib.util.find_spec("airflow.sdk.bases.resumablejobmixin") is not None


def run_dag(load_dag: Callable[..., Any], body: str, prelude: str = "", **test_kwargs: Any) -> Any:
    """Write a DAG whose ``with`` block is ``body``, run it with ``dag.test()``, return the DagRun."""
    return write_dag(load_dag, body, prelude, prefix="calls").test(**test_kwargs)


def place_call(to: str, extra: str = "") -> str:
    return (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="agt_sales", to_number="{to}", '
        f'from_number="{FROM}", poll_interval=0.2, analysis_grace_period=1, {extra})'
    )


def test_place_call_returns_its_id_and_pushes_xcoms_before_any_wait(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    to = "+14155550199"
    body = place_call(
        to, 'variables={"customer_name": "{{ dag_run.conf[\'name\'] }}"}, metadata={"crm": "42"}'
    )
    dag_run = run_dag(load_dag, body, run_conf={"name": "Sama"})
    (ti,) = instances(dag_run)
    assert ti.state == "success"
    (call_id,) = task_xcoms(dag_run, "call")
    assert task_xcoms(dag_run, "call", "call_id") == [call_id]
    assert task_xcoms(dag_run, "call", "call_url") == [f"https://app.oneinbox.ai/calls/{call_id}"]
    assert sim.calls_created(to) == 1
    call = get(call_id)
    assert call["status"] in {"initiated", "in_progress"}  # not awaited
    assert call["variables"] == {"customer_name": "Sama"}
    key = call_idempotency_key(ti.dag_id, ti.run_id, "call", -1)
    assert call["metadata"] == {
        "crm": "42",
        "airflow_dag_id": ti.dag_id,
        "airflow_run_id": ti.run_id,
        "airflow_task_id": "call",
        "airflow_map_index": -1,
        "airflow_idempotency_key": key,
    }
    (post,) = sim.requests(method="POST", path_prefix="/v1/calls")
    assert post["idempotency_key"] == key


@pytest.mark.parametrize("deferrable", [True, False])
def test_place_call_and_wait_returns_the_result(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], deferrable: bool
) -> None:
    dag_run = run_dag(
        load_dag, place_call("+14155550101", f"wait_for_completion=True, deferrable={deferrable}")
    )
    (ti,) = instances(dag_run)
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "call")
    assert result["status"] == "completed"
    assert result["outcome"] == "Appointment Booked"
    assert result["summary"]
    assert task_xcoms(dag_run, "call", "transcript") == [result["transcript"]]
    assert task_xcoms(dag_run, "call", "call_id") == [result["call_id"]]
    assert sim.calls_created("+14155550101") == 1


def test_mapped_expand_places_one_call_per_map_index(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    numbers = ["+14155550111", "+14155550112", "+14155550113"]
    body = f"""
OneInboxPlaceCallOperator.partial(
    task_id="call", agent_id="agt_sales", from_number="{FROM}", wait_for_completion=True,
    poll_interval=0.2, analysis_grace_period=1,
).expand(to_number={numbers!r})
"""
    dag_run = run_dag(load_dag, body)
    assert [ti.state for ti in instances(dag_run)] == ["success"] * 3
    results = task_xcoms(dag_run, "call")
    assert [r["to_number"] for r in results] == numbers
    assert [sim.calls_created(n) for n in numbers] == [1, 1, 1]
    keys = {r["metadata"]["airflow_idempotency_key"] for r in results}
    assert len(keys) == 3


def test_expand_kwargs_places_one_call_per_map_index(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    kwargs: list[dict[str, Any]] = [
        {"to_number": "+14155550121", "variables": {"customer_name": "Ana"}},
        {"to_number": "+14155550122", "variables": {"customer_name": "Ben"}},
    ]
    body = f"""
OneInboxPlaceCallOperator.partial(task_id="call", agent_id="agt_sales", from_number="{FROM}").expand_kwargs(
    {kwargs!r}
)
"""
    dag_run = run_dag(load_dag, body)
    assert [ti.state for ti in instances(dag_run)] == ["success"] * 2
    assert [sim.calls_created(k["to_number"]) for k in kwargs] == [1, 1]
    assert [get(call_id)["variables"] for call_id in task_xcoms(dag_run, "call")] == [
        k["variables"] for k in kwargs
    ]


@pytest.mark.parametrize(
    "extra",
    [
        'to_number="4155550101"',
        'agent_id=""',
        'variables={"when": datetime(2030, 1, 1)}',
        'from_number="+1 415 555 0100"',
        'scheduled_at="2030-01-01T10:00:00"',
    ],
    ids=["to_not_e164", "empty_agent", "variables_not_json", "from_with_spaces", "naive_scheduled_at"],
)
def test_bad_input_fails_before_any_request_and_is_not_retried(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], extra: str
) -> None:
    arguments = {"agent_id": '"agt_sales"', "to_number": '"+14155550101"', "from_number": f'"{FROM}"'}
    name, value = extra.split("=", 1)
    arguments[name] = value
    rendered = ", ".join(f"{k}={v}" for k, v in arguments.items())
    dag_run = run_dag(
        load_dag,
        f'OneInboxPlaceCallOperator(task_id="call", {rendered}, retries=2, retry_delay=timedelta(0))',
    )
    (ti,) = instances(dag_run)
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert sim.requests() == []


def test_unknown_agent_fails_without_retries(sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    body = place_call("+14155550101", "retries=2, retry_delay=timedelta(0)").replace(
        "agt_sales", "agt_nobody"
    )
    (ti,) = instances(run_dag(load_dag, body))
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 1


CRASHING_OPERATORS = '''
from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator


class CrashAfterTheCall(OneInboxPlaceCallOperator):
    """Try 1 dies after the call was placed, awaited and saved: a lost worker, say."""

    def execute(self, context):
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after the call was placed")
        return result


class CrashBeforeSavingTheId(OneInboxPlaceCallOperator):
    """Try 1 dies right after the POST, before the id reaches the task state store."""

    def execute(self, context):
        self.try_number = context["ti"].try_number
        return super().execute(context)

    def _save_call_id(self, store, call_id):
        if self.try_number == 1:
            raise RuntimeError("worker lost right after the call was placed")
        super()._save_call_id(store, call_id)
'''


@pytest.mark.parametrize(("operator", "searches"), [("CrashAfterTheCall", 0), ("CrashBeforeSavingTheId", 1)])
def test_a_retry_after_the_call_was_placed_does_not_dial_again(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], operator: str, searches: int
) -> None:
    to = "+14155550101"
    body = (
        f'{operator}(task_id="call", agent_id="agt_sales", to_number="{to}", from_number="{FROM}", '
        "wait_for_completion=True, deferrable=False, poll_interval=0.2, analysis_grace_period=1, "
        "retries=1, retry_delay=timedelta(0))"
    )
    dag_run = run_dag(load_dag, body, prelude=CRASHING_OPERATORS)
    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 2)
    assert sim.calls_created(to) == 1
    (call_id,) = task_xcoms(dag_run, "call", "call_id")
    assert task_xcoms(dag_run, "call", "transcript") == [task_xcoms(dag_run, "call")[0]["transcript"]]
    assert task_xcoms(dag_run, "call")[0]["call_id"] == call_id
    assert "Thursday at 3pm" in task_xcoms(dag_run, "call", "transcript")[0]
    # Found through the task state store (Airflow 3.3+) when the id was saved, else by searching.
    expected_searches = searches if HAS_TASK_STATE_STORE else 1
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/cursor")) == expected_searches


def test_lost_create_response_reattaches_to_the_call(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    to = "+14155550131"
    sim.set_faults(lose_create_response=1)
    dag_run = run_dag(load_dag, place_call(to, "retries=1, retry_delay=timedelta(0)"))
    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 1)
    assert sim.calls_created(to) == 1
    assert sim.stats()["faults_injected"].get("lost_create_response") == 1
    (call_id,) = task_xcoms(dag_run, "call")
    assert get(call_id)["to_number"] == to


def test_create_failing_with_5xx_is_retried_after_checking(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    to = "+14155550132"
    sim.set_faults(server_error_burst=1, only_methods=["POST"], only_paths=["/v1/calls"])
    dag_run = run_dag(load_dag, place_call(to, "retries=1, retry_delay=timedelta(0)"))
    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 2)
    assert sim.calls_created(to) == 1
    # Try 1 searched after the 5xx, try 2 searched again before dialling.
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/cursor")) == 2


def test_stop_call_operator_hangs_up(sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    with OneInboxHook() as hook:
        call_id = hook.create_call(agent_id="agt_sales", to_number="+14155550105", from_number=FROM)["id"]
    dag_run = run_dag(load_dag, f'OneInboxStopCallOperator(task_id="stop", call_id="{call_id}")')
    (result,) = task_xcoms(dag_run, "stop")
    assert result["call_id"] == call_id
    assert result["status"] == "completed"
    assert set(result) == {"call_id", "status", "end_reason"}
    time.sleep(0.3)
    assert get(call_id)["end_reason"] == "api_stop"


def test_idempotency_key_is_stable_per_task_instance_and_not_per_try() -> None:
    key = call_idempotency_key("dag", "run", "task", 0)
    assert key == call_idempotency_key("dag", "run", "task", 0)
    assert key.startswith("airflow-")
    assert len(key) == len("airflow-") + 32
    assert (
        len(
            {
                key,
                call_idempotency_key("dag", "run", "task", 1),
                call_idempotency_key("dag", "run2", "task", 0),
            }
        )
        == 3
    )


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"poll_interval": -1}, "poll_interval must be > 0"),
        ({"reattach_search_limit": -5}, "reattach_search_limit"),
    ],
)
def test_bad_settings_are_refused_at_init(arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OneInboxPlaceCallOperator(
            task_id="call", agent_id="agt_sales", to_number="+14155550101", from_number=FROM, **arguments
        )


@pytest.mark.parametrize(
    ("operator", "fault", "tries"),
    [
        # The POST's answer is lost: the call may exist and no search may look, so fail at once.
        ("OneInboxPlaceCallOperator", {"lose_create_response": 1}, 1),
        # The worker dies before saving the id: the retry cannot rule out the call, so it fails.
        ("CrashBeforeSavingTheId", {}, 2),
    ],
)
def test_with_the_search_off_an_uncertain_call_fails_rather_than_dial_again(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], operator: str, fault: dict[str, int], tries: int
) -> None:
    """reattach_search_limit=0 cannot rule out an earlier call, so nothing may dial again."""
    to = "+14155550141"
    sim.set_faults(**fault)
    body = (
        f'{operator}(task_id="call", agent_id="agt_sales", to_number="{to}", from_number="{FROM}", '
        "reattach_search_limit=0, retries=1, retry_delay=timedelta(0))"
    )
    dag_run = run_dag(load_dag, body, prelude=CRASHING_OPERATORS)
    (ti,) = instances(dag_run)
    if not HAS_TASK_STATE_STORE and operator == "CrashBeforeSavingTheId":
        tries = 2  # without a store, every retry is in that position anyway
    assert (ti.state, ti.try_number) == ("failed", tries)
    assert sim.calls_created(to) == 1
    assert sim.requests(method="GET", path_prefix="/v1/calls/cursor") == []
