"""
OneInboxCampaignOperator after a worker crash: the retry reattaches to the calls placed and calls
only the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import use_simulator
from tests.helpers.campaigns import NUMBERS, PRELUDE, campaign, rows
from tests.helpers.dags import write_dag

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


CRASH_ONCE = (
    PRELUDE
    + '''

class CrashOnce(OneInboxCampaignOperator):
    """Dies (as a worker would) on its first try once two contacts are called."""

    def _build(self, context):
        runner = super()._build(context)
        if context["ti"].try_number == 1:
            place = runner._place

            def crashing(state, now):
                if sum(1 for s in runner.states if s.call_ids) >= 2:
                    raise RuntimeError("worker died mid-campaign")
                return place(state, now)

            runner._place = crashing
        return runner
'''
)


def test_a_retry_after_a_crash_reattaches_to_the_calls_placed_and_calls_the_rest(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry paces from the last recorded attempt plus the create's timeout: keep that short.
    use_simulator(sim, monkeypatch, timeout=2)
    contacts = [{"to_number": number} for number in NUMBERS[3:]]
    results = tmp_path / "results.jsonl"
    body = campaign(contacts, results, "max_concurrent_calls=3, retries=1, retry_delay=timedelta(0)")
    dag_run = write_dag(load_dag, body.replace("OneInboxCampaignOperator(", "CrashOnce("), CRASH_ONCE).test()

    assert dag_run.state == "success"
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "campaign"]
    assert ti.try_number == 2
    assert {number: sim.calls_created(number) for number in NUMBERS[3:]} == dict.fromkeys(NUMBERS[3:], 1)
    written = rows(results)
    assert [row["attempts"] for row in written] == [1, 1, 1]
    assert [row["status"] for row in written] == ["completed"] * 3
