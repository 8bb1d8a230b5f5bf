"""
At most one call per task instance, whatever fails: retries, a killed worker, a lost response,
a triggerer restart, and a mapped campaign with failures. Every case counts the calls the
simulator created per destination and checks the final XCom holds that one call's transcript.

Also proven elsewhere: an exception after the POST (before or after the id is saved) in
``tests/test_call_operators.py::test_a_retry_after_the_call_was_placed_does_not_dial_again``;
here that case is covered by a *deferred* wait and by a real process death.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.operators.calls import (
    IDEMPOTENCY_METADATA_KEY,
    STATE_STORE_CALL_ID_KEY,
    call_idempotency_key,
)
from airflow_provider_oneinbox.results import build_call_result
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.conftest import eventually, task_xcoms
from tests.helpers.calls import AGENT, FROM, assert_one_call_and_its_transcript, calls_to, calls_to_all
from tests.helpers.dags import instances, write_dag
from tests.helpers.trigger_runs import InProcessTriggerer
from tests.helpers.triggerers import TriggererProcess, run_with_triggerer_processes, wait_until

pytestmark = pytest.mark.airflow_db

#: Airflow 3.3 added the task state store; on 3.1 a retry finds its call by searching only.
HAS_TASK_STATE_STORE = find_spec("airflow.models.task_state_store") is not None
#: Any fixed date: every test has its own DAG, so runs never collide.
LOGICAL_DATE = datetime(2025, 1, 1, tzinfo=UTC)


def stored_call_id(dag_run: Any, task_id: str = "call", map_index: int = -1) -> Any:
    """The call id in Airflow's task state store (3.3+) for this task instance, or ``None``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalar(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == dag_run.dag_id,
                TaskStateStoreModel.run_id == dag_run.run_id,
                TaskStateStoreModel.task_id == task_id,
                TaskStateStoreModel.map_index == map_index,
                TaskStateStoreModel.key == STATE_STORE_CALL_ID_KEY,
            )
        )
        return None if row is None else json.loads(row.value)


# -- 2. the worker process is killed right after the POST ------------------------------------------

KILLED_WORKER = '''
#: Where try 1's worker process dies: "after_post" (create_call returned, nothing saved or pushed)
#: or "after_save" (the id is in the task state store, nothing pushed to XCom yet).
KILL_AT = "{kill_at}"


class KilledWorker(OneInboxPlaceCallOperator):
    """Try 1's whole worker process gets SIGKILL at KILL_AT: no exception, no cleanup, no XCom."""

    def execute(self, context):
        # Only the child process started by the test may die; never the test process itself.
        self.killable = os.environ.get("ONEINBOX_KILLABLE_WORKER") == "1" and context["ti"].try_number == 1
        return super().execute(context)

    def _place_call(self, hook, request, metadata, key):
        call = super()._place_call(hook, request, metadata, key)
        if self.killable and KILL_AT == "after_post":
            os.kill(os.getpid(), signal.SIGKILL)
        return call

    def _save_call_id(self, store, call_id):
        super()._save_call_id(store, call_id)
        if self.killable and KILL_AT == "after_save":
            os.kill(os.getpid(), signal.SIGKILL)
'''

#: Runs try 1 of a DAG run in a child Python process, as a worker would.
CHILD = """
import importlib.util, sys
from datetime import datetime

path, dag_id, logical_date = sys.argv[1:]
spec = importlib.util.spec_from_file_location("killed_worker_dag", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.dag.test(logical_date=datetime.fromisoformat(logical_date))
print("dag.test() returned: the worker was not killed")
"""


def run_first_try_in_a_killed_worker(dag: Any) -> subprocess.CompletedProcess[str]:
    """Run the DAG in a child process whose try 1 SIGKILLs itself; return the finished child."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, dag.fileloc, dag.dag_id, LOGICAL_DATE.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ONEINBOX_KILLABLE_WORKER": "1"},
    )
    assert done.returncode == -signal.SIGKILL, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def the_only_task_instance(dag_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (ti,) = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).all()
        session.expunge(ti)
        return ti


def retry_like_the_scheduler(dag: Any, task_id: str = "call") -> None:
    """
    Fail the task instance a dead worker left ``running`` and run its next try, in this process.

    What the scheduler does to a task whose worker stopped heartbeating (after
    ``task_instance_heartbeat_timeout``, not waited for here): ``handle_failure`` records the
    try and makes it ``up_for_retry``; once ``retry_delay`` passed it schedules try + 1; a worker
    runs it. ``dag.test(logical_date=...)`` cannot do this: it deletes the run with that
    logical date and starts a new one, with new task instances. So the try runs through
    ``_run_task``, the function ``dag.test()`` itself runs every task instance with.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.task_id == task_id)
        )
        assert ti is not None
        assert ti.state == TaskInstanceState.RUNNING
        ti.prepare_db_for_next_try(session)  # handle_failure, retries left
        ti.state = TaskInstanceState.UP_FOR_RETRY
        session.flush()
        ti.try_number += 1  # the scheduler picks the retry up
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        _run_task(ti=ti, task=dag.task_dict[task_id], run_triggerer=True)


