"""The notifier's example DAGs, end to end through ``dag.test()`` against the simulator."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import airflow
import pytest
from packaging.version import Version

from airflow_provider_oneinbox.rules.notify import NOTIFY_RUN_METADATA_KEY
from tests.conftest import TEST_API_KEY
from tests.helpers.calls import calls_to, place
from tests.helpers.notify import answer_approval_when_asked

ON_CALL_NOT_ANSWERING = "+14155550102"
BACKUP = "+14155550101"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEINBOX_POLL_INTERVAL", "0.3")
    monkeypatch.setenv("ONEINBOX_AGENT_ID", "agt_sales")  # the agent tests.helpers.calls reads


#: Whether dag.test() can resume a human-in-the-loop task (3.1's in-process supervisor does not
#: answer the trigger's GetHITLDetailResponse: the task fails after its notifiers ran).
HITL_IN_DAG_TEST = Version(airflow.__version__).release >= (3, 3)


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def _escalation_runs(run_prefix: str = "escalation__") -> list[Any]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(DagRun).where(DagRun.dag_id == "oneinbox_notify_escalation")
        runs = [run for run in session.scalars(query) if run.run_id.startswith(run_prefix)]
        session.expunge_all()
        return runs


def test_failure_example_phones_on_call_then_its_escalation_run_calls_the_backup(
    sim: Any,
    load_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ONEINBOX_ON_CALL_NUMBER", ON_CALL_NOT_ANSWERING)
    monkeypatch.setenv("ONEINBOX_ESCALATION_NUMBERS", BACKUP)
    monkeypatch.setenv("ONEINBOX_ACK_OUTCOMES", "Appointment Booked")
    monkeypatch.setenv("ONEINBOX_ANSWER_TIMEOUT", "120")
    escalation = load_dag("oneinbox_notify_escalation.py")
    # dag.test() registers the DAG, so the notifier's request for a run of it can be accepted.
    escalation.test(run_conf={"first_call_id": place("+14157090109"), "numbers": []})

    dag_run = load_dag("oneinbox_notify_on_failure.py").test()

    assert _states(dag_run) == {"extract": "success", "load_warehouse": "failed"}
    (first,) = calls_to(ON_CALL_NOT_ANSWERING)
    assert first["variables"]["task_id"] == "load_warehouse"
    assert first["variables"]["team"] == "data platform"
    assert sim.calls_created(BACKUP) == 0, "the backup is only called once the first call is not acknowledged"
    (requested,) = [run for run in _escalation_runs() if run.conf.get("first_call_id") == first["id"]]
    assert requested.conf["numbers"] == [BACKUP]
    assert requested.conf["acknowledge_outcomes"] == ["Appointment Booked"]

    # The escalation run, as the scheduler would run it: the first call is not answered: call the backup.
    with caplog.at_level(logging.INFO):
        escalated = escalation.test(run_conf=requested.conf)

    assert sim.calls_created(BACKUP) == 1
    (backup,) = calls_to(BACKUP)
    assert backup["variables"]["escalation_step"] == "1"
    assert backup["variables"]["task_id"] == "load_warehouse"
    states = _states(escalated)
    assert states["wait_for_first_call"] == "success"
    assert states["escalate_1"] == states["call_1"] == "success"
    assert states["escalate_2"] == "success", "the backup acknowledged: the chain ends here"
    assert {states[f"call_{n}"] for n in range(2, 6)} == {"skipped"}
    assert "Call acknowledged (outcome 'Appointment Booked')" in caplog.text
    out = capfd.readouterr()
    assert TEST_API_KEY not in out.out + out.err + caplog.text


def test_escalation_goes_down_the_list_until_nobody_is_left(sim: Any, load_dag: Any) -> None:
    first = place("+14157090102")  # not answered
    numbers = ["+14157090202", "+14157090307"]  # not answered; answered, "Not Interested"
    escalation = load_dag("oneinbox_notify_escalation.py")
    conf = {
        "first_call_id": first,
        "numbers": numbers,
        "acknowledge_outcomes": ["Acknowledged"],
        "agent_id": "agt_sales",
        "from_number": "+14155550100",
        "variables": {"alert": "task_failed"},
    }
    states = _states(escalation.test(run_conf=conf))

    assert [sim.calls_created(number) for number in numbers] == [1, 1]
    assert states["call_1"] == states["call_2"] == "success"
    assert states["escalate_3"] == "skipped" or states["call_3"] == "skipped"
    assert states["call_3"] == "skipped"


def test_approval_example_phones_the_approver_once_and_the_approved_step_runs(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag("oneinbox_notify_approval.py")
    answer_approval_when_asked(dag.dag_id, "approve_refund", ["Approve"])
    dag_run = dag.test(run_conf={"amount": "75.00"})

    if HITL_IN_DAG_TEST:
        assert _states(dag_run) == {"approve_refund": "success", "issue_refund": "success"}
    (call,) = calls_to("+14155550101")
    variables = call["variables"]
    assert variables["alert"] == "approval_requested"
    assert variables["approval_subject"] == f"Refund 75.00 USD to order {dag_run.run_id}?"
    assert variables["approval_options"] == "Approve, Reject"
    run = quote(dag_run.run_id, safe="")
    assert variables["approval_url"] == (
        f"http://localhost:8080/dags/{dag.dag_id}/runs/{run}/tasks/approve_refund/required_actions?map_index=-1"
    )
    assert variables["amount"] == "75.00 USD"
    assert call["metadata"][NOTIFY_RUN_METADATA_KEY]
    out = capfd.readouterr()
    assert TEST_API_KEY not in out.out + out.err


def test_deadline_example_phones_once_from_the_worker_side_callback_and_never_from_the_triggerer(
    sim: Any, load_dag: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ONEINBOX_REPORT_SECONDS", "0")
    dag = load_dag("oneinbox_notify_deadline.py")
    if not dag.deadline:
        pytest.skip("this Airflow runs Deadline Alerts' callbacks only in the triggerer (3.1)")
    (alert,) = dag.deadline
    # dag.test() (3.3.2) cannot finish a run of a DAG with a Deadline Alert: DagRun.update_state looks
    # up alert ids that only the DAG processor writes. Run it without, then miss the deadline as the
    # scheduler would: Airflow's executor-side runner calls the alert's callback with its context.
    dag.deadline = None
    dag_run = dag.test()
    assert _states(dag_run) == {"nightly_report": "success"}

    from tests.helpers.notify import missed_deadline_context, run_executor_callback

    context = missed_deadline_context(dag_run)
    for _ in range(2):  # Airflow may run a callback again (a worker lost mid-callback)
        assert run_executor_callback(alert.callback, context) == (True, None)

    (call,) = calls_to("+14155550101")
    variables = call["variables"]
    assert variables["alert"] == "deadline_missed"
    assert variables["dag_id"] == "oneinbox_notify_deadline"
    assert variables["run_id"] == dag_run.run_id
    assert variables["deadline_time"] == context["deadline"]["deadline_time"]
    assert variables["team"] == "reporting"
    assert "task_id" not in variables

    # As an AsyncCallback (the triggerer), the notifier refuses: no POST from a trigger.
    from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

    notifier = OneInboxCallNotifier(**alert.callback.kwargs, context=context)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="never sent from a trigger"):
        await_notifier(notifier)
    assert sim.calls_created() == 1


def await_notifier(notifier: Any) -> None:
    import asyncio

    async def run() -> None:
        await notifier

    asyncio.run(run())
