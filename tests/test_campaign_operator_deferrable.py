"""
OneInboxCampaignOperator, deferrable: waits in the triggerer, resumes tens of times at most, and
calls everyone once per attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_a_deferrable_campaign_waits_in_the_triggerer_and_resumes_a_few_times(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, task_runs: list[Any]
) -> None:
    # Two contacts at once, then nothing but the calls' ends (and a redial 3 s later) to wait for.
    contacts = [{"key": f"c{i}", "to_number": number} for i, number in enumerate(NUMBERS[:3])]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        "max_concurrent_calls=3, calls_per_minute=600, deferrable=True, min_defer_seconds=0.5, "
        'redial_outcomes=["Not Connected"], max_attempts=2, redial_after=3',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert {number: sim.calls_created(number) for number in NUMBERS[:3]} == {
        NUMBERS[0]: 1,
        NUMBERS[1]: 2,
        NUMBERS[2]: 1,
    }
    written = rows(results)
    assert [row["attempts"] for row in written] == [1, 2, 1]
    assert [row["outcome"] for row in written] == ["Appointment Booked", "Not Connected", "Voicemail"]
    # It deferred at least once (more than one task run), and resumed far fewer times than calls x polls.
    assert 2 <= len(task_runs) <= 8, len(task_runs)


def test_a_deferrable_campaign_of_hundreds_calls_everyone_once_per_attempt_in_tens_of_resumes(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, task_runs: list[Any]
) -> None:
    from tests.helpers.campaigns import many_numbers

    # 300 contacts, 50 at once; the simulator's 20 s calls take about a second of real time. Four
    # are never answered ("...0102" numbers) and redialled once.
    numbers = many_numbers(296) + [f"+1{area}5550102" for area in ("415", "212", "312", "617")]
    contacts = [{"key": f"c{i}", "to_number": n} for i, n in enumerate(numbers)]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        "max_concurrent_calls=50, calls_per_minute=600, deferrable=True, min_defer_seconds=1, "
        'redial_outcomes=["Not Connected"], max_attempts=2, redial_after=1',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    unanswered = set(numbers[296:])
    assert {n: sim.calls_created(n) for n in numbers} == {n: 2 if n in unanswered else 1 for n in numbers}
    record = sim.limits_record()
    assert record["peak_live_calls_by_agent"]["agt_sales"] <= 50
    written = rows(results)
    assert [row["key"] for row in written] == [f"c{i}" for i in range(len(numbers))]
    assert sum(row["attempts"] for row in written) == 304
    assert all(row["status"] == "completed" for row in written)
    # It deferred (more than one task run) and resumed tens of times at most, not once per call.
    print("task runs:", len(task_runs))
    assert 2 <= len(task_runs) <= 30, len(task_runs)