def dag_run_of(dag: Any) -> Any:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (dag_run,) = session.scalars(select(DagRun).where(DagRun.dag_id == dag.dag_id)).all()
        session.expunge(dag_run)
        return dag_run


@pytest.mark.parametrize(
    "kill_at",
    [
        # Nothing saved: the bounded search finds the call (past 150 newer calls), and on 3.3
        # saves its id to the task state store for any later try.
        pytest.param("after_post", id="killed_after_post"),
        # On 3.3 the id reached the task state store before the kill: found there, no search.
        # On 3.1 (no store) this is the search again.
        pytest.param("after_save", id="killed_after_saving_the_id"),
    ],
)
def test_a_worker_killed_right_after_the_post_does_not_dial_again(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], kill_at: str
) -> None:
    to = "+14155550141"
    body = (
        f'KilledWorker(task_id="call", agent_id="{AGENT}", to_number="{to}", from_number="{FROM}", '
        "wait_for_completion=True, poll_interval=0.2, analysis_grace_period=1, "
        "retries=1, retry_delay=timedelta(0))"
    )
    dag = write_dag(load_dag, body, KILLED_WORKER.format(kill_at=kill_at))
    sim.configure(speed=2)  # the call outlives the dead worker: try 2 must reattach to it live

    run_first_try_in_a_killed_worker(dag)

    assert sim.calls_created(to) == 1
    dead = the_only_task_instance(dag.dag_id)
    assert (dead.state, dead.try_number) == ("running", 1)  # died mid-task, nothing reported
    assert not sim.requests(method="GET", path_prefix="/v1/calls/cursor")  # try 1 never searched
    (placed,) = calls_to(to)
    assert placed["status"] in {"initiated", "in_progress"}
    dag_run = dag_run_of(dag)
    assert task_xcoms(dag_run, "call", "call_id") == [None]  # nothing reached XCom
    if HAS_TASK_STATE_STORE:
        assert stored_call_id(dag_run) == (placed["id"] if kill_at == "after_save" else None)
    if kill_at == "after_post":
        # The agent places 150 more calls before the retry: the search must page past them.
        with OneInboxHook() as hook:
            for i in range(150):
                hook.create_call(agent_id=AGENT, to_number=f"+1415556{i:04d}", from_number=FROM)
    sim.configure(speed=20)

    retry_like_the_scheduler(dag)

    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 2)
    call = assert_one_call_and_its_transcript(sim, dag_run, to)
    assert call["id"] == placed["id"]
    assert call["metadata"][IDEMPOTENCY_METADATA_KEY] == call_idempotency_key(
        dag.dag_id, dag_run.run_id, "call", -1
    )
    cursor_pages = len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))
    if kill_at == "after_save" and HAS_TASK_STATE_STORE:
        assert cursor_pages == 0  # found through the task state store
    elif kill_at == "after_save":
        assert cursor_pages == 1
    else:
        assert cursor_pages == 2  # 150 newer calls: the wanted one is on the second page of 100
    if HAS_TASK_STATE_STORE:
        assert stored_call_id(dag_run) == call["id"]


# -- 3. the POST took effect, its response was lost ------------------------------------------------

SEARCH_DOWN_ON_TRY_1 = '''
from airflow_provider_oneinbox.exceptions import OneInboxServerError


class SearchDownOnTry1(OneInboxPlaceCallOperator):
    """Try 1 cannot list calls (the list endpoint fails), so it cannot tell whether its call exists."""

    def execute(self, context):
        self.first_try = context["ti"].try_number == 1
        return super().execute(context)

    def _search_placed_call(self, hook, key, agent_id):
        if self.first_try:
            raise OneInboxServerError("503 listing calls", path="/v1/calls/cursor", status_code=503)
        return super()._search_placed_call(hook, key, agent_id)
'''


