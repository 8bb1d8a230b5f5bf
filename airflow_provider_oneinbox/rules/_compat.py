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
# any number of fraction digits (kept to microseconds) and ``,`` before them. Not read: week
# dates, and 3.11's non-ISO leniencies (a fraction after the hour or minute, ``HH:MM:SS:ff``,
# other date-time separators than ``T`` and space). Values are checked by the 3.10 parser the
# normalised string then goes to (what does not match goes to it as it is).
_CLOCK = r"(?P<clock>\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?|\d{2}(?:\d{2}(?:[.,]\d+)?)?)?)"
_OFFSET = r"(?P<tz>Z|[+-]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?|\d{2}(?:\d{2}(?:\.\d+)?)?)?)?"
_DAY = r"(?P<day>\d{4}-\d{2}-\d{2}|\d{8})"
_DATETIME_RE = re.compile(rf"{_DAY}(?:[T ]{_CLOCK}{_OFFSET})?", re.ASCII)
_TIME_RE = re.compile(rf"T?{_CLOCK}{_OFFSET}", re.ASCII)


def _fields(text: str) -> tuple[list[str], str]:
    """``"09:30:00.5"`` or ``"093000,5"`` → ``(["09", "30", "00"], ".500000")``."""
    whole, _, fraction = text.replace(",", ".").partition(".")
    digits = whole.replace(":", "")
    pairs = [digits[index : index + 2] for index in range(0, len(digits), 2)]
    return pairs, ("." + fraction[:6].ljust(6, "0")) if fraction else ""


def _clock(text: str) -> str:
    pairs, fraction = _fields(text)
    return ":".join(pairs + ["00"] * (3 - len(pairs))) + fraction


def _offset(text: str | None) -> str:
    if not text:
        return ""
    if text == "Z":
        return "+00:00"
    pairs, fraction = _fields(text[1:])
    return text[0] + ":".join(pairs + ["00"] * (2 - len(pairs))) + fraction


def datetime_fromisoformat_310(value: str) -> datetime:
    """
    ``datetime.fromisoformat`` as Python 3.11 reads ISO 8601 (but week dates), on any Python.

    :param value: The ISO 8601 date or date-time.
    :raises ValueError: When ``value`` is not one, as ``datetime.fromisoformat`` does.
    """
    parts = _DATETIME_RE.fullmatch(value) if isinstance(value, str) else None
    if parts is None:
        return datetime.fromisoformat(value)
    day = (
        parts["day"] if "-" in parts["day"] else f"{parts['day'][:4]}-{parts['day'][4:6]}-{parts['day'][6:]}"
    )
    if parts["clock"] is None:
        return datetime.fromisoformat(day)
    return datetime.fromisoformat(f"{day}T{_clock(parts['clock'])}{_offset(parts['tz'])}")


def time_fromisoformat_310(value: str) -> time:
    """
    ``time.fromisoformat`` as Python 3.11 reads ISO 8601, on any Python.

    :param value: The ISO 8601 clock time.
    :raises ValueError: When ``value`` is not one, as ``time.fromisoformat`` does.
    """
    parts = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if parts is None:
        return time.fromisoformat(value)
    return time.fromisoformat(f"{_clock(parts['clock'])}{_offset(parts['tz'])}")


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
