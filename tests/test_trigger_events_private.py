"""
A deferred wait's trigger event carries ids, statuses and flags only; the task still returns the whole call.

Airflow's triggerer logs every event at INFO ("Trigger fired event", with the event's repr) and stores
it in the metadata DB (the task instance's ``next_kwargs``). These tests run deferred tasks through
``dag.test()``, which runs each trigger inline, and look at the event, at those two renderings of it
and at everything logged while the trigger ran: no transcript, variables, numbers or signed recording
URL may be there, while the task's result has them all, read by the worker when it resumed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowException
from tests.conftest import task_xcoms
from tests.helpers.calls import AGENT, FROM, get, place
from tests.helpers.dags import instances, write_dag

pytestmark = pytest.mark.airflow_db

BOOKED = "+14155550101"  # scenario 01: answered, "Appointment Booked"; agt_sales records the call
VARIABLES = {"customer_name": "Zebulon Quackenbush", "account_ref": "ACCT-7731-PRIVATE"}
RECORD_ROUTE = "/v1/calls/{call_id}"
EVENT_KEYS = {"status", "call_id", "call_status", "end_reason", "analysis_missing"}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.args!r}")


@pytest.fixture
def trigger_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, sim: OneInboxSimulator
) -> list[dict[str, Any]]:
    """
    Every trigger ``dag.test()`` runs: its event, the triggerer's two renderings of it (the
    "Trigger fired event" log line and the JSON stored in ``next_kwargs``), what was printed or
    logged while it ran, and the call reads made until then.
    """
    import airflow.sdk.definitions.dag as sdk_dag

    try:
        from airflow.sdk.serde import serialize
    except ImportError:  # Airflow < 3.2
        from airflow.serialization.serde import serialize  # type: ignore[no-redef]

    runs: list[dict[str, Any]] = []
    run_inline = sdk_dag._run_inline_trigger

    def recording_run_inline(trigger: Any, task_sdk_ti: Any) -> Any:
        capsys.readouterr()  # the worker's output so far
        handler = _Lines()
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            event = run_inline(trigger, task_sdk_ti)
        finally:
            root.removeHandler(handler)
        printed = capsys.readouterr()
        runs.append(
            {
                "event": event.payload,
                "fired_line": f"Trigger fired event name={trigger!r} result={event!r}",
                "stored": json.dumps(serialize(event.payload)),
                "output": printed.out + printed.err + "\n".join(handler.lines),
                "record_reads": len(record_reads(sim)),
            }
        )
        return event

    monkeypatch.setattr(sdk_dag, "_run_inline_trigger", recording_run_inline)
    return runs


def record_reads(sim: OneInboxSimulator) -> list[dict[str, Any]]:
    """``GET /v1/calls/{id}`` requests so far."""
    return [r for r in sim.requests(method="GET") if r["route"] == RECORD_ROUTE]


def place_and_wait(load_dag: Callable[..., Any], to: str, extra: str = "") -> Any:
    body = (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="{AGENT}", to_number="{to}", '
        f'from_number="{FROM}", variables={VARIABLES!r}, metadata={{"crm_ref": "CRM-99-PRIVATE"}}, '
        f"wait_for_completion=True, poll_interval=0.1, analysis_grace_period=10{extra})"
    )
    return write_dag(load_dag, body, prelude="from datetime import timedelta", prefix="private").test()


def private_values(result: dict[str, Any]) -> list[str]:
    """What must never reach the triggerer's log or the metadata DB, taken from the task's result."""
    query = parse_qs(urlsplit(result["recording_url"]).query)
    (signature,) = query["signature"]
    values = [
        signature,
        result["recording_url"],
        result["to_number"],
        result["from_number"],
        result["summary"],
        "Zebulon",
        "Quackenbush",
        "ACCT-7731",
        "CRM-99",
    ]
    values += [message["content"] for message in result["messages"]]
    return values


def test_the_event_names_the_call_and_the_task_still_returns_all_of_it(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], trigger_runs: list[dict[str, Any]]
) -> None:
    dag_run = place_and_wait(load_dag, BOOKED)

    (ti,) = instances(dag_run, "call")
    assert (ti.state, ti.try_number) == ("success", 1)
    (result,) = task_xcoms(dag_run, "call")
    # The whole call, read by the worker when it resumed.
    assert "Zebulon Quackenbush" in result["transcript"]
    assert result["analysis"]["outcome"] == "Appointment Booked"
    assert result["analysis_missing"] is False
    assert "signature=" in result["recording_url"]
    assert result["metadata"]["crm_ref"] == "CRM-99-PRIVATE"
    assert task_xcoms(dag_run, "call", "transcript") == [result["transcript"]]

    (run,) = trigger_runs
    for where in ("fired_line", "stored", "output"):
        for value in private_values(result):
            assert value not in run[where], f"{value!r} is in the triggerer's {where}"
    assert "recording" not in run["stored"]
    event = run["event"]
    assert event == {
        "status": "success",
        "call_id": result["call_id"],
        "call_status": "completed",
        "end_reason": result["end_reason"],
        "analysis_missing": False,
    }
    assert set(event) == EVENT_KEYS
    # One read of the record by the worker after the event; none after that.
    assert len(record_reads(sim)) == run["record_reads"] + 1


def test_a_failed_read_on_resume_fails_the_try_and_the_retry_reattaches_at_once(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    trigger_runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import airflow.sdk.definitions.dag as sdk_dag

    to = "+14155550161"  # default scenario: talks 20 s, "Interested"
    run_inline = sdk_dag._run_inline_trigger

    def then_break_the_next_read(trigger: Any, task_sdk_ti: Any) -> Any:
        event = run_inline(trigger, task_sdk_ti)
        # The worker's read and its 3 retries (the test connection's max_retries) all get a 500.
        sim.set_faults(server_error_burst=4, only_methods=["GET"], only_routes=[RECORD_ROUTE])
        return event

    monkeypatch.setattr(sdk_dag, "_run_inline_trigger", then_break_the_next_read)
    dag_run = place_and_wait(load_dag, to, ", retries=1, retry_delay=timedelta(0)")

    (ti,) = instances(dag_run, "call")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert sim.stats()["faults_injected"]["5xx"] == 4
    assert sim.calls_created(to) == 1  # the retry did not dial again
    assert len(trigger_runs) == 1  # ... nor wait again: the call had ended with its analysis
    (result,) = task_xcoms(dag_run, "call")
    assert "Zebulon Quackenbush" in result["transcript"]
    assert result["analysis"]["outcome"] == "Interested"
    assert result["call_id"] == trigger_runs[0]["event"]["call_id"]


class _TaskInstance:
    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context_of(ti: _TaskInstance) -> Any:
    """A task context holding just ``ti``: all the finish step touches."""
    return {"ti": ti}


def test_an_event_of_the_previous_shape_still_finishes_the_task(sim: OneInboxSimulator) -> None:
    """
    A trigger of the previous version fired before the upgrade: its event holds a record that the
    old rule may have judged ready while it was still unanalysed. The record is read afresh.
    """
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    call_id = place(BOOKED)
    stale = {**get(call_id), "status": "completed", "analysis": {"outcome": None, "summary": None}}
    sim.advance(3600)
    reads = len(record_reads(sim))
    sensor = OneInboxCallSensor(task_id="wait", call_id=call_id)
    ti = _TaskInstance()
    old = {"status": "success", "call_id": call_id, "call": stale, "analysis_missing": False}
    result = sensor.execute_complete(context=context_of(ti), event=old)  # type: ignore[arg-type]
    assert result["analysis"]["outcome"] == "Appointment Booked"
    assert result["analysis_missing"] is False
    assert ti.xcoms["transcript"] == result["transcript"]
    assert len(record_reads(sim)) == reads + 1  # read afresh, not taken from the event
    timeout = {"status": "timeout", "call_id": call_id, "call": None, "message": "Timed out (old)."}
    with pytest.raises(AirflowException, match=r"Timed out \(old\)"):
        sensor.execute_complete(context=context_of(ti), event=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"status": "success", "call_id": "c", "call": "x"}, "without a 'call' record or a 'call_status'"),
        ({"status": "success", "call_id": 7, "call_status": "completed"}, "'call_id' is 7"),
        (
            {"status": "success", "call_id": "c", "call_status": "completed", "analysis_missing": "no"},
            "'analysis_missing' is not a bool",
        ),
    ],
)
def test_malformed_events_of_the_new_shape_are_refused(event: dict[str, Any], match: str) -> None:
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    sensor = OneInboxCallSensor(task_id="wait", call_id="c")
    with pytest.raises(AirflowException, match=match):
        sensor.execute_complete(context={}, event=event)  # type: ignore[arg-type]


def test_an_analysis_that_arrived_after_the_wait_gave_up_is_kept(sim: OneInboxSimulator) -> None:
    """The event said the analysis was missing; the record read on resume has it: the result says so."""
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    call_id = place(BOOKED)
    sim.advance(3600)
    event = {
        "status": "success",
        "call_id": call_id,
        "call_status": "completed",
        "end_reason": "user_hangup",
        "analysis_missing": True,
    }
    result = OneInboxCallSensor(task_id="wait", call_id=call_id).execute_complete(
        context=context_of(_TaskInstance()),
        event=event,
    )
    assert (result["analysis_missing"], result["outcome"]) == (False, "Appointment Booked")


def test_a_record_without_its_post_call_data_on_resume_is_returned_as_missing(
    sim: OneInboxSimulator,
) -> None:
    """Whatever the event said, the record read on resume decides: no post-call data is missing."""
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    call_id = place("+14155550108")  # completes, but never gets post-call data
    sim.advance(3600)
    for said in (True, False):
        event = {
            "status": "success",
            "call_id": call_id,
            "call_status": "completed",
            "end_reason": None,
            "analysis_missing": said,
        }
        result = OneInboxCallSensor(task_id="wait", call_id=call_id).execute_complete(
            context=context_of(_TaskInstance()),
            event=event,
        )
        assert (result["status"], result["analysis"], result["analysis_missing"]) == ("completed", None, True)
