"""Redial: which ended calls are called again, how often, and when."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaigns.redial import MAX_ATTEMPTS, RedialPolicy

ENDED = datetime(2026, 6, 10, 15, 4, tzinfo=UTC)


def test_the_default_policy_never_redials() -> None:
    policy = RedialPolicy()
    assert policy.next_attempt_at(1, "completed", "Not Connected", ENDED) is None
    assert policy.next_attempt_at(1, "failed", None, ENDED) is None


def test_outcomes_match_whatever_their_case_and_spacing() -> None:
    policy = RedialPolicy.of(["not connected", "VOICEMAIL"], max_attempts=3, redial_after=timedelta(hours=2))
    assert policy.outcomes == frozenset({"not connected", "voicemail"})
    assert policy.next_attempt_at(1, "completed", "Not  Connected", ENDED) == ENDED + timedelta(hours=2)
    assert policy.next_attempt_at(2, "completed", "Voicemail", ENDED) == ENDED + timedelta(hours=2)
    assert policy.next_attempt_at(1, "completed", "Appointment Booked", ENDED) is None


def test_attempts_stop_at_max_attempts() -> None:
    policy = RedialPolicy.of(["Voicemail"], max_attempts=3, redial_after=600)
    assert policy.redial_after == timedelta(minutes=10)
    assert policy.next_attempt_at(2, "completed", "Voicemail", ENDED) == ENDED + timedelta(minutes=10)
    assert policy.next_attempt_at(3, "completed", "Voicemail", ENDED) is None


def test_a_failed_call_is_redialled_only_when_failed_is_listed() -> None:
    without = RedialPolicy.of(["Not Connected"], max_attempts=2)
    with_failed = RedialPolicy.of(["Not Connected", "Failed"], max_attempts=2)
    assert without.next_attempt_at(1, "failed", None, ENDED) is None
    assert with_failed.next_attempt_at(1, "failed", None, ENDED) == ENDED + timedelta(hours=1)
    # "failed" names the status, not an outcome a completed call may carry.
    assert without.redials("completed", None) is False


def test_a_call_without_an_outcome_is_not_redialled() -> None:
    policy = RedialPolicy.of(["Not Connected"], max_attempts=2)
    assert policy.next_attempt_at(1, "completed", None, ENDED) is None


def test_a_call_that_has_not_ended_is_refused() -> None:
    policy = RedialPolicy.of(["Not Connected"], max_attempts=2)
    with pytest.raises(ValueError, match="the call has ended"):
        policy.next_attempt_at(1, "in_progress", None, ENDED)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcomes": "Voicemail", "max_attempts": 2}, "redial_outcomes must be a list"),
        ({"outcomes": ["Voicemail", ""], "max_attempts": 2}, "non-empty strings"),
        ({"outcomes": ["Voicemail"], "max_attempts": 0}, "max_attempts must be an integer from 1"),
        ({"outcomes": ["Voicemail"], "max_attempts": MAX_ATTEMPTS + 1}, "max_attempts"),
        ({"outcomes": ["Voicemail"], "max_attempts": True}, "max_attempts"),
        ({"outcomes": [], "max_attempts": 3}, "max_attempts=3 needs redial_outcomes"),
        ({"outcomes": ["Voicemail"], "max_attempts": 2, "redial_after": -5}, "redial_after must be between"),
        ({"outcomes": ["Voicemail"], "max_attempts": 2, "redial_after": timedelta(days=90)}, "30 days"),
        ({"outcomes": ["Voicemail"], "max_attempts": 2, "redial_after": "1h"}, "timedelta or a number"),
    ],
)
def test_bad_policies_fail_naming_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedialPolicy.of(**kwargs)


def test_the_constructor_checks_and_normalizes_like_of() -> None:
    assert RedialPolicy(["Voicemail"], 2, 60) == RedialPolicy.of(["voicemail"], 2, timedelta(minutes=1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_attempts"):
        RedialPolicy(frozenset({"voicemail"}), 0)


@pytest.mark.parametrize(
    ("attempt", "ended_at", "message"),
    [(0, ENDED, "attempt must be an integer >= 1"), (1, datetime(2026, 6, 10), "timezone-aware")],
)
def test_next_attempt_at_checks_its_arguments(attempt: int, ended_at: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedialPolicy.of(["Voicemail"], 2).next_attempt_at(attempt, "completed", "Voicemail", ended_at)
