"""Both example DAGs run end to end through a real Airflow (``dag.test()``) against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, task_xcoms

CARRIER_KEY = "example_carrier_token_0a1b2c3d"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEINBOX_POLL_INTERVAL", "0.3")


@pytest.fixture
def carrier_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_CARRIER", '{"conn_type": "generic", "password": "' + CARRIER_KEY + '"}'
    )


def test_outbound_call_dag_reports_transcript_and_analysis(
    sim: Any, load_dag: Any, carrier_connection: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag("oneinbox_outbound_call.py")
    dag_run = dag.test(run_conf={"to_number": "+14157010001", "customer_name": "Sama"})
    assert dag_run.state == "success"

    (call_id,) = task_xcoms(dag_run, "place_call")
    (result,) = task_xcoms(dag_run, "wait_for_call")
    (transcript,) = task_xcoms(dag_run, "wait_for_call", key="transcript")
    (analysis,) = task_xcoms(dag_run, "wait_for_call", key="analysis")
    (report,) = task_xcoms(dag_run, "report")
    assert result["call_id"] == call_id
    assert result["status"] == "completed"
    assert analysis["outcome"] == "Appointment Booked"
    assert transcript.startswith("Agent: ")
    assert "Sama" in transcript, "per-run variables must reach the agent"
    assert report == {"call_id": call_id, "outcome": "Appointment Booked"}
    assert sim.calls_created("+14157010001") == 1

    out, err = capfd.readouterr()
    assert "Outcome: Appointment Booked" in out + err
    for secret in (TEST_API_KEY, CARRIER_KEY):
        assert secret not in out + err


def test_campaign_dag_places_one_call_per_contact_and_summarises(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    suffixes = ["01", "02", "03", "04", "07", "10"]
    contacts = [
        {"to_number": f"+14157030{i}{s}", "customer_name": f"Contact {i}"} for i, s in enumerate(suffixes)
    ]
    contacts.append({"to_number": "555-0199", "customer_name": "No country code"})
    dag = load_dag("oneinbox_call_campaign.py")
    dag_run = dag.test(run_conf={"contacts": contacts})

    results = task_xcoms(dag_run, "place_call")
    (summary,) = task_xcoms(dag_run, "summarise")
    # failures_as_results: one result per contact, in contact order, failures included.
    assert [result["status"] for result in results] == ["completed"] * 3 + ["failed"] + ["completed"] * 2 + [
        "not_placed"
    ]
    assert [result["to_number"] for result in results] == [contact["to_number"] for contact in contacts]
    assert "to_number" in results[-1]["reason"]
    for contact in contacts[:-1]:
        assert sim.calls_created(contact["to_number"]) == 1
    assert sim.calls_created() == len(contacts) - 1  # the refused number was never dialled
    assert summary == {
        "calls": 7,
        "completed": 5,
        "failed": 1,
        "not_placed": 1,
        "outcomes": {
            "Appointment Booked": 1,
            "Not Connected": 1,
            "Voicemail": 1,
            "Not Interested": 1,
            "Interested": 1,
        },
    }
    states = [ti.state for ti in dag_run.get_task_instances() if ti.task_id == "place_call"]
    assert states == ["success"] * len(contacts)


@pytest.mark.usefixtures("sim")
def test_a_campaign_longer_than_max_map_length_says_so_and_the_summary_reports_it(
    load_dag: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    contacts = [{"to_number": f"+1415703020{i}", "customer_name": "x"} for i in range(5)]
    dag_run = load_dag("oneinbox_call_campaign.py").test(run_conf={"contacts": contacts})

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"call_requests": "failed", "place_call": "upstream_failed", "summarise": "success"}
    out = capfd.readouterr()
    assert "[core] max_map_length" in out.out + out.err
    (summary,) = task_xcoms(dag_run, "summarise")
    assert summary["calls"] == 0
    assert "call_requests failed" in summary["error"]
