"""OneInboxCallSensor in deferrable, poke and reschedule modes, through real ``dag.test()`` runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowException
from tests.conftest import task_xcoms
from tests.helpers.calls import get, place
from tests.helpers.dags import write_dag

pytestmark = pytest.mark.airflow_db

RESULT_KEYS = {
    "call_id",
    "status",
    "duration_seconds",
    "messages",
    "transcript",
    "analysis",
    "outcome",
    "summary",
    "end_reason",
    "recording_url",
    "analysis_missing",
    "to_number",
    "from_number",
    "agent_id",
    "metadata",
}


class Code(str):
    """A DAG-file argument written as code rather than as a literal."""

    def __repr__(self) -> str:
        return str(self)


def output(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged so far, whichever way Airflow's logging went."""
    captured = capsys.readouterr()
    return captured.out + captured.err + caplog.text


def run_sensor(load_dag: Callable[..., Any], call_id: str, **arguments: Any) -> Any:
    """Run a one-sensor DAG with ``dag.test()``; return its DagRun and the sensor's task instance."""
    arguments = {"poke_interval": 0.2, "timeout": 30, "analysis_grace_period": 1, **arguments}
    rendered = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
    body = f'OneInboxCallSensor(task_id="wait", call_id="{call_id}", {rendered})'
    dag = write_dag(load_dag, body, prefix="sensor")
    dag_run = dag.test()
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "wait"]
    return dag_run, ti


@pytest.mark.parametrize(
    "mode_arguments",
    [{}, {"deferrable": False}, {"mode": "reschedule", "poke_interval": 0.5}],
    ids=["deferrable", "poke", "reschedule"],
)
def test_sensor_returns_the_call_result_and_pushes_xcoms(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], mode_arguments: dict[str, Any]
) -> None:
    call_id = place("+14155550101")
    dag_run, ti = run_sensor(load_dag, call_id, **mode_arguments)
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "wait")
    assert set(result) == RESULT_KEYS
    assert result["call_id"] == call_id
    assert result["outcome"] == "Appointment Booked"
    assert result["analysis_missing"] is False
    assert result["transcript"].startswith("Agent: ")
    assert task_xcoms(dag_run, "wait", "transcript") == [result["transcript"]]
    assert task_xcoms(dag_run, "wait", "analysis") == [result["analysis"]]
    assert task_xcoms(dag_run, "wait", "call_id") == [call_id]
    assert task_xcoms(dag_run, "wait", "call_url") == [f"https://app.oneinbox.ai/calls/{call_id}"]


@pytest.mark.parametrize(
    "mode_arguments", [{}, {"mode": "reschedule", "poke_interval": 0.5}], ids=["deferrable", "reschedule"]
)
def test_missing_analysis_ends_after_the_grace_period(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], mode_arguments: dict[str, Any]
) -> None:
    call_id = place("+14155550108")  # completes, but never gets post-call data
    assert get(call_id)["analysis"] == {"outcome": None, "summary": None}  # the reference's unprocessed shape
    dag_run, ti = run_sensor(load_dag, call_id, analysis_grace_period=0.5, **mode_arguments)
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "wait")
    assert (result["analysis_missing"], result["analysis"], result["outcome"]) == (True, None, None)
    assert (result["status"], result["messages"], result["transcript"]) == ("completed", [], "")
    assert task_xcoms(dag_run, "wait", "analysis") == [None]


def end_the_call_once_polled_twice(sim: OneInboxSimulator, call_id: str) -> threading.Thread:
    """
    A thread that ends the call (frozen clock moved 10 minutes on) once it has been read twice.

    The sensor's own look before it defers, then the trigger's first poll: on a running clock, a
    loaded machine can take longer to start the task than the call lasts, and a call already over
    is rightly returned without deferring.
    """

    def reads() -> int:
        return len(sim.requests("GET", f"/v1/calls/{call_id}"))

    def end_when_polled() -> None:
        deadline = time.monotonic() + 60
        while reads() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        sim.advance(600)

    thread = threading.Thread(target=end_when_polled, daemon=True)
    thread.start()
    return thread


