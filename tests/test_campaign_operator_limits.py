"""OneInboxCampaignOperator against the API's limits: the daily quota and the agent's concurrency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_quota_policy_fail_places_no_call_when_the_quota_is_short(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_calls_per_day=1)
    contacts = [{"to_number": number} for number in NUMBERS[4:]]
    dag_run = run(load_dag, campaign(contacts, tmp_path / "r.jsonl", 'quota_policy="fail"'))

    assert dag_run.state == "failed"
    assert sim.calls_created() == 0


def test_a_concurrency_refusal_waits_for_a_slot_and_never_calls_anyone_twice(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    # The agent takes fewer calls than the campaign was told: the API refuses with 429, creating nothing.
    sim.configure(max_concurrent_calls=1)
    contacts = [{"to_number": number} for number in NUMBERS[3:]]
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign(contacts, results, "max_concurrent_calls=3, calls_per_minute=600"))

    assert dag_run.state == "success"
    assert {number: sim.calls_created(number) for number in NUMBERS[3:]} == dict.fromkeys(NUMBERS[3:], 1)
    record = sim.limits_record()
    assert record["refusals_by_code"].get("CONCURRENCY_LIMIT_REACHED", 0) >= 1, record
    assert record["peak_live_calls_by_agent"]["agt_sales"] == 1
    assert [row["status"] for row in rows(results)] == ["completed"] * 3


def test_a_quota_refusal_pauses_dialling_and_the_deadline_reports_the_rest_as_quota(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_calls_per_day=2)
    contacts = [{"to_number": number} for number in NUMBERS[2:]]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts, results, 'max_concurrent_calls=4, quota_policy="fit", deadline=timedelta(seconds=4)'
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert sim.calls_created() == 2
    written = rows(results)
    assert [row["status"] for row in written] == ["completed", "completed", "not_called", "not_called"]
    assert [row["reason"] for row in written[2:]] == ["daily quota", "daily quota"]
