"""The wait's pure rules: the policy's checks, the typed events and their wire shapes, old ones included."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxRateLimitError, OneInboxServerError
from airflow_provider_oneinbox.rules.events import (
    CallSucceeded,
    CallTimedOut,
    CallWaitFailed,
    MalformedEventError,
    event_from_payload,
)
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS, WaitPolicy
from airflow_provider_oneinbox.rules.watch import CallWatch, error_backoff


def test_the_policy_converts_its_arguments_and_is_frozen() -> None:
    policy = WaitPolicy.of(
        poll_interval=timedelta(seconds=5), timeout=timedelta(minutes=2), fail_on_outcomes=["Not Interested"]
    )
    assert (policy.poll_interval, policy.timeout, policy.fail_on_outcomes) == (
        5.0,
        120.0,
        ("Not Interested",),
    )
    assert policy.max_consecutive_errors == DEFAULT_MAX_CONSECUTIVE_ERRORS
    with pytest.raises(AttributeError):
        policy.timeout = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"poll_interval": 0}, r"poll_interval must be > 0 seconds, got 0(\.0)?; e\.g\. 10\."),
        ({"poll_interval": float("nan")}, "poll_interval must be a number of seconds or a timedelta"),
        ({"poll_interval": 10, "timeout": 5}, r"raise timeout or lower poll_interval\."),
        ({"analysis_grace_period": -1}, "analysis_grace_period must be >= 0 seconds"),
        ({"max_consecutive_errors": True}, "max_consecutive_errors must be an int >= 0, got True"),
        ({"max_consecutive_errors": -1}, "max_consecutive_errors must be >= 0, got -1"),
        ({"skip_on_outcomes": "Voicemail"}, "skip_on_outcomes must be a collection of outcome strings"),
        ({"fail_on_outcomes": ["Busy"], "skip_on_outcomes": ["busy"]}, r"\['busy'\] are in both"),
    ],
)
def test_a_bad_policy_names_the_parameter_and_the_fix(arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WaitPolicy.of(**arguments)


def test_the_policy_speaks_the_sensors_name_for_its_interval() -> None:
    with pytest.raises(ValueError, match="raise timeout or lower poke_interval"):
        WaitPolicy.of(poll_interval=10, timeout=5, poll_interval_name="poke_interval")
    with pytest.raises(ValueError, match="timeout"):  # the constructor checks too
        WaitPolicy(poll_interval=10, timeout=5)


def test_outcomes_match_case_insensitively_and_only_strings() -> None:
    policy = WaitPolicy.of(fail_on_outcomes=["Not Interested"], skip_on_outcomes=["Voicemail"])
    assert policy.fails_on("not interested")
    assert not policy.fails_on("Voicemail")
    assert policy.skips_on("VOICEMAIL")
    assert not policy.skips_on(None)
    assert not policy.skips_on(3)


def test_the_budget_is_the_timeout_or_what_execution_timeout_leaves() -> None:
    policy = WaitPolicy.of(poll_interval=1, timeout=100)
    assert policy.budget(None, spent=30) == 100
    assert policy.budget(60, spent=30) == 30
    assert policy.budget(60, spent=90) == 0


@pytest.mark.parametrize(
    "event",
    [
        CallSucceeded("c1", call_status="completed", end_reason="user_hangup", analysis_missing=True),
        CallTimedOut("c1", call_status=None, message="Timed out waiting for OneInbox call c1."),
        CallWaitFailed("c1", message="401", error_type="OneInboxAuthError", permanent=True),
    ],
)
def test_events_round_trip_through_their_payload(event: Any) -> None:
    payload = event.to_payload()
    assert payload["status"] == event.status
    assert event_from_payload(payload) == event


def test_event_payloads_keep_their_slim_shape() -> None:
    assert CallSucceeded("c1", call_status="completed").to_payload() == {
        "status": "success",
        "call_id": "c1",
        "call_status": "completed",
        "end_reason": None,
        "analysis_missing": False,
    }
    assert set(CallTimedOut("c1").to_payload()) == {"status", "call_id", "call_status", "message"}
    assert set(CallWaitFailed("c1").to_payload()) == {
        "status",
        "call_id",
        "message",
        "error_type",
        "permanent",
    }


def test_an_event_stored_by_an_earlier_version_with_the_record_still_parses() -> None:
    stored = {
        "status": "success",
        "call_id": "c1",
        "call": {"id": "c1", "status": "failed", "end_reason": "no_answer", "transcript": "Agent: hi"},
        "analysis_missing": False,
    }
    assert event_from_payload(stored) == CallSucceeded(
        "c1", call_status="failed", end_reason="no_answer", analysis_missing=False
    )


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (None, "without an event"),
        (["success"], "expected a dict, got list"),
        ({"status": "done", "call_id": "c"}, "'status' is 'done'"),
        ({"status": "success", "call_id": "c"}, "without a 'call' record or a 'call_status'"),
        ({"status": "timeout"}, "no 'call_id'"),
        ({"status": "timeout", "call_id": 7}, "'call_id' is 7"),
        ({"status": "success", "call_id": "c", "call_status": "x", "analysis_missing": "no"}, "not a bool"),
    ],
)
def test_a_malformed_payload_is_refused_saying_why(payload: Any, match: str) -> None:
    with pytest.raises(MalformedEventError, match=match):
        event_from_payload(payload)


def test_the_watch_returns_typed_events_and_owns_the_backoff() -> None:
    watch = CallWatch(
        "c1",
        poll_interval=2,
        deadline=time.time() + 60,
        analysis_grace_period=0,
        max_consecutive_errors=2,
        log=logging.getLogger(__name__),
    )
    assert watch.observe_error(OneInboxServerError("503")) is None
    assert watch.next_delay()[0] == pytest.approx(2)
    assert watch.observe_error(OneInboxRateLimitError("429", retry_after=9)) is None
    assert watch.next_delay()[0] == pytest.approx(9)  # a 429's Retry-After beats the doubling (4 s)
    event = watch.observe_error(OneInboxServerError("503"))
    assert isinstance(event, CallWaitFailed)
    assert not event.permanent
    assert "3 failures in a row; max_consecutive_errors=2" in event.message
    ended = watch.observe(
        {"id": "c1", "status": "completed", "messages": [{"role": "agent", "content": "hi"}]}
    )
    assert ended == CallSucceeded("c1", call_status="completed", end_reason=None, analysis_missing=False)


def test_the_backoff_reads_any_error_with_transient_and_optionally_retry_after() -> None:
    class Throttled(Exception):
        transient = True
        retry_after = 7.0

    class Flaky(Exception):
        transient = True

    assert error_backoff(1, 1, Throttled()) == 7.0
    assert error_backoff(1, 3, Flaky()) == 4.0
    assert error_backoff(1, 30, Flaky()) == 300.0