@pytest.mark.parametrize("search_down_on_try_1", [False, True], ids=["found_at_once", "found_by_the_retry"])
def test_a_lost_create_response_reattaches_instead_of_dialling_again(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], search_down_on_try_1: bool
) -> None:
    to = "+14155550142"
    operator = "SearchDownOnTry1" if search_down_on_try_1 else "OneInboxPlaceCallOperator"
    body = (
        f'{operator}(task_id="call", agent_id="{AGENT}", to_number="{to}", from_number="{FROM}", '
        "wait_for_completion=True, poll_interval=0.2, analysis_grace_period=1, "
        "retries=1, retry_delay=timedelta(0))"
    )
    dag = write_dag(load_dag, body, SEARCH_DOWN_ON_TRY_1)
    sim.set_faults(lose_create_response=1)

    dag_run = dag.test()

    assert sim.stats()["faults_injected"]["lost_create_response"] == 1
    (ti,) = instances(dag_run)
    # The lost response is never retried by the hook; the search answers "was it placed?".
    assert (ti.state, ti.try_number) == ("success", 2 if search_down_on_try_1 else 1)
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 1
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/cursor")) == 1
    assert_one_call_and_its_transcript(sim, dag_run, to)


# -- 4. the triggerer restarts while the call is running -------------------------------------------


def as_the_triggerer_rebuilds_it(trigger: OneInboxCallTrigger) -> OneInboxCallTrigger:
    """A fresh trigger built the way a (re)started triggerer does: from the stored, encrypted row."""
    from airflow.models.trigger import Trigger

    row = Trigger.from_object(trigger)
    module, _, name = row.classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**row.kwargs)
    assert isinstance(rebuilt, OneInboxCallTrigger)
    return rebuilt


def test_a_triggerer_restart_mid_call_resumes_the_wait_and_never_hangs_up(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    to = "+14155550143"
    sim.configure(speed=2)  # the call outlives the restart; the test ends it
    with OneInboxHook() as hook:
        call_id = hook.create_call(agent_id=AGENT, to_number=to, from_number=FROM)["id"]
    first = OneInboxCallTrigger(
        call_id=call_id, poll_interval=0.1, analysis_grace_period=2, deadline=time.time() + 60
    )
    cleanups: list[str] = []
    original_cleanup = OneInboxCallTrigger.cleanup

    async def counted_cleanup(self: OneInboxCallTrigger) -> None:
        cleanups.append(self.call_id)
        await original_cleanup(self)

    monkeypatch.setattr(OneInboxCallTrigger, "cleanup", counted_cleanup)

    async def restart_mid_call() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        before = InProcessTriggerer()
        before.start(first)
        await eventually(
            lambda: len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) >= 3,
            30,
            "the first triggerer's polls",
        )
        await before.stop(user_action=False)  # the triggerer shuts down
        assert before.events() == []
        during = await asyncio.to_thread(calls_to, to)
        after = InProcessTriggerer()  # a new triggerer picks the trigger up
        after.start(as_the_triggerer_rebuilds_it(first), trigger_id=2)
        await asyncio.to_thread(sim.advance, 700)  # the call ends; its analysis follows
        return during[0], await after.finished(timeout=30)

    during, events = asyncio.run(restart_mid_call())

    assert cleanups == [call_id, call_id]  # cleanup ran on the shutdown and on the success
    assert during["status"] in {"initiated", "in_progress"}  # the restart left the call alone
    (event,) = events
    assert (event["status"], event["call_id"], event["analysis_missing"]) == ("success", call_id, False)
    (call,) = calls_to(to)
    # The event names the ended call (no record: the worker reads it, with its transcript).
    assert (event["call_status"], event["end_reason"]) == (call["status"], call["end_reason"])
    assert build_call_result(call)["transcript"]
    assert call["end_reason"] != "api_stop"
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")
    assert sim.calls_created(to) == 1


