"""
A triggerer that stalls and resumes hangs up no call; a user's kill of a deferred task still does;
a call hung up by someone else is flagged in the task's log.

Production-like: a PostgreSQL metadata DB, two real ``airflow triggerer`` processes, and the
DAG run driven by ``dag.test()`` in a child process (the pytest process itself is configured for
SQLite), against the simulator on loopback. A triggerer frozen (SIGSTOP) past
``[triggerer] triggerer_health_check_threshold`` has its triggers taken over by the other; when
it resumes, Airflow 3.3 cancels its copies the way it cancels a user's kill and calls
``on_kill()``, which must then leave the calls alone.

Also here: ``on_kill()`` leaves the call running whenever it cannot read its task instance's
state (no task instance, no answer in time, an answer it does not understand).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.results import build_call_result
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers import calls as trigger_module
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.helpers.calls import place
from tests.helpers.postgres import AirflowOnPostgres, airflow_on_postgres
from tests.helpers.triggerers import (
    DagTestProcess,
    TriggererProcess,
    answering,
    failing,
    in_a_triggerer,
    never_answering,
    task_state_is,
    wait_until,
)

AGENT = "agt_sales"
FROM = "+14155550100"
#: Airflow 3.3 added ``BaseTrigger.on_kill``, which its triggerer calls when it cancels a trigger.
TRIGGER_ON_KILL = hasattr(BaseTrigger, "on_kill")
#: Seconds without a heartbeat after which a triggerer's triggers go to another (default 30).
HEALTH_CHECK_THRESHOLD = 4

DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    OneInboxPlaceCallOperator.partial(
        task_id="call", agent_id="{agent}", from_number="{from_}", wait_for_completion=True,
        poll_interval=0.5, analysis_grace_period=2,
    ).expand(to_number={numbers!r})
"""

#: What the public API's "mark failed" (``PATCH .../taskInstances/{task_id}``) does to the DB.
MARK_FAILED = """
import sys

from airflow.models.dagbag import DBDagBag
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState

dag_id, run_id, task_id, map_index = sys.argv[1:]
with create_session() as session:
    dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
    changed = dag.set_task_instance_state(
        task_id=task_id, run_id=run_id, map_indexes=[int(map_index)], state=TaskInstanceState.FAILED,
        commit=True, session=session,
    )
    assert changed, "nothing was marked failed"
"""


@pytest.fixture(scope="module")
def airflow_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowOnPostgres]:
    """Airflow on a PostgreSQL server of this module's own, with triggerers quick to hand over."""
    settings = {
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    }
    with airflow_on_postgres(tmp_path_factory.mktemp("airflow-on-postgres"), settings) as airflow:
        yield airflow


@contextlib.contextmanager
def processes() -> Iterator[list[TriggererProcess | DagTestProcess]]:
    """Everything appended to the list is closed on exit, whatever happened."""
    started: list[TriggererProcess | DagTestProcess] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.close()


def write_dag(airflow: AirflowOnPostgres, numbers: list[str]) -> tuple[str, Path]:
    dag_id = f"stall_{uuid.uuid4().hex[:10]}"
    path = airflow.dags / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, agent=AGENT, from_=FROM, numbers=numbers))
    return dag_id, path


def calls_to(numbers: list[str]) -> list[dict[str, Any]]:
    """The call the API holds to each number, in the order of ``numbers`` (one each, or it fails)."""
    with OneInboxHook() as hook:
        by_number: dict[str, list[dict[str, Any]]] = {}
        for call in hook.iter_calls_offset(agent_id=AGENT):
            by_number.setdefault(call["to_number"], []).append(call)
    assert all(len(by_number.get(number, [])) == 1 for number in numbers), by_number
    return [by_number[number][0] for number in numbers]


def stops(sim: OneInboxSimulator, call_ids: list[str]) -> list[dict[str, Any]]:
    """Every hang-up request (``POST /v1/calls/{id}/stop``) the simulator got for these calls."""
    return [
        r
        for call_id in call_ids
        for r in sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")
    ]


def polls(sim: OneInboxSimulator, call_ids: list[str]) -> int:
    """Reads that only a trigger makes: each call's own record, and the agent's cursor list."""
    own = sum(len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) for call_id in call_ids)
    return own + len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))


def on_kill_decisions(logs: str) -> int:
    """How many times ``on_kill()`` logged its decision (leave the call, or hang it up)."""
    # Once Airflow has cut on_kill() short, its decision is logged in the triggerer's own log.
    return sum(logs.count(what) for what in ("leaving OneInbox call", "was left running", "hung up OneInbox"))


# -- 1. a triggerer stalls past the health check, the other takes over, the first resumes ----------


