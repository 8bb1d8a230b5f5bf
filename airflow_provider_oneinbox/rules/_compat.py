"""
What Python 3.11 added to the standard library that the provider uses, for Python 3.10.

Standard library only, so the rules layer can use it too
(:mod:`airflow_provider_oneinbox._compat` re-exports it for the rest of the package). On 3.11
and newer every name here is the standard library's own; drop this module with Python 3.10.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, time, timezone
from enum import Enum

__all__ = ["UTC", "StrEnum", "datetime_fromisoformat", "time_fromisoformat"]

#: ``datetime.UTC`` (3.11) is this very object.
UTC = timezone.utc

# What 3.11's ``fromisoformat`` reads beyond 3.10's: ``Z``, basic forms (``0900``, ``+0100``),
# any number of fraction digits (kept to microseconds) and ``,`` before them. Week dates are not
# read. Values are checked by the 3.10 parser the normalised string then goes to.
_CLOCK = r"(?P<hh>\d{2})(?::?(?P<mm>\d{2})(?::?(?P<ss>\d{2})(?:[.,](?P<frac>\d+))?)?)?"
_OFFSET = r"(?P<tz>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d+)?)?)?)?"
_DATETIME_RE = re.compile(
    rf"(?P<y>\d{{4}})-?(?P<mo>\d{{2}})-?(?P<d>\d{{2}})(?:[^\d]{_CLOCK}{_OFFSET})?", re.ASCII
)
_TIME_RE = re.compile(rf"T?{_CLOCK}{_OFFSET}", re.ASCII)
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})?(?::?(\d{2})(?:\.(\d+))?)?", re.ASCII)


def _fraction(digits: str | None) -> str:
    return "" if digits is None else "." + digits[:6].ljust(6, "0")


def _offset(text: str | None) -> str:
    if not text:
        return ""
    if text == "Z":
        return "+00:00"
    parts = _OFFSET_RE.fullmatch(text)
    if parts is None:  # pragma: no cover - _OFFSET only lets through what this reads
        raise ValueError(f"Invalid isoformat offset: {text!r}")
    sign, hours, minutes, seconds, fraction = parts.groups()
    normalised = f"{sign}{hours}:{minutes or '00'}"
    return normalised if seconds is None else f"{normalised}:{seconds}{_fraction(fraction)}"


def _clock(parts: re.Match[str]) -> str:
    return f"{parts['hh']}:{parts['mm'] or '00'}:{parts['ss'] or '00'}{_fraction(parts['frac'])}"


def datetime_fromisoformat_310(value: str) -> datetime:
    """
    ``datetime.fromisoformat`` as Python 3.11 reads ISO 8601 (but week dates), on any Python.

    :param value: The ISO 8601 date or date-time.
    :raises ValueError: When ``value`` is not one, as ``datetime.fromisoformat`` does.
    """
    with_clock = _DATETIME_RE.fullmatch(value) if isinstance(value, str) else None
    if with_clock is None:
        return datetime.fromisoformat(value)
    day = f"{with_clock['y']}-{with_clock['mo']}-{with_clock['d']}"
    if with_clock["hh"] is None:
        return datetime.fromisoformat(day)
    return datetime.fromisoformat(f"{day}T{_clock(with_clock)}{_offset(with_clock['tz'])}")


def time_fromisoformat_310(value: str) -> time:
    """
    ``time.fromisoformat`` as Python 3.11 reads ISO 8601, on any Python.

    :param value: The ISO 8601 clock time.
    :raises ValueError: When ``value`` is not one, as ``time.fromisoformat`` does.
    """
    parts = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if parts is None:
        return time.fromisoformat(value)
    return time.fromisoformat(f"{_clock(parts)}{_offset(parts['tz'])}")


if sys.version_info >= (3, 11):
    from enum import StrEnum

    datetime_fromisoformat = datetime.fromisoformat
    time_fromisoformat = time.fromisoformat
else:

    class StrEnum(str, Enum):
        """
        ``enum.StrEnum`` (3.11): members are strings, and ``str()``, ``format()`` and f-strings
        give the value (``"completed"``), not ``"OneInboxCallStatus.COMPLETED"``.
        """

        def __new__(cls, value: str) -> StrEnum:
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a string")
            member = str.__new__(cls, value)
            member._value_ = value
            return member

        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, format_spec: str) -> str:
            return str.__format__(self, format_spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
            return name.lower()

    datetime_fromisoformat = datetime_fromisoformat_310
    time_fromisoformat = time_fromisoformat_310
