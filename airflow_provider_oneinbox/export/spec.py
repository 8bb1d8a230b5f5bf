"""
The export's arguments, checked before any request: each bad value raises ``OneInboxInputError``
naming the field and the fix.

Standard library only (plus the provider's exceptions): the operator checks what it can when the
DAG file is parsed, and everything once templates are rendered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.exceptions import OneInboxInputError

#: ``direction`` values: a call's own direction, or ``None``/``"any"`` for both.
DIRECTIONS = ("inbound", "outbound", "any")
#: The default margin: longer than any call (OneInbox caps a call's length well below it) plus
#: clock skew between the API's ``created_at`` and ``ended_at``.
DEFAULT_CREATED_MARGIN = timedelta(hours=6)
_TEMPLATE = re.compile(r"{{|{%")


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string Jinja will still render (checked again after rendering)."""
    return isinstance(value, str) and bool(_TEMPLATE.search(value))


def parse_instant(field: str, value: Any) -> datetime:
    """
    A timezone-aware UTC ``datetime`` from a ``datetime`` (pendulum's too) or an ISO 8601 string.

    :param field: The argument's name, for the error.
    :param value: The value.
    """
    when = value
    if isinstance(value, str):
        try:
            when = datetime_fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise OneInboxInputError(
                field,
                f"expected an ISO 8601 timestamp with a time zone (2026-01-31T00:00:00Z), got {value!r}",
            ) from None
    if not isinstance(when, datetime):
        raise OneInboxInputError(field, f"expected a datetime or ISO 8601 string, got {type(value).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise OneInboxInputError(field, f"{value!r} has no time zone: give one (e.g. a trailing Z for UTC)")
    return datetime.fromtimestamp(when.timestamp(), UTC)


def api_instant(value: Any) -> datetime | None:
    """
    A timestamp of a call record (``ended_at``, ``created_at``) as UTC, or ``None`` if absent or unreadable.

    :param value: The record's value (an ISO 8601 string, ``Z`` or an offset; naive means UTC).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime_fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(when.timestamp(), UTC)


def seconds_of(field: str, value: Any, *, allow_zero: bool) -> float:
    """
    A duration in seconds from a ``timedelta`` or a number; finite, > 0 (or >= 0).

    :param field: The argument's name, for the error.
    :param value: The value.
    :param allow_zero: Whether 0 is allowed.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    bad = isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds)
    if bad or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise OneInboxInputError(field, f"expected seconds (a number or a timedelta) {bound}, got {value!r}")
    return float(seconds)


