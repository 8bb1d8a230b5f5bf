"""Airflow 3.1's "create in flight" rule (``campaigns/inflight.py``): when a walk's silence is believed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaigns.inflight import (
    MAX_WAIT,
    absence_trusted_from,
    earlier_process_until,
    wait_before_walk,
    wait_for_inflight_creates,
)

NOW = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("try_number", "resumed", "expected"),
    [
        (1, False, None),  # a first try: no earlier process
        (None, False, None),
        (1, True, None),  # a resume: the worker deferred between creates
        (3, True, None),
        (2, False, NOW),  # a retry: the try before may have died mid-create, before now
        (5, False, NOW),
    ],
)
def test_only_a_retry_can_follow_a_create_in_flight(
    try_number: int | None, resumed: bool, expected: datetime | None
) -> None:
    assert earlier_process_until(try_number, resumed, NOW) == expected


def test_absence_is_trusted_one_create_timeout_after_the_earlier_process() -> None:
    assert absence_trusted_from(None, 30) is None
    assert absence_trusted_from(NOW, 30) == NOW + timedelta(seconds=30)
    assert absence_trusted_from(NOW, timedelta(seconds=12.5)) == NOW + timedelta(seconds=12.5)
    assert absence_trusted_from(NOW, 0) == NOW
    # A misconfigured timeout of a day does not stall the campaign for a day.
    assert absence_trusted_from(NOW, timedelta(days=1)) == NOW + MAX_WAIT


def test_the_wait_is_what_is_left_of_the_timeout() -> None:
    assert wait_before_walk(None, 30, NOW) == timedelta(0)
    assert wait_before_walk(NOW, 30, NOW) == timedelta(seconds=30)
    assert wait_before_walk(NOW, 30, NOW + timedelta(seconds=20)) == timedelta(seconds=10)
    assert wait_before_walk(NOW, 30, NOW + timedelta(minutes=5)) == timedelta(0)  # a long retry_delay


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: earlier_process_until(2, False, datetime(2026, 3, 7)), "started"),
        (lambda: absence_trusted_from(datetime(2026, 3, 7), 30), "earlier_until"),
        (lambda: wait_before_walk(NOW, 30, datetime(2026, 3, 7)), "now"),
        (lambda: absence_trusted_from(NOW, -1), "create_timeout"),
    ],
)
def test_naive_times_and_negative_timeouts_are_refused(call: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        call()  # type: ignore[operator]


def test_waiting_sleeps_the_rest_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []
    log = logging.getLogger("campaign-test")
    with caplog.at_level(logging.INFO, logger="campaign-test"):
        waited = wait_for_inflight_creates(
            NOW, 30, log=log, now=lambda: NOW + timedelta(seconds=25), sleep=slept.append
        )
    assert waited == slept[0] == pytest.approx(5.0)
    assert "waiting 5.0 s" in caplog.text


def test_no_earlier_process_or_a_timeout_already_past_sleeps_not_at_all() -> None:
    slept: list[float] = []
    assert wait_for_inflight_creates(None, 30, now=lambda: NOW, sleep=slept.append) == 0.0
    later = NOW + timedelta(seconds=31)
    assert wait_for_inflight_creates(NOW, 30, now=lambda: later, sleep=slept.append) == 0.0
    assert slept == []


def test_a_real_wait_is_as_long_as_asked() -> None:
    import time

    started = time.monotonic()
    waited = wait_for_inflight_creates(datetime.now(UTC), 0.3)
    assert 0.2 < waited <= 0.3
    assert time.monotonic() - started >= waited - 0.01
