"""
OneInboxCampaignOperator, deferrable: waits in the triggerer, resumes tens of times at most, and
calls everyone once per attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db
#: Airflow 3.3+: the task state store holds when each attempt began (our clock). Without it (3.1)
#: a redial of a call only the walk knows is anchored on the API's own ``ended_at``, and the
#: simulator's clock runs 20 times faster than ours: such redials fall due late (correct against a
#: real API), so the hundreds-of-contacts test redials only with the store.
STORE = find_spec("airflow.models.task_state_store") is not None


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
    # are never answered ("...0102" numbers) and redialled once (with a task state store: see STORE).
    numbers = many_numbers(296) + [f"+1{area}5550102" for area in ("415", "212", "312", "617")]
    attempts = 2 if STORE else 1
    contacts = [{"key": f"c{i}", "to_number": n} for i, n in enumerate(numbers)]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        "max_concurrent_calls=50, calls_per_minute=600, deferrable=True, min_defer_seconds=1, "
        f'redial_outcomes=["Not Connected"], max_attempts={attempts}, redial_after=1',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    unanswered = set(numbers[296:])
    expected = {n: attempts if n in unanswered else 1 for n in numbers}
    assert {n: sim.calls_created(n) for n in numbers} == expected
    record = sim.limits_record()
    assert record["peak_live_calls_by_agent"]["agt_sales"] <= 50
    written = rows(results)
    assert [row["key"] for row in written] == [f"c{i}" for i in range(len(numbers))]
    assert sum(row["attempts"] for row in written) == 296 + 4 * attempts
    assert all(row["status"] == "completed" for row in written)
    # Tens of task runs at most, not one per call: while calls end often the worker polls them
    # itself. With the redials (3.3) nothing but their due time is left at the end: it defers.
    assert len(task_runs) <= 30, len(task_runs)
    if STORE:
        assert len(task_runs) >= 2, len(task_runs)
