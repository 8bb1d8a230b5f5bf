"""
What a call-event watch keeps and fires (standard library only): its filters, the verdict on a
listed call, the event payload, and the key of its stored cursor. The cursor itself is in
:mod:`airflow_provider_oneinbox.rules.call_events`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from airflow_provider_oneinbox.rules._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.rules.results import analysis_of, post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

DIRECTIONS = ("inbound", "outbound", "any")
READINESS = ("analysed", "ended")
#: Longest text (status, outcome, agent id, ``ended_at``) an event carries.
_TEXT_CAP = 200


def parse_time(value: Any) -> float | None:
    """
    An ISO 8601 timestamp as epoch seconds, ``None`` if missing or malformed (naive means UTC).

    :param value: A record's ``created_at`` / ``ended_at``.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime_fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def direction_of(call: Mapping[str, Any]) -> str | None:
    """``"inbound"`` / ``"outbound"`` from the call's ``direction`` (else its ``type``), or ``None``."""
    for value in (call.get("direction"), call.get("type")):
        if value in ("inbound", "outbound"):
            return str(value)
    return None


@dataclass(frozen=True)
class WatchFilter:
    """
    Which calls a watch keeps, and when a kept call is ready.

    :param direction: ``"inbound"``, ``"outbound"`` or ``"any"``.
    :param statuses: Final statuses to keep; ``None`` keeps every final status.
    :param ready: ``"analysed"`` (post-call data present, or ``analysis_grace`` passed) or ``"ended"``.
    :param analysis_grace: Seconds after ``ended_at`` after which a call without post-call data
        fires anyway, with ``analysed`` false.
    :param number: For a phone-number watch, the number (E.164): calls to another number are
        settled silently; calls with a null ``to_number`` are kept (nothing tells them apart).
    """

    direction: str = "inbound"
    statuses: frozenset[str] | None = None
    ready: str = "analysed"
    analysis_grace: float = 900.0
    number: str | None = field(default=None, repr=False)

    def keeps(self, call: Mapping[str, Any]) -> bool:
        """Whether the call can ever fire for this watch (direction and number, which never change)."""
        if self.direction != "any" and direction_of(call) != self.direction:
            return False
        to_number = call.get("to_number")
        return self.number is None or to_number is None or to_number == self.number


class Verdict(Enum):
    """What a round says about one listed call."""

    OPEN = "open"  #: not final, or waiting for its post-call data
    SETTLE = "settle"  #: done, without an event (filtered out, or ended before the watch began)
    FIRE = "fire"  #: fire its event now


def classify(
    call: Mapping[str, Any], watch: WatchFilter, now: float, *, ended: float | None = None
) -> tuple[Verdict, bool]:
    """
    The verdict on a listed call, and whether its post-call data is there.

    :param call: The listed record.
    :param watch: The watch's filters.
    :param now: The current time (epoch seconds, the API's clock as best known).
    :param ended: When the call ended if its ``ended_at`` is missing (when it was first seen final).
    """
    if not watch.keeps(call):
        return Verdict.SETTLE, False
    status = call.get("status")
    if not OneInboxCallStatus.is_terminal(status):
        return Verdict.OPEN, False
    if watch.statuses is not None and status not in watch.statuses:
        return Verdict.SETTLE, False
    analysed = post_call_data_ready(call)
    if watch.ready == "ended" or analysed:
        return Verdict.FIRE, analysed
    ended_at = parse_time(call.get("ended_at"))
    ended_at = ended if ended_at is None else ended_at
    if ended_at is not None and now >= ended_at + watch.analysis_grace:
        return Verdict.FIRE, False
    return Verdict.OPEN, False


def _short_text(value: Any) -> str | None:
    return value[:_TEXT_CAP] if isinstance(value, str) and value else None


def event_payload(call: Mapping[str, Any], analysed: bool) -> dict[str, Any]:
    """
    The event of a call: exactly the documented keys, no number, transcript, summary or URL.

    :param call: The listed record.
    :param analysed: Whether its post-call data was there when it fired.
    """
    duration = call.get("duration_seconds")
    outcome = call.get("outcome") or (analysis_of(call) or {}).get("outcome")
    return {
        "call_id": str(call.get("id")),
        "agent_id": _short_text(call.get("agent_id")),
        "direction": direction_of(call),
        "status": _short_text(call.get("status")) or "",
        "outcome": _short_text(outcome),
        "analysed": bool(analysed),
        "ended_at": _short_text(call.get("ended_at")),
        "duration_seconds": duration
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
    }


def cursor_key(targets: Iterable[str], direction: str, statuses: Iterable[str] | None, ready: str) -> str:
    """
    The asset state store key of a watch's cursor: from what it watches and keeps, not how often
    it polls (so tuning ``poll_interval`` keeps the cursor).

    :param targets: The agent ids, or ``["number:<number or id>"]``.
    :param direction: The direction filter.
    :param statuses: The status filter.
    :param ready: The readiness rule.
    """
    spec = [sorted(targets), direction, sorted(statuses) if statuses is not None else None, ready]
    digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:20]
    return f"oneinbox_call_events_{digest}"
