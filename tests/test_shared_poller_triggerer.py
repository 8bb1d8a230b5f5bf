"""A mapped campaign's waits share the list requests in a real ``airflow triggerer``, across its restart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.helpers.calls import AGENT, FROM, assert_one_call_and_its_transcript, calls_to
from tests.helpers.dags import instances, write_dag
from tests.helpers.triggerers import TriggererProcess, run_with_triggerer_processes, wait_until

pytestmark = pytest.mark.airflow_db

NUMBERS = [f"+1415588{i:02d}05" for i in range(8)]  # ends in 05: talks for 600 simulated seconds


def test_a_campaign_waits_through_the_shared_poller_of_a_restarted_triggerer(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    body = f"""
OneInboxPlaceCallOperator.partial(
    task_id="call", agent_id="{AGENT}", from_number="{FROM}", wait_for_completion=True,
    poll_interval=0.2, analysis_grace_period=2,
).expand(to_number={NUMBERS!r})
"""
    dag = write_dag(load_dag, body)
    sim.configure(speed=2)  # the calls outlive the restart; the test ends them (reset restores it)
    seen: dict[str, Any] = {}

    def list_pages() -> int:
        return len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))

    def call_gets() -> Counter[str]:
        # Only this campaign's calls: the triggerer also runs what earlier tests left deferred.
        ours = seen["call_paths"]
        return Counter(r["path"] for r in sim.requests(method="GET") if r["path"] in ours)

    def restart_the_triggerer_mid_campaign(start_triggerer: Callable[[], TriggererProcess]) -> None:
        first = start_triggerer()
        wait_until(lambda: all(sim.calls_created(n) for n in NUMBERS), 90, "every call")
        seen["call_paths"] = {f"/v1/calls/{call['id']}" for n in NUMBERS for call in calls_to(n)}
        wait_until(lambda: states(dag.dag_id) == ["deferred"] * len(NUMBERS), 60, "every wait to defer")
        pages = list_pages()
        wait_until(lambda: list_pages() >= pages + 10, 60, "the first triggerer's poller")
        seen["gets_once_shared"] = call_gets()
        first.shut_down()
        start_triggerer()
        seen["first_exit"] = first.wait()
        seen["pages_after_shutdown"] = list_pages()
        wait_until(lambda: list_pages() >= seen["pages_after_shutdown"] + 5, 60, "the second poller")
        # This campaign's calls only: what earlier tests on this pytest worker left deferred runs here too.
        stops = [r["path"] for r in sim.requests(method="POST") if r["route"] == "/v1/calls/{call_id}/stop"]
        seen["stops_before_the_end"] = [path for path in stops if path[: -len("/stop")] in seen["call_paths"]]
        sim.advance(700)  # every call ends; analyses follow 3 simulated seconds later
        wait_until(lambda: states(dag.dag_id) == ["success"] * len(NUMBERS), 90, "the campaign")

    dag_run = run_with_triggerer_processes(
        dag, monkeypatch, tmp_path, restart_the_triggerer_mid_campaign, timeout=240
    )

    assert seen["first_exit"] == 0
    assert seen["stops_before_the_end"] == []  # the restart hung up no call
    tis = instances(dag_run)
    assert [(ti.state, ti.try_number) for ti in tis] == [("success", 1)] * len(NUMBERS)
    for map_index, number in enumerate(NUMBERS):
        assert_one_call_and_its_transcript(sim, dag_run, number, map_index)
    # The first waits polled alone until four had deferred; from then on, through both triggerer
    # lives, the list answered for every call (alone, each would be read every 0.2 s).
    gets_since = call_gets() - seen["gets_once_shared"]
    assert max(gets_since.values(), default=0) <= 2, gets_since


def states(dag_id: str) -> list[str]:
    """The states of the DAG's task instances."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [
            str(s) for s in session.scalars(select(TaskInstance.state).where(TaskInstance.dag_id == dag_id))
        ]