def test_a_stalled_triggerer_that_resumes_hangs_up_no_call(
    sim: OneInboxSimulator, airflow_pg: AirflowOnPostgres, tmp_path: Path
) -> None:
    numbers = [f"+1415599{i:02d}05" for i in range(4)]  # end in 05: each talks 600 simulated seconds
    sim.configure(speed=2)  # 300 real seconds: the calls outlive the stall; the test ends them
    dag_id, dag_file = write_dag(airflow_pg, numbers)
    with processes() as started:
        first, first_job = airflow_pg.start_triggerer(tmp_path / "triggerer-a.log")
        started.append(first)
        driver = DagTestProcess(dag_file, airflow_pg.env(), tmp_path / "dag-test.log")
        started.append(driver)
        try:
            wait_until(lambda: airflow_pg.states(dag_id) == ["deferred"] * 4, 90, "every wait to defer")
            wait_until(lambda: airflow_pg.trigger_owners(dag_id) == [first_job] * 4, 30, "A to run them")
            call_ids = [call["id"] for call in calls_to(numbers)]
            before = polls(sim, call_ids)
            wait_until(lambda: polls(sim, call_ids) > before + 4, 30, "A to poll the calls")

            second, second_job = airflow_pg.start_triggerer(tmp_path / "triggerer-b.log")
            started.append(second)
            first.stall()
            wait_until(
                lambda: airflow_pg.trigger_owners(dag_id) == [second_job] * 4,
                HEALTH_CHECK_THRESHOLD + 30,
                "B to take the triggers over",
            )
            taken_over = polls(sim, call_ids)
            wait_until(lambda: polls(sim, call_ids) > taken_over + 4, 30, "B to poll the calls")

            first.resume()
            # A finds its triggers gone and cancels its copies; on 3.3 on_kill() decides for each.
            wait_until(
                lambda: airflow_pg.trigger_logs(dag_id, first_job).count("trigger completed") >= 4,
                60,
                "A to cancel its copies of the triggers",
            )
            if TRIGGER_ON_KILL:
                wait_until(
                    lambda: on_kill_decisions(airflow_pg.trigger_logs(dag_id, first_job) + first.log(0)) >= 4,
                    60,
                    "A's on_kill() to decide for each copy",
                )
            a_logs = airflow_pg.trigger_logs(dag_id, first_job) + first.log(0)
            hung_up = stops(sim, call_ids)
            during = calls_to(numbers)

            sim.advance(700)  # every call ends; its analysis follows 3 simulated seconds later
            result = driver.result(timeout=90)
            task_logs = driver.log(0)
        except BaseException as exc:
            logs = "\n".join(f"--- {p.log_path.name}\n{p.log()}" for p in started)
            raise AssertionError(f"{exc!r}\n{logs}") from exc

    assert hung_up == []  # no POST /v1/calls/{id}/stop from either triggerer
    assert [call["status"] for call in during] == ["in_progress"] * 4
    assert "Trigger fired event" not in a_logs  # A's copies ended by being cancelled
    if TRIGGER_ON_KILL:  # the path of the bug: cancelled as by a user, on_kill() called
        assert a_logs.count("Trigger cancelled by user action, invoking on_kill") == 4, a_logs
        # Each decision line says why (a state read that timed out leaves the call too, untold apart).
        decided = "\n".join(line for line in a_logs.splitlines() if "OneInbox call" in line)
        assert a_logs.count("while its task instance is deferred (not marked failed") == 4, decided
    assert result["state"] == "success"
    instances = result["instances"]
    assert [(ti["map_index"], ti["state"], ti["try_number"]) for ti in instances] == [
        (i, "success", 1) for i in range(4)
    ]
    assert API_STOP_WARNING not in task_logs
    ended = calls_to(numbers)
    for ti, call in zip(instances, ended, strict=True):
        assert call["end_reason"] == "max_duration"  # ended on its own
        assert ti["result"]["call_id"] == call["id"]
        assert ti["result"]["transcript"] == build_call_result(call)["transcript"]
        assert ti["result"]["transcript"]


# -- 2. a user marks a deferred task failed -------------------------------------------------------


