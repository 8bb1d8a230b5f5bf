"""
Waits survive faults, within the documented request budget; kills and deadlines hang up.

Each fault runs during a whole wait, deferred (the trigger) and polled in the worker, through
``dag.test()``; the wait must end with the call's transcript and no task failure, and the client
must stay within the budget the trigger documents: at most one poll per ``poll_interval`` (plus
the one check before deferring), each poll one request (the hooks polling for a wait do not
retry: the wait owns its error budget and backoff), plus the one read of the ended call after
resuming (the task's own hook, which retries).

Time is scaled down: the call awaited talks for 10 simulated minutes, which the simulator plays
at 200x (3 s of wall time, ~30 polls at ``poll_interval=0.1``).

Already proven elsewhere, not repeated here: a sensor's timeout hangs up (``test_sensor``), the
trigger's own ``on_kill()``/``cleanup()`` called directly (``test_trigger``), short 5xx/429
bursts in the trigger (``test_trigger``), the hook's retry rules (``test_hook_retries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.results import build_call_result
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import CallWatch, OneInboxCallTrigger
from airflow_provider_oneinbox.waiting import poll_until_done
from tests.conftest import connection_json, eventually, task_xcoms
from tests.helpers.dags import write_dag
from tests.helpers.trigger_runs import InProcessTriggerer
from tests.helpers.triggerers import in_a_triggerer, task_state_is

pytestmark = pytest.mark.airflow_db

FROM = "+14155550100"
AGENT = "agt_sales"
LONG_CALL = "+14155550105"  # talks 600 simulated seconds, then "Interested"
#: ``max_retries`` of the test connection (``tests.conftest.connection_json``).
MAX_RETRIES = 3
#: Airflow 3.3 added ``BaseTrigger.on_kill``, which its triggerer calls when a user kills a deferred task.
TRIGGER_ON_KILL = hasattr(BaseTrigger, "on_kill")
#: Faults hit only the call's own record (this route), never the POST that places it or a list.
CALL_RECORD = "/v1/calls/{call_id}"


def place_call_dag(load_dag: Callable[..., Any], to: str = LONG_CALL, arguments: str = "") -> Any:
    """A one-task DAG placing a call to ``to`` and waiting for it; ``arguments`` as source."""
    body = (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="{AGENT}", to_number="{to}", '
        f'from_number="{FROM}", wait_for_completion=True, {arguments})'
    )
    return write_dag(load_dag, body, prefix="faults")


def run_place_call(load_dag: Callable[..., Any], to: str = LONG_CALL, **arguments: Any) -> tuple[Any, Any]:
    """Run a one-task DAG placing a call to ``to`` and waiting for it; return the run and its TI."""
    rendered = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
    dag = place_call_dag(load_dag, to, rendered)
    dag_run = dag.test()
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "call"]
    return dag_run, ti


def the_call(sim: OneInboxSimulator, to: str = LONG_CALL) -> dict[str, Any]:
    """The one call placed to ``to`` (the simulator's count says there is exactly one)."""
    assert sim.calls_created(to) == 1
    with OneInboxHook() as hook:
        (call,) = [c for c in hook.iter_calls_offset(agent_id=AGENT) if c["to_number"] == to]
    return call


def assert_succeeded_with_the_transcript(sim: OneInboxSimulator, dag_run: Any, ti: Any) -> dict[str, Any]:
    assert (ti.state, ti.try_number) == ("success", 1)  # no task failure, no retry
    call = the_call(sim)
    transcript = build_call_result(call)["transcript"]
    assert transcript
    (result,) = task_xcoms(dag_run, "call")
    assert (result["call_id"], result["status"]) == (call["id"], "completed")
    assert result["transcript"] == transcript
    assert task_xcoms(dag_run, "call", "transcript") == [transcript]
    return call


def polls_gets(sim: OneInboxSimulator, call_id: str) -> list[dict[str, Any]]:
    return sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")


def record_gets(sim: OneInboxSimulator) -> list[dict[str, Any]]:
    """Every GET of a call's own record, whatever the call."""
    return [entry for entry in sim.requests(method="GET") if entry["route"] == CALL_RECORD]


def is_call_record(path: str) -> bool:
    """Whether a request path reads one call's record (not a list, not a sub-path)."""
    rest = path.partition("?")[0].removeprefix("/v1/calls/")
    return rest != path and "/" not in rest and rest not in {"", "cursor", "web"}


def poll_budget(span: float, poll_interval: float, latency: float = 0.0) -> int:
    """
    The most polls one wait may make in ``span`` seconds, by the trigger's documented budget.

    One check before deferring, then one poll per ``poll_interval`` at most: every poll is
    followed by a pause of at least ``poll_interval`` (longer after an error: exponential backoff,
    or ``Retry-After``), and takes at least the API's ``latency``. A poll is one GET: the hook
    polling for a wait does not retry.
    """
    return 2 + math.floor(span / (poll_interval + latency))


def assert_within_the_budget(gets: list[dict[str, Any]], poll_interval: float, latency: float = 0.0) -> None:
    """The GETs of one wait (from the simulator's log) kept to :func:`poll_budget`."""
    span = gets[-1]["time"] - gets[0]["time"]
    polls = poll_budget(span, poll_interval, latency)
    answered = sum(g["status"] == 200 for g in gets)
    assert answered <= polls, f"{answered} answered GETs in {span:.2f}s: at most {polls} polls allowed"
    # Polls are never retried by the hook; only the one read after resuming may be (the task's hook).
    assert len(gets) <= polls + MAX_RETRIES, f"{len(gets)} GETs in {span:.2f}s: at most {polls} polls"


def longest_failure_run(entries: list[dict[str, Any]]) -> int:
    run = longest = 0
    for entry in entries:
        run = run + 1 if entry["status"] != 200 else 0
        longest = max(longest, run)
    return longest


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Wall time of the block, in ``box[0]``."""
    box = [0.0]
    started = time.monotonic()
    try:
        yield box
    finally:
        box[0] = time.monotonic() - started


WAIT_MODES = pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "polled_in_worker"])


# -- 2. waits survive faults -----------------------------------------------------------------------


@WAIT_MODES
def test_a_30_percent_5xx_rate_during_the_whole_wait(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], deferrable: bool
) -> None:
    """30 % of the call's GETs answer 503 for the whole wait: 10 simulated minutes, 6 s at 100x."""
    sim.configure(speed=100)
    # Seed 197 draws 4 failures in a row at the 2nd GET, then spreads them: four polls in a row
    # fail (one request each, the hook does not retry them), and the wait's own budget rides them
    # out (its backoff, 0.1 + 0.2 + 0.4 + 0.8 s, then polls every 0.1 s again).
    sim.set_faults(server_error_ratio=0.3, seed=197, only_methods=["GET"], only_routes=[CALL_RECORD])
    dag_run, ti = run_place_call(load_dag, deferrable=deferrable, poll_interval=0.1, analysis_grace_period=1)
    sim.clear_faults()

    call = assert_succeeded_with_the_transcript(sim, dag_run, ti)
    gets = polls_gets(sim, call["id"])
    failed = [i for i, g in enumerate(gets) if g["status"] == 503]
    assert len(gets) >= 14, [g["status"] for g in gets]
    assert 0.1 * len(gets) <= len(failed) <= 0.6 * len(gets)  # ~30 %
    assert failed[-1] >= len(gets) // 2  # failures all through the wait, not only at its start
    assert longest_failure_run(gets) >= 4  # several polls failed in a row, and were tolerated
    assert_within_the_budget(gets, poll_interval=0.1)


@WAIT_MODES
def test_a_429_storm_with_retry_after_is_waited_out(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], deferrable: bool
) -> None:
    retry_after, storm = 0.4, 2.0
    sim.configure(speed=200)
    sim.set_faults(
        rate_limit_ratio=1.0, retry_after=retry_after, only_methods=["GET"], only_routes=[CALL_RECORD]
    )

    def end_the_storm() -> None:
        deadline = time.monotonic() + 60
        while not sim.stats()["faults_injected"]["429"] and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(storm)
        sim.clear_faults()

    stopper = threading.Thread(target=end_the_storm)
    stopper.start()
    dag_run, ti = run_place_call(load_dag, deferrable=deferrable, poll_interval=0.1, analysis_grace_period=1)
    stopper.join()

    call = assert_succeeded_with_the_transcript(sim, dag_run, ti)
    gets = polls_gets(sim, call["id"])
    limited = [i for i, g in enumerate(gets) if g["status"] == 429]
    assert len(limited) >= 3
    # Every 429 was waited out: Retry-After passed before the next request (hook or trigger).
    gaps = [gets[i + 1]["time"] - gets[i]["time"] for i in limited if i + 1 < len(gets)]
    assert min(gaps) >= retry_after * 0.95, gaps
    assert_within_the_budget(gets, poll_interval=0.1)


