"""
OneInboxCampaignOperator, worker-only: paced calls, one per contact and attempt, rows in input order
(``dag.test()`` against the simulator).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import task_xcoms
from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


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
    assert written[1]["outcome"] == "Not Connected", written[1]
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