@pytest.mark.skipif(not TRIGGER_ON_KILL, reason="Airflow < 3.3 never calls a trigger's on_kill()")
def test_a_user_marking_a_deferred_task_failed_hangs_up_its_call(
    sim: OneInboxSimulator, airflow_pg: AirflowOnPostgres, tmp_path: Path
) -> None:
    numbers = ["+14155998805"]
    sim.configure(speed=2)
    dag_id, dag_file = write_dag(airflow_pg, numbers)
    with processes() as started:
        triggerer, job = airflow_pg.start_triggerer(tmp_path / "triggerer.log")
        started.append(triggerer)
        driver = DagTestProcess(dag_file, airflow_pg.env(), tmp_path / "dag-test.log")
        started.append(driver)
        try:
            wait_until(lambda: airflow_pg.trigger_owners(dag_id) == [job], 90, "the wait to defer")
            ((call_id,),) = [[call["id"] for call in calls_to(numbers)]]
            before = polls(sim, [call_id])
            wait_until(lambda: polls(sim, [call_id]) > before + 2, 30, "the triggerer to poll the call")

            ((run_id,),) = airflow_pg.sql("SELECT run_id FROM dag_run WHERE dag_id = :d", d=dag_id)
            mark = subprocess.run(
                [sys.executable, "-c", MARK_FAILED, dag_id, run_id, "call", "0"],
                env=airflow_pg.env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert mark.returncode == 0, mark.stdout[-3000:] + mark.stderr[-3000:]
            wait_until(lambda: stops(sim, [call_id]), 60, "the triggerer's on_kill() to hang up")
            result = driver.result(timeout=60)
        except BaseException as exc:
            logs = "\n".join(f"--- {p.log_path.name}\n{p.log()}" for p in started)
            raise AssertionError(f"{exc!r}\n{logs}") from exc

    assert len(stops(sim, [call_id])) == 1
    assert [(ti["state"], ti["try_number"]) for ti in result["instances"]] == [("failed", 1)]
    wait_until(lambda: calls_to(numbers)[0]["end_reason"], 10, "the call's end_reason")
    (call,) = calls_to(numbers)
    assert (call["status"], call["end_reason"]) == ("completed", "api_stop")


# -- 3. on_kill() decides from the task instance's state; when it cannot read it, the call goes on --


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        pytest.param(None, "the trigger has no task instance", id="no-task-instance"),
        pytest.param(never_answering, "no answer within", id="timeout"),
        pytest.param(failing, "asking failed", id="comms-error"),
        pytest.param(answering({"manual__1": {"call": "failed"}}), "unexpected answer", id="unmapped-key"),
        pytest.param(answering({}), "unexpected answer", id="other-run"),
        pytest.param(answering(["failed"]), "unexpected answer", id="not-a-dict"),
        pytest.param(answering({"manual__1": {"call_3": 7}}), "unexpected state", id="odd-state"),
    ],
)
def test_on_kill_leaves_the_call_running_when_it_cannot_read_the_state(
    sim: OneInboxSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    answer: Callable[[Any], Any] | None,
    why: str,
) -> None:
    call_id = place("+14155997705")
    trigger = OneInboxCallTrigger(call_id)
    if answer is not None:
        in_a_triggerer(monkeypatch, trigger, answer)
    monkeypatch.setattr(trigger_module, "TASK_STATE_TIMEOUT_SECONDS", 0.2)

    with caplog.at_level(logging.WARNING):
        asyncio.run(trigger.on_kill())

    assert not stops(sim, [call_id])
    captured = capsys.readouterr()
    (warning,) = [
        line
        for line in (captured.out + captured.err + caplog.text).splitlines()
        if "was left running" in line
    ]
    assert "warn" in warning.lower()
    assert why in warning
    assert f"OneInbox call {call_id} was left running" in warning


@pytest.mark.parametrize(
    ("state", "hangs_up"),
    [
        ("deferred", False),
        ("up_for_retry", False),
        ("failed", True),
        ("success", True),
        ("skipped", True),
        (None, False),
        ("scheduled", False),
        ("running", False),
    ],
)
def test_on_kill_hangs_up_only_once_a_user_marked_the_task_instance_done(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, state: str | None, hangs_up: bool
) -> None:
    """
    ``None`` is a cleared task instance, ``scheduled``/``running`` one cleared and already
    rescheduled: its new try reattaches to the same call, so a clear hangs up nothing.
    ``up_for_retry`` comes from no user action, and the next try waits for the same call.
    """
    call_id = place("+14155996605")
    trigger = OneInboxCallTrigger(call_id)
    comms = in_a_triggerer(monkeypatch, trigger, task_state_is(state))

    asyncio.run(trigger.on_kill())

    (request,) = comms.requests
    assert (request.dag_id, request.task_ids, request.run_ids, request.map_index) == (
        "campaign",
        ["call"],
        ["manual__1"],
        3,
    )
    assert len(stops(sim, [call_id])) == (1 if hangs_up else 0)


# -- 4. a wait that ends with a call someone else hung up says so ----------------------------------

API_STOP_WARNING = "was hung up through the API (end_reason api_stop) by someone other than this task"


@pytest.mark.parametrize("hung_up_by_someone", [True, False])
def test_a_wait_ending_with_a_call_someone_else_hung_up_warns(
    sim: OneInboxSimulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    hung_up_by_someone: bool,
) -> None:
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    call_id = place("+14155995505")
    with OneInboxHook() as hook:
        if hung_up_by_someone:
            hook.stop_call(call_id)  # e.g. a user in the OneInbox dashboard, another DAG
        sim.advance(700)
        call = wait_until(
            lambda: (record := hook.get_call(call_id))["end_reason"] and record, 10, "the call's end"
        )
    sensor = OneInboxCallSensor(task_id="wait", call_id=call_id)
    ti = SimpleNamespace(xcom_push=lambda **kwargs: None)

    with caplog.at_level(logging.WARNING):
        result = sensor.waiter.finish_success({"ti": ti}, call, analysis_missing=False)  # type: ignore[typeddict-item]

    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert result["end_reason"] == ("api_stop" if hung_up_by_someone else "max_duration")
    assert (f"OneInbox call {call_id} {API_STOP_WARNING}" in logs) is hung_up_by_someone
