"""
When a campaign's next round is due: a free slot never waits for a call to end.

A round places at most one call per pacing slot, so at a high rate the slot after it may already
have passed when the round ends (the create took longer than the spacing). With slots free, the
next round is due at once; a deferrable campaign that waited for a call to end instead left its
other contacts uncalled for a whole call (a clean-clone CI run: 1 of 4 placed, then deferred).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import campaign, direct_runner, many_numbers, run

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def _never() -> datetime:
    from airflow_provider_oneinbox._compat import UTC

    return datetime.max.replace(tzinfo=UTC)


def test_a_slot_that_passed_during_the_round_is_due_now_while_slots_are_free(sim: OneInboxSimulator) -> None:
    from airflow_provider_oneinbox._compat import UTC

    start = datetime.now(UTC)
    runner = direct_runner(many_numbers(3), 3, start)  # 600 a minute: a slot every 0.1 s
    assert runner.round(start) == 1  # one start per slot
    assert runner.next_wake(start + timedelta(seconds=0.05), None) == start + timedelta(seconds=0.1)
    later = start + timedelta(seconds=0.4)  # the create took longer than the spacing
    assert runner.next_wake(later, None) == later
    assert runner.round(later) == 1
    assert sim.calls_created() == 2


def test_with_every_slot_taken_a_passed_slot_waits_for_a_call_to_end(sim: OneInboxSimulator) -> None:
    from airflow_provider_oneinbox._compat import UTC

    start = datetime.now(UTC)
    runner = direct_runner(many_numbers(2), 1, start)
    assert runner.round(start) == 1
    later = start + timedelta(seconds=0.4)
    assert runner.next_wake(later, None) == _never()  # the trigger wakes it when the call ends
    assert runner.next_wake(later, timedelta(seconds=2)) == later + timedelta(seconds=2)  # worker polls


def test_a_redial_due_later_with_nothing_live_is_waited_for_not_polled(sim: OneInboxSimulator) -> None:
    from airflow_provider_oneinbox._compat import UTC

    start = datetime.now(UTC)
    runner = direct_runner(many_numbers(1), 1, start)
    due = start + timedelta(minutes=10)
    runner.states[0].due = due  # e.g. a redial's due time
    runner.last_start = start - timedelta(seconds=5)  # the pacing slot is long past
    assert runner.round(start) == 0
    assert runner.next_wake(start, None) == due


def test_a_deferrable_campaign_places_every_free_slot_before_deferring_when_creates_are_slow(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, task_runs: list[Any]
) -> None:
    numbers = many_numbers(4)
    sim.set_faults(latency=0.3, only_methods=["POST"])  # each create outlasts the 0.1 s spacing
    body = campaign(
        [{"to_number": n} for n in numbers],
        tmp_path / "results.jsonl",
        "max_concurrent_calls=4, calls_per_minute=600, deferrable=True, min_defer_seconds=0.5",
    )
    dag_run = run(load_dag, body)
    assert dag_run.state == "success"
    assert sim.calls_created() == 4
    deferral = task_runs[0].msg  # the first try deferred once every slot had its call
    assert len(deferral.trigger_kwargs["call_ids"]) == 4, deferral.trigger_kwargs["call_ids"]