def test_a_real_triggerer_restarted_mid_call_resumes_the_wait(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    Worker and triggerer as in production: ``dag.test()`` runs the task, but its trigger runs
    in ``airflow triggerer`` processes; the first is shut down (SIGTERM) mid-call, a second one
    takes the trigger over, and the task resumes from its event.
    """
    to = "+14155550105"  # talks for 600 simulated seconds: it outlives the restart
    sim.configure(speed=2)  # 300 real seconds, however slowly the triggerers start; the test ends it
    body = (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="{AGENT}", to_number="{to}", '
        f'from_number="{FROM}", wait_for_completion=True, poll_interval=0.2, analysis_grace_period=2)'
    )
    dag = write_dag(load_dag, body)
    seen: dict[str, Any] = {}

    def gets(call_id: str) -> int:
        return len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}"))

    def restart_the_triggerer_mid_call(start_triggerer: Callable[[], TriggererProcess]) -> None:
        first = start_triggerer()
        wait_until(lambda: sim.calls_created(to), 60, "the call")
        (call,) = calls_to(to)
        call_id = seen["call_id"] = call["id"]
        # The worker reads the call once before deferring; more GETs come from the triggerer.
        wait_until(lambda: gets(call_id) >= 4, 60, "the first triggerer to poll the call")
        first.shut_down()
        # A new triggerer starts meanwhile; it takes the trigger over once the first has exited.
        start_triggerer()
        seen["first_exit"] = first.wait()
        seen["after_shutdown"] = calls_to(to)[0]
        seen["gets_after_shutdown"] = gets(call_id)
        wait_until(lambda: gets(call_id) >= seen["gets_after_shutdown"] + 3, 60, "the second triggerer")
        sim.advance(700)  # the call ends; its analysis follows 3 simulated seconds later
        wait_until(lambda: the_only_task_instance(dag.dag_id).state == "success", 60, "the task")

    dag_run = run_with_triggerer_processes(dag, monkeypatch, tmp_path, restart_the_triggerer_mid_call)

    assert seen["first_exit"] == 0
    assert seen["after_shutdown"]["status"] == "in_progress"  # the shutdown left the call alone
    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 1)
    call = assert_one_call_and_its_transcript(sim, dag_run, to)
    assert call["id"] == seen["call_id"]
    assert call["end_reason"] == "max_duration"  # ended on its own, never hung up
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call['id']}/stop")


# -- 5. a mapped campaign where tries fail after the POST and are retried --------------------------

FLAKY_WORKERS = '''
from airflow_provider_oneinbox.waiting import CallWaiter


class FlakyWaiter(CallWaiter):
    def finish_success(self, context, call, *, analysis_missing):
        # Every wait ends here, deferred or not (a fast call may already be over before deferring).
        result = super().finish_success(context, call, analysis_missing=analysis_missing)
        ti = context["ti"]
        if ti.try_number == 1 and ti.map_index % 5 == 3:
            raise RuntimeError("worker lost after the call ended")
        return result


class FlakyWorker(OneInboxPlaceCallOperator):
    """
    Try 1 of some map indexes fails after its call was placed: right after the POST (index % 5 == 1,
    nothing saved), or after the wait pushed the transcript (index % 5 == 3, the id saved).
    """

    def execute(self, context):
        ti = context["ti"]
        self.fail_after_post = ti.try_number == 1 and ti.map_index % 5 == 1
        return super().execute(context)

    def _place_call(self, hook, request, metadata, key):
        call = super()._place_call(hook, request, metadata, key)
        if self.fail_after_post:
            raise RuntimeError("worker lost right after the call was placed")
        return call

    waiter_class = FlakyWaiter
'''


def test_a_mapped_campaign_with_failing_tries_places_one_call_per_map_index(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    """
    50 calls, deferred waits. 30 % of the POSTs lose their response (found again by the search in
    the same try); 10 tries fail right after the POST and 10 after the wait (case 1, exception
    after the POST, here with a deferred wait): all retried, none redials.
    """
    numbers = [f"+1415577{i:02d}99" for i in range(50)]  # ends in 99: answered, "Interested"
    body = f"""
FlakyWorker.partial(
    task_id="call", agent_id="{AGENT}", from_number="{FROM}", wait_for_completion=True,
    poll_interval=0.05, analysis_grace_period=1, retries=2, retry_delay=timedelta(0),
).expand(to_number={numbers!r})
"""
    dag = write_dag(load_dag, body, FLAKY_WORKERS)
    sim.configure(speed=200)  # a 20 s call takes 0.1 s
    sim.set_faults(lose_create_response_ratio=0.3, seed=7)

    dag_run = dag.test()

    assert [sim.calls_created(n) for n in numbers] == [1] * 50
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 50
    lost = sim.stats()["faults_injected"]["lost_create_response"]
    assert 5 <= lost <= 25  # 30 % of the 50 POSTs, seeded
    tis = instances(dag_run)
    assert [ti.map_index for ti in tis] == list(range(50))
    assert {ti.state for ti in tis} == {"success"}
    assert [ti.try_number for ti in tis] == [2 if i % 5 in (1, 3) else 1 for i in range(50)]
    calls = {call["to_number"]: call for call in calls_to_all()}
    transcripts = [build_call_result(calls[number])["transcript"] for number in numbers]
    assert all(transcripts)
    assert [result["call_id"] for result in task_xcoms(dag_run, "call")] == [calls[n]["id"] for n in numbers]
    assert task_xcoms(dag_run, "call", "transcript") == transcripts