def test_sensor_defers_rather_than_polling_in_the_worker(
    frozen: OneInboxSimulator,
    load_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call_id = place("+14155550199")
    ender = end_the_call_once_polled_twice(frozen, call_id)
    _, ti = run_sensor(load_dag, call_id)
    ender.join(timeout=5)
    assert ti.state == "success"
    assert "running trigger in line" in output(capsys, caplog)


def test_a_finished_call_is_returned_without_deferring(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call_id = place("+14155550107")
    sim.advance(60)  # ended, with its analysis
    dag_run, ti = run_sensor(load_dag, call_id)
    assert ti.state == "success"
    assert task_xcoms(dag_run, "wait")[0]["outcome"] == "Not Interested"
    assert "running trigger in line" not in output(capsys, caplog)
    assert len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) == 1


def test_failed_call_fails_the_task_naming_id_status_and_end_reason(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call_id = place("+14155550104")
    _, ti = run_sensor(load_dag, call_id)
    assert ti.state == "failed"
    expected = f"OneInbox call {call_id} failed: status 'failed', end_reason 'carrier_error'"
    assert expected in output(capsys, caplog)


def test_not_connected_is_not_an_error_by_default(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    dag_run, ti = run_sensor(load_dag, place("+14155550102"), deferrable=False)
    assert ti.state == "success"
    assert task_xcoms(dag_run, "wait")[0]["outcome"] == "Not Connected"


def test_fail_on_outcomes_fails_without_retries(sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    _, ti = run_sensor(
        load_dag, place("+14155550107"), fail_on_outcomes=["not interested"], retries=2, retry_delay=0
    )
    assert ti.state == "failed"
    assert ti.try_number == 1


@pytest.mark.parametrize("mode_arguments", [{}, {"deferrable": False}], ids=["deferrable", "poke"])
def test_skip_on_outcomes_skips(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], mode_arguments: dict[str, Any]
) -> None:
    dag_run, ti = run_sensor(
        load_dag, place("+14155550103"), skip_on_outcomes=["VOICEMAIL"], **mode_arguments
    )
    assert ti.state == "skipped"
    assert task_xcoms(dag_run, "wait", "analysis")[0]["outcome"] == "Voicemail"


@pytest.mark.parametrize("mode_arguments", [{}, {"deferrable": False}], ids=["deferrable", "poke"])
def test_timeout_hangs_up_the_call(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], mode_arguments: dict[str, Any]
) -> None:
    call_id = place("+14155550105")
    _, ti = run_sensor(load_dag, call_id, timeout=1, retries=1, retry_delay=0, **mode_arguments)
    assert ti.state == "failed"
    assert ti.try_number == 1  # a timeout is not retried
    time.sleep(0.3)  # end_reason arrives with the post-call data
    call = get(call_id)
    assert (call["status"], call["end_reason"]) == ("completed", "api_stop")


def test_timeout_leaves_the_call_running_when_asked(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    call_id = place("+14155550105")
    _, ti = run_sensor(load_dag, call_id, timeout=1, hang_up_on_timeout=False)
    assert ti.state == "failed"
    assert get(call_id)["status"] == "in_progress"
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")


def test_execution_timeout_bounds_the_deferred_wait(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    # Airflow does not enforce execution_timeout while deferred: the trigger's deadline must.
    call_id = place("+14155550105")
    started = time.monotonic()
    _, ti = run_sensor(load_dag, call_id, timeout=600, execution_timeout=Code("timedelta(seconds=1.5)"))
    assert ti.state == "failed"
    assert time.monotonic() - started < 20
    time.sleep(0.3)
    assert get(call_id)["end_reason"] == "api_stop"


def test_worker_on_kill_hangs_up(sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    # In the worker, execution_timeout kills the task and Airflow calls on_kill().
    call_id = place("+14155550105")
    _, ti = run_sensor(load_dag, call_id, deferrable=False, execution_timeout=Code("timedelta(seconds=1.5)"))
    assert ti.state == "failed"
    time.sleep(0.3)
    assert get(call_id)["end_reason"] == "api_stop"


def test_unknown_call_fails_without_retries(sim: OneInboxSimulator, load_dag: Callable[..., Any]) -> None:
    _, ti = run_sensor(load_dag, "5f0c2a9e-1b7d-4c3e-8a6f-0123456789ab", retries=2, retry_delay=0)
    assert ti.state == "failed"
    assert ti.try_number == 1


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (None, "without an event"),
        ("success", "expected a dict"),
        ({}, "'status' is None"),
        ({"status": "done", "call_id": "c"}, "'status' is 'done'"),
        ({"status": "success", "call_id": "c"}, "without a 'call' record"),
        ({"status": "error", "message": "boom"}, "no 'call_id'"),
    ],
)
def test_execute_complete_rejects_malformed_events(event: Any, match: str) -> None:
    sensor = OneInboxCallSensor(task_id="wait", call_id="call_1")
    with pytest.raises(AirflowException, match=match):
        sensor.execute_complete(context={}, event=event)  # type: ignore[arg-type]


def test_error_events_map_to_retryable_or_not() -> None:
    from airflow_provider_oneinbox.task_errors import AirflowFailException

    sensor = OneInboxCallSensor(task_id="wait", call_id="call_1")
    event = {"status": "error", "call_id": "call_1", "message": "401", "error_type": "X", "permanent": True}
    with pytest.raises(AirflowFailException, match="401"):
        sensor.execute_complete(context={}, event=event)  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="503") as raised:
        sensor.execute_complete(context={}, event={**event, "message": "503", "permanent": False})  # type: ignore[arg-type]
    assert not isinstance(raised.value, AirflowFailException)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"poke_interval": 0}, "poke_interval must be > 0"),
        ({"poke_interval": 10, "timeout": 5}, "raise timeout or lower poke_interval"),
        ({"analysis_grace_period": -1}, "analysis_grace_period"),
        ({"fail_on_outcomes": "Voicemail"}, "fail_on_outcomes must be a collection"),
        ({"fail_on_outcomes": ["x"], "skip_on_outcomes": ["X"]}, "both"),
    ],
)
def test_bad_wait_settings_are_refused_at_init(arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OneInboxCallSensor(task_id="wait", call_id="call_1", **arguments)


def test_modules_do_not_import_aiohttp_or_the_simulator_at_parse_time() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_provider_oneinbox.operators.calls, airflow_provider_oneinbox.sensors.calls\n"
        "simulator = 'airflow_provider_oneinbox.simulator'\n"
        "print('HEAVY', [m for m in sys.modules if m == 'aiohttp' or m.startswith(simulator)])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout.splitlines()
