"""OneInboxCallTrigger run directly on an event loop against the simulator (no mocked HTTP)."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.conftest import TEST_API_KEY, connection_json
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import only_event, trigger_for
from tests.helpers.triggerers import in_a_triggerer, task_state_is


def test_success_once_the_call_ended_with_its_post_call_data(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550101")
    event = only_event(trigger_for(call_id))
    assert event == {
        "status": "success",
        "call_id": call_id,
        "call_status": "completed",
        "end_reason": event["end_reason"],
        "analysis_missing": False,
    }
    assert event["end_reason"]  # the record's, as the trigger last read it
    call = get(call_id)  # the event carries no record: the worker reads it
    assert (call["status"], call["end_reason"]) == ("completed", event["end_reason"])
    assert call["analysis"]["outcome"] == "Appointment Booked"
    assert [m["role"] for m in call["messages"]][:2] == ["agent", "user"]


def test_waits_for_the_analysis_that_lags_the_end(
    sim: OneInboxSimulator, capsys: pytest.CaptureFixture
) -> None:
    sim.configure(analysis_delay=20)  # 1 real second between the end and the analysis
    try:
        call_id = place("+14155550107")
        event = only_event(trigger_for(call_id, poll_interval=0.05))
    finally:
        sim.configure(analysis_delay=3)
    logs = capsys.readouterr()
    assert "waiting for its analysis" in logs.out + logs.err  # it saw the call ended without analysis
    assert (event["status"], event["analysis_missing"]) == ("success", False)
    call = get(call_id)
    assert call["analysis"]["outcome"] == "Not Interested"
    assert call["messages"]


def test_no_analysis_ends_after_the_grace_period(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550108")  # completes, but never gets post-call data
    started = time.monotonic()
    event = only_event(trigger_for(call_id, analysis_grace_period=0.6))
    assert event["status"] == "success"
    assert event["analysis_missing"] is True
    assert event["call_status"] == "completed"
    call = get(call_id)
    assert call["analysis"] == {"outcome": None, "summary": None}  # the reference's unprocessed shape
    assert call["messages"] == []
    # The call talks for 22 simulated seconds (1.1 s real), then 0.6 s of grace.
    assert time.monotonic() - started >= 1.6


def test_unknown_status_is_logged_once_and_not_final(
    sim: OneInboxSimulator, capsys: pytest.CaptureFixture
) -> None:
    call_id = place("+14155550106")
    event = only_event(trigger_for(call_id, poll_interval=0.05))
    logs = capsys.readouterr()
    assert (event["status"], event["call_status"]) == ("success", "completed")
    assert (logs.out + logs.err).count("undocumented status 'ringing'") == 1


@pytest.mark.parametrize("fault", ["server_error_burst", "rate_limit_burst"])
def test_transient_errors_are_tolerated(sim: OneInboxSimulator, fault: str) -> None:
    call_id = place("+14155550199")
    # With the test connection's 3 hook-level retries, 6 failures cost the trigger 1-2 polls.
    sim.set_faults(**{fault: 6}, retry_after=0.05, only_methods=["GET"])
    event = only_event(trigger_for(call_id))
    assert event["status"] == "success"
    assert sum(sim.stats()["faults_injected"].values()) == 6


def test_too_many_consecutive_errors_give_an_error_event(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = place("+14155550105")
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_NORETRY", connection_json(sim.base_url, max_retries=0))
    sim.set_faults(server_error_ratio=1.0, only_methods=["GET"])
    event = only_event(
        trigger_for(
            call_id, oneinbox_conn_id="oneinbox_noretry", poll_interval=0.05, max_consecutive_errors=2
        )
    )
    assert event["status"] == "error"
    assert event["permanent"] is False
    assert event["error_type"] == "OneInboxServerError"
    assert len(sim.requests(method="GET", path_prefix=f"/v1/calls/{call_id}")) == 3


def test_wrong_api_key_is_a_permanent_error_at_once(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = place("+14155550105")
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_BADKEY", connection_json(sim.base_url, api_key="oi_sk_wrong"))
    event = only_event(trigger_for(call_id, oneinbox_conn_id="oneinbox_badkey"))
    assert event["status"] == "error"
    assert event["permanent"] is True
    assert event["error_type"] == "OneInboxAuthError"
    assert "oi_sk_wrong" not in event["message"]
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/")) == 1


def test_unknown_call_is_a_permanent_error_at_once(sim: OneInboxSimulator) -> None:
    unknown = "5f0c2a9e-1b7d-4c3e-8a6f-0123456789ab"  # well-formed (the API's ids are UUIDs), names no call
    event = only_event(trigger_for(unknown))
    assert event == {
        "status": "error",
        "call_id": unknown,
        "message": event["message"],
        "error_type": "OneInboxNotFoundError",
        "permanent": True,
    }
    assert unknown in event["message"]


def test_malformed_call_id_is_a_permanent_error_at_once(sim: OneInboxSimulator) -> None:
    event = only_event(trigger_for("call_does_not_exist"))  # not a UUID: FastAPI answers 422
    assert (event["status"], event["permanent"]) == ("error", True)
    assert "call_does_not_exist" in event["message"]
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/")) == 1


def test_deadline_gives_a_timeout_event_without_oversleeping(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550105")
    started = time.monotonic()
    event = only_event(trigger_for(call_id, poll_interval=30, deadline=time.time() + 0.5))
    elapsed = time.monotonic() - started
    assert set(event) == {"status", "call_id", "call_status", "message"}
    assert event["status"] == "timeout"
    assert event["call_status"] in {"initiated", "in_progress"}
    assert call_id in event["message"]
    assert 0.5 <= elapsed < 2.0  # not one 30 s poll_interval
    assert get(call_id)["status"] != "completed"  # a timeout alone never hangs up


def test_serialize_round_trip_without_secrets(sim: OneInboxSimulator) -> None:
    from airflow.models.trigger import Trigger

    call_id = place("+14155550199")
    classpath, kwargs = trigger_for(call_id, poll_interval=0.1).serialize()
    assert classpath == "airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger"
    assert all(isinstance(v, str | int | float | bool | type(None)) for v in kwargs.values())
    assert TEST_API_KEY not in repr(kwargs)
    assert not {"password", "api_key", "token", "host"} & set(kwargs)
    # The round trip Airflow itself makes when it stores a trigger (encrypted) and loads it again.
    restored = Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs))
    assert restored == kwargs
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**restored)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert only_event(rebuilt)["status"] == "success"


def test_one_tcp_connection_for_a_whole_wait(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550101")
    before = sim.stats()["connections_opened"]
    gets_before = len(sim.requests(method="GET"))
    assert only_event(trigger_for(call_id, poll_interval=0.05))["status"] == "success"
    assert len(sim.requests(method="GET")) - gets_before >= 10
    assert sim.stats()["connections_opened"] - before == 1


def test_on_kill_hangs_up_and_cleanup_does_not(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = place("+14155550105")
    trigger = trigger_for(call_id)
    in_a_triggerer(monkeypatch, trigger, task_state_is("failed"))  # a user marked the task failed

    async def restart_then_kill() -> tuple[dict[str, Any], dict[str, Any]]:
        # A triggerer restart: run() is cancelled, then cleanup() runs. The call must go on.
        task = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        task.cancel()
        await trigger.cleanup()
        after_restart = await asyncio.to_thread(get, call_id)
        await trigger.on_kill()
        await asyncio.sleep(0.3)  # end_reason arrives with the post-call data (3 simulated seconds)
        return after_restart, await asyncio.to_thread(get, call_id)

    after_restart, after_kill = asyncio.run(restart_then_kill())
    assert after_restart["status"] in {"initiated", "in_progress"}
    assert after_restart["end_reason"] is None
    assert after_kill["status"] == "completed"
    assert after_kill["end_reason"] == "api_stop"


def test_on_kill_leaves_the_call_when_asked(sim: OneInboxSimulator) -> None:
    call_id = place("+14155550105")
    asyncio.run(trigger_for(call_id, hang_up_on_kill=False).on_kill())
    assert get(call_id)["status"] in {"initiated", "in_progress"}
    assert not sim.requests(method="POST", path_prefix=f"/v1/calls/{call_id}/stop")
