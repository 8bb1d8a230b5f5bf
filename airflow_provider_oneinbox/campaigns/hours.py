"""
Calling hours in the callee's own time: when a contact may be rung, and when it may be next.

A window such as 09:00-20:00 on weekdays (:class:`CallingHours`) is read in each of the contact's
zones (:func:`zones_for`): the time zone given on the contact, else the zones of its number
(libphonenumber, through :func:`~airflow_provider_oneinbox.models.describe_phone_number`). A number
whose area spans several zones takes the most restrictive reading: it is open only while the
window is open in every one of them (a mobile number of a country spanning more zones than the
window is long is never open: give its contacts a ``timezone``). A number with no known zone
(international services such as +800, a few non-geographic ranges) is read in
:data:`ASSUMED_ZONE` (UTC), flagged ``assumed`` so the caller can warn and name the contacts.

Local time is what a clock on the callee's wall shows: on the day clocks spring forward the
window opens at the first instant its start has passed, and on the day they fall back a
repeated hour is read as shown, each time. Windows end after they start on the same day.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from airflow_provider_oneinbox._compat import UTC, time_fromisoformat
from airflow_provider_oneinbox.exceptions import OneInboxInputError

__all__ = [
    "ASSUMED_ZONE",
    "DEFAULT_HORIZON",
    "MAX_HORIZON",
    "WEEKDAYS",
    "CallingHours",
    "CallingZones",
    "is_open",
    "next_opening",
    "zones_for",
]

#: Weekday names as accepted in ``days`` (Monday is 0, as in ``datetime.weekday()``).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SETS = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}
#: The zone a number with no known zone is read in.
ASSUMED_ZONE = "UTC"
#: How far :func:`next_opening` looks by default: any weekly window opens within a week.
DEFAULT_HORIZON = timedelta(days=8)
#: Farthest :func:`next_opening` looks.
MAX_HORIZON = timedelta(days=400)


def _parse_time(value: Any) -> time:
    parsed = value if isinstance(value, time) else None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = time_fromisoformat(value.strip())
    if parsed is None:
        raise OneInboxInputError(
            "calling_hours",
            f"expected a clock time such as '09:00' or '20:30' (24-hour, up to 23:59), got {value!r}",
        )
    if parsed.tzinfo is not None:
        raise OneInboxInputError(
            "calling_hours",
            f"give local clock times without a time zone (the callee's zone applies), got {value!r}",
        )
    return parsed


def _day(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip()[:3].lower() in WEEKDAYS and len(value.strip()) >= 3:
        return WEEKDAYS.index(value.strip()[:3].lower())
    raise OneInboxInputError(
        "calling_days", f"expected weekday names ('mon' ... 'sun') or numbers 0 (Monday) to 6, got {value!r}"
    )


def _parse_days(days: Any) -> frozenset[int]:
    if days is None:
        return frozenset(range(7))
    if isinstance(days, str):
        text = days.strip().lower()
        if text in _DAY_SETS:
            return frozenset(_DAY_SETS[text])
        found: set[int] = set()
        for part in text.split(","):
            first, dash, last = part.partition("-")
            low, high = _day(first), _day(last) if dash else _day(first)
            found.update(range(low, high + 1) if low <= high else [*range(low, 7), *range(high + 1)])
        return frozenset(found)
    if not isinstance(days, Iterable):
        raise OneInboxInputError("calling_days", f"expected e.g. 'mon-fri' or ['mon', 'wed'], got {days!r}")
    return frozenset(_day(day) for day in days)


@dataclass(frozen=True, slots=True)
class CallingHours:
    """
    A daily window of local clock time, on some weekdays. Built with :meth:`of`.

    :param start: When the window opens (included), a naive ``datetime.time`` (or ``"HH:MM"``).
    :param end: When it closes (excluded), later than ``start`` on the same day.
    :param days: The weekdays it is open, 0 (Monday) to 6 (Sunday); all by default. Any form
        :meth:`of` accepts; kept as a ``frozenset`` of ints, as the times are kept as ``time`` s.
    :raises OneInboxInputError: Field ``calling_hours`` or ``calling_days``.
    """

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        start, end, days = _parse_time(self.start), _parse_time(self.end), _parse_days(self.days)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "days", days)
        if end <= start:
            raise OneInboxInputError(
                "calling_hours",
                f"must end after it starts on the same day, got {start:%H:%M}-{end:%H:%M}; a window across "
                "midnight is not supported: calling people at night is what calling hours prevent",
            )
        if not days:
            raise OneInboxInputError(
                "calling_days", "expected at least one weekday, e.g. 'mon-fri'; leave it out for every day"
            )

    @classmethod
    def of(cls, hours: CallingHours | Sequence[str | time], days: Any = None) -> CallingHours:
        """
        Build and check a window.

        :param hours: ``(start, end)`` as ``"HH:MM"`` strings or ``datetime.time`` s, e.g.
            ``("09:00", "20:00")``; or a :class:`CallingHours` (returned as is when ``days`` is ``None``).
        :param days: ``None`` (every day); ``"weekdays"``, ``"weekends"``, ``"daily"``; a string
            such as ``"mon-fri"`` or ``"mon,wed,fri"``; or a collection of names (``"monday"`` or
            ``"mon"``, any case) or numbers 0 (Monday) to 6.
        :raises OneInboxInputError: Field ``calling_hours`` or ``calling_days``, saying the fix.
        """
        if isinstance(hours, CallingHours):
            return hours if days is None else cls(hours.start, hours.end, _parse_days(days))
        if isinstance(hours, str) or not isinstance(hours, Sequence) or len(hours) != 2:
            raise OneInboxInputError(
                "calling_hours", f"expected (start, end) such as ('09:00', '20:00'), got {hours!r}"
            )
        return cls(_parse_time(hours[0]), _parse_time(hours[1]), _parse_days(days))

    def contains_local(self, local: datetime) -> bool:
        """
        Whether a local wall-clock reading falls in the window.

        :param local: A datetime as shown in the callee's zone.
        """
        return local.weekday() in self.days and self.start <= local.time() < self.end


class CallingZones(NamedTuple):
    """
    The zones a contact's calling hours are read in.

    :param names: IANA zone names, sorted, at least one.
    :param source: ``"contact"`` (its ``timezone``), ``"number"`` (libphonenumber), or
        ``"assumed"`` (no zone known: :data:`ASSUMED_ZONE`; warn and name the contact).
    """

    names: tuple[str, ...]
    source: Literal["contact", "number", "assumed"]

    @property
    def assumed(self) -> bool:
        """Whether no zone was known and :data:`ASSUMED_ZONE` stands in."""
        return self.source == "assumed"


def zones_for(to_number: str, timezone: str | None = None) -> CallingZones:
    """
    The zones in which a contact's calling hours are read.

    :param to_number: The contact's number (E.164; checked as
        :func:`~airflow_provider_oneinbox.models.describe_phone_number` does).
    :param timezone: The IANA zone given on the contact; it wins over the number's zones.
    :raises OneInboxInputError: Field ``to_number`` for a number that cannot exist, ``timezone``
        for an unknown zone.
    """
    if timezone is not None:
        try:
            _zone(timezone)
        except (KeyError, ValueError, OSError):
            raise OneInboxInputError(
                "timezone", f"{timezone!r} is not an IANA time zone name; use e.g. 'America/New_York'"
            ) from None
        return CallingZones((timezone,), "contact")
    from airflow_provider_oneinbox.models import describe_phone_number

    zones = describe_phone_number(to_number, "to_number").time_zones
    return (
        CallingZones(tuple(sorted(set(zones))), "number")
        if zones
        else CallingZones((ASSUMED_ZONE,), "assumed")
    )


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _names(zones: Collection[str] | CallingZones) -> tuple[str, ...]:
    names = tuple(zones.names if isinstance(zones, CallingZones) else zones)
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"zones must name at least one IANA time zone, got {zones!r}")
    return names


def is_open(hours: CallingHours, zones: Collection[str] | CallingZones, at: datetime) -> bool:
    """
    Whether the window is open at ``at`` in every one of ``zones``.

    :param hours: The window.
    :param zones: IANA zone names, or a :class:`CallingZones`.
    :param at: The instant, timezone-aware.
    """
    names = _names(zones)
    _aware("at", at)
    return all(hours.contains_local(at.astimezone(_zone(name))) for name in names)


def _window_starts(day: date, start: time, zone: ZoneInfo) -> set[datetime]:
    """The instants (UTC) at which the local clock of ``zone`` reaches ``start`` on ``day``."""
    wall = datetime.combine(day, start)
    found = set()
    for fold in (0, 1):  # an hour repeated when clocks fall back holds the start twice
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            found.add(instant)
    if found:
        return found
    # ``start`` falls in the hour skipped when clocks spring forward: the window opens at the jump.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) // 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return {after}


def next_opening(
    hours: CallingHours,
    zones: Collection[str] | CallingZones,
    after: datetime,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
) -> datetime | None:
    """
    The earliest instant from ``after`` on at which the window is open in every zone.

    ``after`` itself when open now. The answer depends only on the arguments, so contacts sharing
    zones share it: compute it once per distinct ``zones``.

    :param hours: The window.
    :param zones: IANA zone names, or a :class:`CallingZones`.
    :param after: From when to look, timezone-aware.
    :param horizon: How far to look (at most :data:`MAX_HORIZON`), e.g. until a campaign's deadline.
    :return: An aware datetime (UTC unless ``after`` is open), or ``None`` if the window does not
        open in every zone within ``horizon``.
    """
    names = _names(zones)
    _aware("after", after)
    if not isinstance(horizon, timedelta) or not timedelta(0) <= horizon <= MAX_HORIZON:
        raise ValueError(
            f"horizon must be a timedelta between 0 and {MAX_HORIZON.days} days, got {horizon!r}"
        )
    if is_open(hours, names, after):
        return after
    until = after + horizon
    candidates: set[datetime] = set()
    for name in names:
        zone = _zone(name)
        day, last = after.astimezone(zone).date(), until.astimezone(zone).date()
        while day <= last:
            if day.weekday() in hours.days:
                candidates.update(t for t in _window_starts(day, hours.start, zone) if after < t <= until)
            day += timedelta(days=1)
    return next((t for t in sorted(candidates) if is_open(hours, names, t)), None)
