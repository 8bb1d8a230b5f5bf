"""OneInboxCampaignOperator, worker-only path, through real ``dag.test()`` runs against the simulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import task_xcoms
from tests.helpers.dags import write_dag

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db

FROM = "+14155550100"
PRELUDE = "from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator"
#: Last two digits choose the simulator's scenario: 01 booked, 02 not connected, 03 voicemail,
#: 07 not interested, others default ("Interested").
NUMBERS = ["+14155550101", "+14155550102", "+14155550103", "+14155550107", "+14155550111", "+14155550122"]


def campaign(contacts: list[dict[str, Any]], results: Path, extra: str = "") -> str:
    return (
        f'OneInboxCampaignOperator(task_id="campaign", agent_id="agt_sales", from_number="{FROM}", '
        f"contacts={contacts!r}, results_path={str(results)!r}, poll_interval=0.2, "
        f"analysis_grace_period=2, progress_interval=1, {extra})"
    )


def run(load_dag: Callable[..., Any], body: str) -> Any:
    return write_dag(load_dag, body, PRELUDE, prefix="campaign").test()


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_paced_campaign_calls_each_contact_once_per_attempt_and_writes_rows_in_input_order(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_concurrent_calls=2, max_calls_per_second=1)
    contacts = [{"key": f"c{i}", "to_number": number} for i, number in enumerate(NUMBERS)]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        'max_concurrent_calls=2, calls_per_minute=120, redial_outcomes=["Not Connected"], '
        "max_attempts=2, redial_after=0.5",
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    (summary,) = task_xcoms(dag_run, "campaign")
    # One call per contact, two for the unanswered one (its redial), none more.
    calls = {number: sim.calls_created(number) for number in NUMBERS}
    assert calls == {number: 2 if number.endswith("02") else 1 for number in NUMBERS}
    record = sim.limits_record()
    assert record["refusals_by_code"] == {}, record
    assert record["peak_live_calls_by_agent"]["agt_sales"] <= 2
    assert record["peak_creates_per_second"] <= 1
    written = rows(results)
    assert [row["key"] for row in written] == [f"c{i}" for i in range(len(NUMBERS))]
    assert [row["attempts"] for row in written] == [1, 2, 1, 1, 1, 1]
    assert all(len(row["call_ids"]) == row["attempts"] for row in written)
    assert written[0]["outcome"] == "Appointment Booked"
    assert written[1]["outcome"] == "Not Connected"
    assert written[2]["outcome"] == "Voicemail"
    assert summary["contacts"] == 6
    assert summary["calls"] == 7
    assert summary["results"] == str(results)


def test_invalid_contacts_are_reported_in_place_and_never_called(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    contacts = [
        {"key": "a", "to_number": NUMBERS[4]},
        {"key": "bad", "to_number": "12"},
        {"key": "b", "to_number": NUMBERS[5]},
    ]
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign(contacts, results, 'max_concurrent_calls=2, on_invalid="skip"'))

    assert dag_run.state == "success"
    written = rows(results)
    assert [row["key"] for row in written] == ["a", "bad", "b"]
    assert written[1]["status"] == "not_called"
    assert written[1]["reason"].startswith("invalid: ")
    assert [row["status"] for row in (written[0], written[2])] == ["completed", "completed"]
    assert sim.calls_created() == 2


def test_quota_policy_fail_places_no_call_when_the_quota_is_short(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_calls_per_day=1)
    contacts = [{"to_number": number} for number in NUMBERS[4:]]
    dag_run = run(load_dag, campaign(contacts, tmp_path / "r.jsonl", 'quota_policy="fail"'))

    assert dag_run.state == "failed"
    assert sim.calls_created() == 0
