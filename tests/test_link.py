"""The "OneInbox Call" extra link points at the call the task placed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_oneinbox.links.oneinbox import OneInboxCallLink
from tests.conftest import CONN_ID, connection_json, task_xcoms
from tests.helpers.dags import write_dag

#: The one task of these DAGs; ``{extra}``: more arguments, as source starting with a comma.
PLACE_CALL = (
    'OneInboxPlaceCallOperator(task_id="place_call", agent_id="agt_sales", to_number="{to}", '
    'from_number="+14157030000"{extra})'
)


def link_dag(load_dag: Any, extra: str = "") -> Any:
    """A DAG placing one call, written to the dags folder and imported."""
    return write_dag(load_dag, PLACE_CALL.format(to="+14157030001", extra=extra), prefix="link")


def test_link_is_built_from_the_call_id_and_the_connection_template(sim: Any, load_dag: Any) -> None:
    dag = link_dag(load_dag)
    assert any(isinstance(link, OneInboxCallLink) for link in dag.get_task("place_call").operator_extra_links)
    dag_run = dag.test()
    (call_id,) = task_xcoms(dag_run, "place_call", key="call_id")
    (link,) = task_xcoms(dag_run, "place_call", key="_link_OneInboxCallLink")
    assert str(uuid.UUID(call_id)) == call_id  # the simulator's default ids, as the API types them
    assert link == f"https://app.oneinbox.ai/calls/{call_id}"


def test_link_follows_the_connections_url_template(
    sim: Any, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = "https://oneinbox.example.com/workspace/calls/{call_id}?tab=transcript"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, call_url_template=template)
    )
    dag_run = link_dag(load_dag).test()
    (call_id,) = task_xcoms(dag_run, "place_call", key="call_id")
    (link,) = task_xcoms(dag_run, "place_call", key="_link_OneInboxCallLink")
    assert link == template.format(call_id=call_id)


def test_a_task_that_placed_no_call_logs_no_xcom_error_and_a_stop_links_its_call(
    sim: Any, load_dag: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.helpers.calls import place

    call_id = place("+14157030005")
    failing_before_any_call = PLACE_CALL.format(to="not a number", extra="")
    body = f'{failing_before_any_call}\nOneInboxStopCallOperator(task_id="stop", call_id="{call_id}")'
    dag_run = write_dag(load_dag, body, prefix="link_no_call").test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"place_call": "failed", "stop": "success"}
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "to_number" in logs  # the task's own error is there
    assert "XCom not found" not in logs  # and no error about a link it never had
    assert task_xcoms(dag_run, "place_call", key="_link_OneInboxCallLink") == [""]
    assert task_xcoms(dag_run, "stop", key="_link_OneInboxCallLink") == [
        f"https://app.oneinbox.ai/calls/{call_id}"
    ]


def test_a_task_resumed_from_deferral_keeps_its_link(sim: Any, load_dag: Any) -> None:
    dag_run = link_dag(
        load_dag, ", wait_for_completion=True, poll_interval=0.2, analysis_grace_period=2"
    ).test()
    (call_id,) = task_xcoms(dag_run, "place_call", key="call_id")
    (link,) = task_xcoms(dag_run, "place_call", key="_link_OneInboxCallLink")
    assert task_xcoms(dag_run, "place_call")[0]["call_id"] == call_id  # it waited, deferred
    assert link == f"https://app.oneinbox.ai/calls/{call_id}"
