"""Calling hours in the callee's time: every zone of a contact, across DST changes and weekdays."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaigns.hours import (
    ASSUMED_ZONE,
    CallingHours,
    CallingZones,
    is_open,
    next_opening,
    zones_for,
)
from airflow_provider_oneinbox.exceptions import OneInboxInputError

NY, LA = "America/New_York", "America/Los_Angeles"
DAY = CallingHours.of(("09:00", "20:00"))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_hours_are_built_from_strings_or_times_and_days_in_many_spellings() -> None:
    assert CallingHours(time(9), time(20), frozenset(range(7))) == DAY
    assert CallingHours.of((time(8, 30), "17:45:30"), days="mon-fri").days == frozenset(range(5))
    assert CallingHours.of(("09:00", "17:00"), days="fri-mon").days == frozenset({4, 5, 6, 0})
    assert CallingHours.of(("09:00", "17:00"), days="mon,wed,FRI").days == frozenset({0, 2, 4})
    assert CallingHours.of(("09:00", "17:00"), days=["Monday", 5]).days == frozenset({0, 5})
    assert CallingHours.of(("09:00", "17:00"), days="weekends").days == frozenset({5, 6})
    assert CallingHours.of(DAY) is DAY
    assert CallingHours.of(DAY, days="weekdays").days == frozenset(range(5))


@pytest.mark.parametrize(
    ("hours", "days", "field", "message"),
    [
        (("20:00", "09:00"), None, "calling_hours", "across midnight is not supported"),
        (("09:00", "09:00"), None, "calling_hours", "must end after it starts"),
        (("9am", "20:00"), None, "calling_hours", "expected a clock time such as '09:00'"),
        (("09:00", "24:00"), None, "calling_hours", "up to 23:59"),
        ("09:00-20:00", None, "calling_hours", "expected \\(start, end\\)"),
        (("09:00",), None, "calling_hours", "expected \\(start, end\\)"),
        ((time(9, tzinfo=UTC), "20:00"), None, "calling_hours", "without a time zone"),
        (("09:00", "20:00"), "someday", "calling_days", "weekday names"),
        (("09:00", "20:00"), [7], "calling_days", "weekday names"),
        (("09:00", "20:00"), [], "calling_days", "at least one weekday"),
        (("09:00", "20:00"), 3, "calling_days", "e.g. 'mon-fri'"),
    ],
)
def test_bad_hours_fail_naming_the_field_and_the_fix(
    hours: object, days: object, field: str, message: str
) -> None:
    with pytest.raises(OneInboxInputError, match=message) as caught:
        CallingHours.of(hours, days=days)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_contacts_own_zone_wins_over_its_numbers() -> None:
    assert zones_for("+14155550100") == CallingZones((LA,), "number")
    assert zones_for("+14155550100", "Europe/Paris") == CallingZones(("Europe/Paris",), "contact")
    with pytest.raises(OneInboxInputError) as caught:
        zones_for("+14155550100", "Nowhere/Land")
    assert caught.value.field == "timezone"


def test_a_number_spanning_several_zones_gives_them_all() -> None:
    zones = zones_for("+18005550100")  # US toll-free: every US zone
    assert zones.source == "number"
    assert {NY, LA} <= set(zones.names)
    assert list(zones.names) == sorted(zones.names)


def test_a_number_of_no_known_zone_is_read_in_utc_and_flagged() -> None:
    zones = zones_for("+80012345678")  # international freephone
    assert zones == CallingZones((ASSUMED_ZONE,), "assumed")
    assert zones.assumed


def test_open_means_open_in_every_zone_with_the_end_excluded() -> None:
    zones = (NY, LA)
    assert not is_open(DAY, zones, utc(2026, 6, 10, 15))  # 11:00 NY, 08:00 LA
    assert is_open(DAY, zones, utc(2026, 6, 10, 16))  # 12:00 NY, 09:00 LA
    assert is_open(DAY, zones, utc(2026, 6, 10, 23, 59))  # 19:59 NY
    assert not is_open(DAY, zones, utc(2026, 6, 11, 0))  # 20:00 NY: closed
    assert is_open(DAY, CallingZones((LA,), "number"), utc(2026, 6, 11, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(DAY, zones, datetime(2026, 6, 10, 16))


def test_the_most_restrictive_reading_opens_when_the_last_zone_opens() -> None:
    assert next_opening(DAY, (NY, LA), utc(2026, 6, 10, 3)) == utc(2026, 6, 10, 16)


def test_the_window_opens_at_nine_local_on_both_sides_of_the_spring_change() -> None:
    # New York moves from UTC-5 to UTC-4 at 2026-03-08 02:00 local.
    assert next_opening(DAY, [NY], utc(2026, 3, 7, 3)) == utc(2026, 3, 7, 14)
    assert next_opening(DAY, [NY], utc(2026, 3, 8, 3)) == utc(2026, 3, 8, 13)
    assert is_open(DAY, [NY], utc(2026, 3, 8, 13))
    assert not is_open(DAY, [NY], utc(2026, 3, 8, 12, 59))


def test_the_window_opens_at_nine_local_on_both_sides_of_the_autumn_change() -> None:
    # New York moves back from UTC-4 to UTC-5 at 2026-11-01 02:00 local.
    assert next_opening(DAY, [NY], utc(2026, 10, 31, 3)) == utc(2026, 10, 31, 13)
    assert next_opening(DAY, [NY], utc(2026, 11, 1, 3)) == utc(2026, 11, 1, 14)


def test_a_start_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    hours = CallingHours.of(("02:30", "05:00"))
    # 02:30 does not exist on 2026-03-08 in New York: 01:59:59 EST is followed by 03:00 EDT (07:00 UTC).
    assert next_opening(hours, [NY], utc(2026, 3, 8, 5)) == utc(2026, 3, 8, 7)


def test_a_start_in_the_repeated_hour_opens_at_its_first_showing() -> None:
    hours = CallingHours.of(("01:30", "05:00"))
    # 01:30 comes twice on 2026-11-01 in New York: first at 05:30 UTC (EDT).
    assert next_opening(hours, [NY], utc(2026, 11, 1, 4)) == utc(2026, 11, 1, 5, 30)


def test_weekday_restrictions_are_read_on_the_callees_calendar() -> None:
    weekdays = CallingHours.of(("09:00", "17:00"), days="mon-fri")
    friday_evening = utc(2026, 6, 12, 22)  # Friday 18:00 in New York
    assert next_opening(weekdays, [NY], friday_evening) == utc(2026, 6, 15, 13)  # Monday 09:00 EDT
    # Sunday 21:00 UTC is Monday 09:00 in Auckland, and still Sunday in New York.
    assert is_open(weekdays, ["Pacific/Auckland"], utc(2026, 6, 14, 21))
    assert not is_open(weekdays, ["Pacific/Auckland", NY], utc(2026, 6, 14, 21))
    assert next_opening(weekdays, ["Pacific/Auckland"], utc(2026, 6, 14, 12)) == utc(2026, 6, 14, 21)


def test_an_open_window_answers_now_and_a_never_open_one_none() -> None:
    now = utc(2026, 6, 10, 16, 7, 3)
    assert next_opening(DAY, [NY], now) == now
    # 09:00-17:00 in London and in Auckland never overlap.
    office = CallingHours.of(("09:00", "17:00"))
    assert next_opening(office, ["Europe/London", "Pacific/Auckland"], now) is None
    assert next_opening(DAY, [NY], utc(2026, 6, 10, 3), horizon=timedelta(hours=1)) is None


def test_next_opening_refuses_a_naive_start_and_an_unbounded_horizon() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(DAY, [NY], datetime(2026, 6, 10))
    with pytest.raises(ValueError, match="horizon"):
        next_opening(DAY, [NY], utc(2026, 6, 10), horizon=timedelta(days=4000))


ZONES = [
    NY,
    LA,
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(0, 23 * 60 - 1),
    length=st.integers(1, 12 * 60),
    days=st.sets(st.integers(0, 6), min_size=1),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    after=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
)
@example(150, 60, {6}, [NY], datetime(2026, 3, 8, tzinfo=UTC))  # starts in the skipped hour
@example(90, 30, set(range(7)), [NY, "Australia/Lord_Howe"], datetime(2026, 10, 31, 12, tzinfo=UTC))
@example(0, 12 * 60, {0}, ["Pacific/Chatham", LA], datetime(2027, 4, 3, tzinfo=UTC))
def test_next_opening_is_the_first_minute_open_in_every_zone(
    start: int, length: int, days: set[int], zones: list[str], after: datetime
) -> None:
    end = min(start + length, 24 * 60 - 1)
    hours = CallingHours(time(start // 60, start % 60), time(end // 60, end % 60), frozenset(days))
    horizon = timedelta(days=3)
    found = next_opening(hours, zones, after, horizon=horizon)
    # Windows, zone offsets and their changes all fall on whole minutes: a minute walk finds the same.
    walk = after
    while walk <= after + horizon and not is_open(hours, zones, walk):
        walk += timedelta(minutes=1)
    assert found == (walk if walk <= after + horizon else None)
    if found is not None:
        for name in zones:
            assert hours.contains_local(found.astimezone(ZoneInfo(name)))
