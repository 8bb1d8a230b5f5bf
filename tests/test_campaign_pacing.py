"""Pacing: starts never closer than 60 / calls_per_minute seconds, never more calls live than the cap."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaigns.pacing import Pacing, PacingDecision, latest_start

T0 = datetime(2026, 6, 10, 12, tzinfo=UTC)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


@pytest.mark.parametrize(
    ("concurrent", "per_minute", "message"),
    [
        (0, 60, "max_concurrent_calls must be an integer from 1"),
        (True, 60, "max_concurrent_calls"),
        (2.0, 60, "max_concurrent_calls"),
        (5000, 60, "max_concurrent_calls"),
        (2, 0, "calls_per_minute must be a number > 0"),
        (2, -1, "calls_per_minute"),
        (2, float("inf"), "calls_per_minute"),
        (2, "60", "calls_per_minute"),
        (2, 6000, "at most 600"),
    ],
)
def test_bad_pacing_fails_naming_the_parameter(concurrent: object, per_minute: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pacing(concurrent, per_minute)  # type: ignore[arg-type]


def test_calls_per_minute_is_a_spacing_between_starts() -> None:
    assert Pacing(5, 60).spacing == timedelta(seconds=1)
    assert Pacing(5, 0.5).spacing == timedelta(minutes=2)
    assert Pacing(5, 40).spacing == timedelta(seconds=1.5)


def test_a_call_starts_when_both_caps_allow_and_says_when_the_next_may() -> None:
    pacing = Pacing(3, 30)  # one start every 2 s
    assert pacing.next_start(T0, 0, None) == PacingDecision(True, seconds(2))
    assert pacing.next_start(seconds(1), 1, T0) == PacingDecision(False, seconds(2))
    assert pacing.next_start(seconds(2), 1, T0) == PacingDecision(True, seconds(4))
    # The start that fills the last slot: the next one waits for a call to end.
    assert pacing.next_start(seconds(4), 2, seconds(2)) == PacingDecision(True, None)
    assert pacing.next_start(seconds(60), 3, seconds(4)) == PacingDecision(False, None)


def test_next_start_refuses_naive_times_and_negative_counts() -> None:
    pacing = Pacing(1, 60)
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        pacing.next_start(datetime(2026, 6, 10), 0, None)
    with pytest.raises(ValueError, match="last_start must be a timezone-aware"):
        pacing.next_start(T0, 0, datetime(2026, 6, 10))
    with pytest.raises(ValueError, match="live must be an integer >= 0"):
        pacing.next_start(T0, -1, None)


def test_after_a_restart_pacing_resumes_from_the_ledgers_latest_attempt_plus_slack() -> None:
    recorded = [seconds(0), seconds(7), seconds(3)]
    assert latest_start([]) is None
    assert latest_start(recorded) == seconds(7)
    last = latest_start(recorded, slack=timedelta(seconds=30))
    assert last == seconds(37)
    pacing = Pacing(2, 60)
    assert pacing.next_start(seconds(20), 0, last) == PacingDecision(False, seconds(38))
    with pytest.raises(ValueError, match="slack"):
        latest_start(recorded, slack=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_start([datetime(2026, 6, 10)])


@settings(max_examples=200, deadline=None)
@given(
    concurrent=st.integers(1, 5),
    per_minute=st.sampled_from([0.5, 1, 7, 30, 60, 90, 600]),
    steps=st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.integers(0, 3)), min_size=1, max_size=80),
)
def test_no_schedule_starts_two_calls_closer_than_the_spacing_or_exceeds_the_cap(
    concurrent: int, per_minute: float, steps: list[tuple[float, int]]
) -> None:
    """A worker asking at arbitrary moments, with calls ending at arbitrary moments."""
    pacing = Pacing(concurrent, per_minute)
    now, live = T0, 0
    starts: list[datetime] = []
    for pause, ended in steps:
        now += timedelta(seconds=pause)
        live = max(live - ended, 0)
        while True:
            decision = pacing.next_start(now, live, starts[-1] if starts else None)
            if not decision.start_now:
                # The promise is kept: at next_at (same calls live) the start is allowed.
                if decision.next_at is not None:
                    assert decision.next_at > now
                    assert pacing.next_start(decision.next_at, live, starts[-1]).start_now
                else:
                    assert live >= concurrent
                break
            assert live < concurrent
            if starts:
                assert now - starts[-1] >= pacing.spacing
            starts.append(now)
            live += 1
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= pacing.spacing