def positive_int(field: str, value: Any) -> int:
    """
    An ``int`` >= 1.

    :param field: The argument's name, for the error.
    :param value: The value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OneInboxInputError(field, f"expected a whole number >= 1, got {value!r}")
    return value


def text_list(field: str, value: Any, *, example: str) -> tuple[str, ...] | None:
    """
    ``None``, or a non-empty list of distinct non-blank strings (a single string is refused: a list).

    :param field: The argument's name, for the error.
    :param value: The value.
    :param example: A valid value, shown in the error.
    """
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise OneInboxInputError(field, f"expected a list of strings such as {example}, got {value!r}")
    items = [item.strip() if isinstance(item, str) else item for item in value]
    if not items or any(not isinstance(item, str) or not item for item in items):
        raise OneInboxInputError(field, f"expected a non-empty list of non-blank strings such as {example}")
    if len(set(items)) != len(items):
        raise OneInboxInputError(field, "lists a value twice: give each once")
    return tuple(sorted(items)) if isinstance(value, set | frozenset) else tuple(items)


def direction_of(value: Any) -> str | None:
    """
    ``None`` (both directions) for ``None`` or ``"any"``, else ``"inbound"`` or ``"outbound"``.

    :param value: The ``direction`` argument.
    """
    if value is None or value == "any":
        return None
    if value not in DIRECTIONS:
        raise OneInboxInputError(
            "direction", f"expected one of {', '.join(DIRECTIONS)} or None, got {value!r}"
        )
    return str(value)


def check_filters(agent_ids: Any, direction: Any, statuses: Any) -> None:
    """
    Check the filters that are not templates (at DAG parse time).

    :param agent_ids: ``agent_ids`` argument.
    :param direction: ``direction`` argument.
    :param statuses: ``statuses`` argument.
    """
    if not is_template(agent_ids):
        text_list("agent_ids", agent_ids, example='["agt_sales"]')
    if not is_template(direction):
        direction_of(direction)
    if not is_template(statuses):
        text_list("statuses", statuses, example='["completed", "failed"]')


@dataclass(frozen=True)
class ExportSpec:
    """
    One export, validated.

    :param start: The interval's start (inclusive), UTC.
    :param end: The interval's end (exclusive), UTC.
    :param agent_ids: Only these agents' calls (each agent's list is walked); ``None``: all calls.
    :param direction: ``"inbound"``, ``"outbound"`` or ``None`` for both.
    :param statuses: Only calls in these statuses; ``None``: any.
    :param created_margin: Seconds before ``start`` the walk goes on reading (calls are assumed
        listed newest-created first, and none lasts longer than this).
    :param max_pages: Pages read at most per list walked; more fails the export.
    :param max_seconds: Seconds each walk may take.
    :param analysis_grace: Seconds to wait for post-call data missing at export time.
    :param poll_interval: Seconds between re-reads of calls waiting for post-call data.
    :param recordings: Whether to archive recordings beside the file.
    :param recording_max_bytes: Largest recording accepted.
    :param recordings_timeout: Seconds all recording downloads may take together.
    """

    start: datetime
    end: datetime
    agent_ids: tuple[str, ...] | None = None
    direction: str | None = None
    statuses: tuple[str, ...] | None = None
    created_margin: float = DEFAULT_CREATED_MARGIN.total_seconds()
    max_pages: int = 200
    max_seconds: float = 600.0
    analysis_grace: float = 300.0
    poll_interval: float = 10.0
    recordings: bool = False
    recording_max_bytes: int = 512 * 1024**2
    recordings_timeout: float = 3600.0

    @property
    def walk_floor(self) -> datetime:
        """Calls created before this cannot have ended in the interval: the walk stops at the first."""
        return self.start - timedelta(seconds=self.created_margin)


def build_spec(
    *,
    start: Any,
    end: Any,
    agent_ids: Any = None,
    direction: Any = None,
    statuses: Any = None,
    created_margin: Any = DEFAULT_CREATED_MARGIN,
    max_pages: Any = 200,
    max_seconds: Any = 600.0,
    analysis_grace: Any = 300.0,
    poll_interval: Any = 10.0,
    recordings: Any = False,
    recording_max_bytes: Any = 512 * 1024**2,
    recordings_timeout: Any = 3600.0,
) -> ExportSpec:
    """
    Validate every argument of an export (see :class:`ExportSpec` for each).

    :raises OneInboxInputError: Naming the first bad field and the fix.
    """
    first, last = parse_instant("interval_start", start), parse_instant("interval_end", end)
    if not first < last:
        raise OneInboxInputError(
            "interval_end",
            f"the interval [{first.isoformat()}, {last.isoformat()}) is empty: the DAG needs a data-interval "
            "schedule (e.g. CronDataIntervalTimetable) or give interval_start < interval_end",
        )
    if not isinstance(recordings, bool):
        raise OneInboxInputError("recordings", f"expected True or False, got {recordings!r}")
    return ExportSpec(
        start=first,
        end=last,
        agent_ids=text_list("agent_ids", agent_ids, example='["agt_sales"]'),
        direction=direction_of(direction),
        statuses=text_list("statuses", statuses, example='["completed", "failed"]'),
        created_margin=seconds_of("created_margin", created_margin, allow_zero=False),
        max_pages=positive_int("max_pages", max_pages),
        max_seconds=seconds_of("max_seconds", max_seconds, allow_zero=False),
        analysis_grace=seconds_of("analysis_grace", analysis_grace, allow_zero=True),
        poll_interval=seconds_of("poll_interval", poll_interval, allow_zero=False),
        recordings=recordings,
        recording_max_bytes=positive_int("recording_max_bytes", recording_max_bytes),
        recordings_timeout=seconds_of("recordings_timeout", recordings_timeout, allow_zero=False),
    )