@WAIT_MODES
def test_added_latency_and_read_timeouts_are_ridden_out(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    deferrable: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A connection with a 0.5 s timeout; once the call is placed the API answers its GETs in
    # 0.8 s (every read times out) for 1.5 s, then in 0.2 s for the rest of the wait.
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_SLOW", connection_json(sim.base_url, timeout=0.5))
    sim.configure(speed=200)
    sim.set_faults(latency=0.8, only_methods=["GET"], only_routes=[CALL_RECORD])

    def speed_up() -> None:
        deadline = time.monotonic() + 60
        while not sim.calls_created(LONG_CALL) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(1.5)
        sim.set_faults(latency=0.2)

    faster = threading.Thread(target=speed_up)
    faster.start()
    dag_run, ti = run_place_call(
        load_dag,
        deferrable=deferrable,
        oneinbox_conn_id="oneinbox_slow",
        poll_interval=0.1,
        analysis_grace_period=1,
    )
    faster.join()
    sim.clear_faults()

    call = assert_succeeded_with_the_transcript(sim, dag_run, ti)
    captured = capsys.readouterr()
    call_id = the_call(sim)["id"]
    # Reads did time out, and the wait (not the hook) tried again after its own backoff.
    timeouts = (captured.out + captured.err + caplog.text).count(f"Polling OneInbox call {call_id} failed")
    assert timeouts >= 2
    gets = polls_gets(sim, call["id"])
    assert len(gets) >= 5
    assert_within_the_budget(gets, poll_interval=0.1, latency=0.2)


def test_ten_seconds_of_refused_connections_are_ridden_out(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    One real 10 s outage, both waits at once: the deferred one through ``dag.test()``, and the
    worker's polling loop (what ``deferrable=False`` runs) on a second call in a thread.
    """
    attempts = {"sync": 0, "async": 0}
    sync_send, async_send = OneInboxHook._send, OneInboxAsyncHook._send

    def counted_sync_send(self: OneInboxHook, request: Any) -> Any:
        attempts["sync"] += is_call_record(request.path)
        return sync_send(self, request)

    async def counted_async_send(self: OneInboxAsyncHook, session: Any, settings: Any, request: Any) -> Any:
        attempts["async"] += is_call_record(request.path)
        return await async_send(self, session, settings, request)

    monkeypatch.setattr(OneInboxHook, "_send", counted_sync_send)
    monkeypatch.setattr(OneInboxAsyncHook, "_send", counted_async_send)
    poll_interval, outage = 0.5, 10.0
    with OneInboxHook() as hook:
        polled_call = hook.create_call(agent_id=AGENT, to_number="+14155551205", from_number=FROM)["id"]
    worker_result: dict[str, Any] = {}

    def outage_then_end_the_calls() -> None:
        deadline = time.monotonic() + 60
        while not sim.calls_created(LONG_CALL) and time.monotonic() < deadline:
            time.sleep(0.01)
        sim.refuse_connections(outage)  # returns at once; listening again after 10 s

        def poll_in_the_worker() -> None:
            with OneInboxHook(max_retries=0) as worker_hook:  # as the worker's wait polls
                watch = CallWatch(
                    polled_call,
                    poll_interval=poll_interval,
                    deadline=time.time() + 120,
                    analysis_grace_period=2,
                    max_consecutive_errors=DEFAULT_MAX_CONSECUTIVE_ERRORS,
                    log=worker_hook.log,
                    keep_record=True,  # as the worker's wait does: it builds the result from it
                )
                worker_result.update(poll_until_done(worker_hook, watch).to_payload())
                worker_result["record"] = watch.record

        worker = threading.Thread(target=poll_in_the_worker)
        worker.start()
        time.sleep(outage + 2 * poll_interval)
        sim.advance(600)  # both calls end once the API is back
        worker.join(timeout=60)

    helper = threading.Thread(target=outage_then_end_the_calls)
    helper.start()
    with timed() as elapsed:
        dag_run, ti = run_place_call(load_dag, poll_interval=poll_interval, analysis_grace_period=2)
    helper.join()

    call = assert_succeeded_with_the_transcript(sim, dag_run, ti)
    assert worker_result["status"] == "success", worker_result
    assert worker_result["record"]["id"] == polled_call
    assert build_call_result(worker_result["record"])["transcript"]
    # Refused attempts never reach the simulator; the hooks count them. The deferred wait's
    # attempts are its worker check plus the trigger's; the polled one is all in the thread.
    total = attempts["sync"] + attempts["async"]
    answered = len(record_gets(sim))
    assert total > answered  # some attempts were refused
    polls = poll_budget(elapsed[0], poll_interval)
    assert total <= 2 * polls + MAX_RETRIES  # one attempt per poll (and the read after resuming)
    for call_id in (call["id"], polled_call):
        assert_within_the_budget(polls_gets(sim, call_id), poll_interval)


# -- 3. kills and deadlines ------------------------------------------------------------------------

KILLABLE_WORKER = """
import importlib.util, sys
from datetime import datetime

spec = importlib.util.spec_from_file_location("killed_worker_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.dag.test()
"""


def tail(log: Path) -> str:
    """The end of a child process's output, for an assertion message."""
    return log.read_text(errors="replace")[-3000:]


def test_killing_a_task_polling_in_the_worker_hangs_up_its_call(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    """
    A real kill: the worker process running the task gets SIGTERM (what Airflow's supervisor
    sends when a user marks a running task failed), and the task runner calls ``on_kill()``.
    """
    dag = place_call_dag(load_dag, arguments="deferrable=False, poll_interval=0.1")
    output = tmp_path / "worker.log"  # why the worker died, if it did
    with output.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-c", KILLABLE_WORKER, dag.fileloc],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    try:
        deadline = time.monotonic() + 60
        while len(record_gets(sim)) < 3:  # it is polling
            assert time.monotonic() < deadline, "the worker never polled:\n" + tail(output)
            assert worker.poll() is None, "the worker died:\n" + tail(output)
            time.sleep(0.05)
        call_id = the_call(sim)["id"]
        worker.send_signal(signal.SIGTERM)
        while not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop"):
            assert time.monotonic() < deadline, "on_kill never hung up"
            time.sleep(0.05)
    finally:
        # The supervisor SIGKILLs a task that is still there after its grace period.
        worker.kill()
        worker.wait(timeout=30)

    assert len(sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")) == 1
    time.sleep(0.3)  # end_reason arrives with the post-call data, 3 simulated seconds later
    call = the_call(sim)
    assert (call["status"], call["end_reason"]) == ("completed", "api_stop")


async def run_then_kill_in_airflows_runner(trigger: OneInboxCallTrigger, sim: OneInboxSimulator) -> None:
    """Run the trigger in Airflow's ``TriggerRunner`` and cancel it the way a user kill does."""
    triggerer = InProcessTriggerer()
    triggerer.start(trigger)
    await eventually(
        lambda: len(sim.requests(method="GET", path_prefix=f"/v1/calls/{trigger.call_id}")) >= 2,
        30,
        "the trigger's polls",
    )
    await triggerer.stop(user_action=True)  # its task instance was marked failed / cleared by a user
    assert triggerer.events() == []


def place(to: str) -> tuple[str, OneInboxCallTrigger]:
    with OneInboxHook() as hook:
        call_id = hook.create_call(agent_id=AGENT, to_number=to, from_number=FROM)["id"]
    return call_id, OneInboxCallTrigger(call_id, poll_interval=0.1, deadline=time.time() + 60)


@pytest.mark.skipif(not TRIGGER_ON_KILL, reason="Airflow < 3.3 never calls BaseTrigger.on_kill()")
def test_a_user_kill_of_a_deferred_task_hangs_up_through_the_triggers_on_kill(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id, trigger = place(LONG_CALL)
    in_a_triggerer(monkeypatch, trigger, task_state_is("failed"))  # a user marked the task failed
    asyncio.run(run_then_kill_in_airflows_runner(trigger, sim))
    assert len(sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")) == 1
    time.sleep(0.3)
    call = the_call(sim)
    assert (call["status"], call["end_reason"]) == ("completed", "api_stop")


@pytest.mark.skipif(TRIGGER_ON_KILL, reason="Airflow 3.3+ calls on_kill(): see the test above")
def test_before_airflow_3_3_a_user_kill_of_a_deferred_task_leaves_the_call_running(
    sim: OneInboxSimulator,
) -> None:
    """
    The fallback on Airflow 3.1: the triggerer cancels the trigger exactly as on a restart and
    never calls ``on_kill()``, so nothing can tell the kill apart and the call is left to end on
    its own (the agent's maximum duration). ``cleanup()`` must not hang up, or every restart
    would. Use ``deferrable=False`` where a kill must hang up (the worker's ``on_kill``, above),
    or stop the call with ``OneInboxStopCallOperator``.
    """
    call_id, trigger = place(LONG_CALL)
    asyncio.run(run_then_kill_in_airflows_runner(trigger, sim))
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")
    assert the_call(sim)["status"] == "in_progress"


def test_a_deadline_passing_while_deferred_hangs_up_and_fails_saying_so(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with timed() as elapsed:
        _, ti = run_place_call(load_dag, poll_interval=0.2, timeout=1.5, retries=1, retry_delay=0)
    assert elapsed[0] < 20
    assert (ti.state, ti.try_number) == ("failed", 1)  # not retried: a retry would find it hung up
    call = the_call(sim)
    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    assert f"Timed out waiting for OneInbox call {call['id']}" in output
    assert "The call was hung up." in output
    assert len(sim.requests(method="POST", path_prefix=f"/v1/calls/{call['id']}/stop")) == 1
    time.sleep(0.3)
    assert the_call(sim)["end_reason"] == "api_stop"
    assert sim.calls_created(LONG_CALL) == 1
