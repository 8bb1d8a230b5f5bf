"""
A deferrable campaign whose trigger runs in real ``airflow triggerer`` processes, one of which
stalls mid-campaign: the other takes the trigger over, the stalled one wakes up and cancels its
copy (on Airflow 3.3 through ``on_kill``, which must read "deferred" and hang up nothing), and the
campaign completes with every contact called once and no call hung up (the simulator's record).

``dag.test()`` runs the campaign task in this process; its trigger is left to the triggerers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.helpers.dags import write_dag
from tests.helpers.triggerers import TriggererProcess, run_with_triggerer_processes, wait_until

pytestmark = pytest.mark.airflow_db

PRELUDE = "from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator"
NUMBERS = [f"+1415577{i:02d}05" for i in range(4)]  # end in 05: each talks 600 simulated seconds
HEALTH_CHECK_THRESHOLD = 4


def trigger_owner(dag_id: str) -> int | None:
    """The triggerer job the campaign task's trigger is assigned to (``None``: none, or not deferred)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        owner = session.scalar(
            select(Trigger.triggerer_id)
            .join(TaskInstance, TaskInstance.trigger_id == Trigger.id)
            .where(TaskInstance.dag_id == dag_id)
        )
    return None if owner is None else int(owner)


def trigger_logs(dag_id: str) -> str:
    """Every line the triggerers logged for the DAG's triggers (beside its task's log files)."""
    from airflow.configuration import conf

    folder = Path(conf.get("logging", "base_log_folder")) / f"dag_id={dag_id}"
    files = sorted(folder.rglob("*.trigger.*.log")) if folder.exists() else []
    return "".join(path.read_text(errors="replace") for path in files)


def stops(sim: OneInboxSimulator) -> int:
    return sum(1 for r in sim.requests(method="POST") if r["route"] == "/v1/calls/{call_id}/stop")


def list_rounds(sim: OneInboxSimulator) -> int:
    return len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))


def test_a_campaign_survives_a_stalled_triggerer_without_hanging_up_or_redialling(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    task_runs: list[Any],
) -> None:
    # The triggerer processes inherit these: a silent triggerer's triggers move after 4 s.
    monkeypatch.setenv("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", str(HEALTH_CHECK_THRESHOLD))
    monkeypatch.setenv("AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC", "1")
    contacts = [{"key": f"c{i}", "to_number": number} for i, number in enumerate(NUMBERS)]
    results = tmp_path / "results.jsonl"
    body = (
        f'OneInboxCampaignOperator(task_id="campaign", agent_id="agt_sales", from_number="+14155550100", '
        f"contacts={contacts!r}, results_path={str(results)!r}, poll_interval=0.2, "
        "analysis_grace_period=2, progress_interval=1, max_concurrent_calls=4, calls_per_minute=600, "
        "deferrable=True, min_defer_seconds=0.5)"
    )
    dag = write_dag(load_dag, body, PRELUDE, prefix="campaign_stall")
    sim.configure(speed=2)  # 300 real seconds a call: they outlive the stall; the test ends them
    seen: dict[str, Any] = {}

    def stall_a_triggerer_mid_campaign(start_triggerer: Callable[[], TriggererProcess]) -> None:
        first = start_triggerer()
        wait_until(lambda: all(sim.calls_created(n) for n in NUMBERS), 90, "every call")
        first_job = wait_until(
            lambda: trigger_owner(dag.dag_id), 60, "the first triggerer to run the trigger"
        )
        rounds = list_rounds(sim)
        wait_until(lambda: list_rounds(sim) >= rounds + 5, 30, "the first triggerer's list walks")

        second = start_triggerer()
        first.stall()
        wait_until(
            lambda: trigger_owner(dag.dag_id) not in (None, first_job),
            HEALTH_CHECK_THRESHOLD + 60,
            "the second triggerer to take the trigger over",
        )
        rounds = list_rounds(sim)
        wait_until(lambda: list_rounds(sim) >= rounds + 5, 30, "the second triggerer's list walks")
        first.resume()  # it finds its trigger gone and cancels its copy (3.3: on_kill decides)
        wait_until(
            lambda: _on_3_1() or "leaving the 4 live call(s)" in first.log(0) + trigger_logs(dag.dag_id),
            60,
            "the stalled triggerer's on_kill() to leave the calls alone",
        )
        seen["stops_before_the_end"] = stops(sim)
        seen["logs"] = first.log(0) + second.log(0) + trigger_logs(dag.dag_id)
        sim.advance(700)  # every call ends; its post-call data follows 3 simulated seconds later

    dag_run = run_with_triggerer_processes(
        dag, monkeypatch, tmp_path, stall_a_triggerer_mid_campaign, timeout=300
    )

    assert dag_run.state == "success", [(r.state, r.error) for r in task_runs]
    assert seen["stops_before_the_end"] == 0
    assert stops(sim) == 0
    assert {n: sim.calls_created(n) for n in NUMBERS} == dict.fromkeys(NUMBERS, 1)
    written = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(row["key"], row["attempts"], row["status"]) for row in written] == [
        (f"c{i}", 1, "completed") for i in range(len(NUMBERS))
    ]
    assert "hung up" not in seen["logs"]
    if not _on_3_1():  # the path of the risk: cancelled as by a user, on_kill() called, state read
        assert "while its task instance is deferred" in seen["logs"]
    assert 2 <= len(task_runs) <= 4  # deferred once (or twice), resumed when the calls ended


def _on_3_1() -> bool:
    """Airflow 3.1 never calls a trigger's ``on_kill``: there is no decision to wait for."""
    from airflow.triggers.base import BaseTrigger

    return not hasattr(BaseTrigger, "on_kill")
