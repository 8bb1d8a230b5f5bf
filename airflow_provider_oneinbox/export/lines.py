"""
One JSON line per call: the normalised record, the same bytes for the same call data.

The record is checked against the provider's typed call record
(:class:`~airflow_provider_oneinbox.models.call.CallRecord`) and normalised by
:mod:`airflow_provider_oneinbox.rules.results` (``messages`` as ``[{role, content}]``, the
rendered ``transcript``, ``analysis`` or ``None``, ``outcome`` and ``summary`` as a task result
has them). Left out: ``recording_url`` (a signed, private link, new on every read) and
``updated_at`` (bookkeeping that may move without the call changing), as well as fields the
reference does not document (they may be volatile). Keys come in :data:`LINE_FIELDS` order,
nested objects with sorted keys, compact separators, UTF-8: re-exporting unchanged calls gives
identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_oneinbox.exceptions import OneInboxMalformedResponseError
from airflow_provider_oneinbox.export.spec import api_instant
from airflow_provider_oneinbox.rules.results import build_call_result

#: The keys of a line, in order.
LINE_FIELDS: tuple[str, ...] = (
    "id",
    "agent_id",
    "type",
    "direction",
    "status",
    "from_number",
    "to_number",
    "scheduled_at",
    "created_at",
    "started_at",
    "ended_at",
    "duration_seconds",
    "end_reason",
    "outcome",
    "summary",
    "analysis",
    "messages",
    "transcript",
    "variables",
    "metadata",
    "latency",
    "cost_cents",
    "credits_used",
    "twilio_call_sid",
    "post_call_ready",
    "recording",
)
#: Fields copied as the API gave them.
_RAW = frozenset(LINE_FIELDS) - {"outcome", "summary", "analysis", "messages", "transcript"}
_DERIVED = ("outcome", "summary", "analysis", "messages", "transcript")


def check_record(call: Mapping[str, Any]) -> None:
    """
    Check a call record against the typed model (pydantic) before it is exported.

    :param call: A call record.
    :raises OneInboxMalformedResponseError: A field of a type the reference does not allow.
    """
    from pydantic import ValidationError

    from airflow_provider_oneinbox.models.call import parse_call_record

    try:
        parse_call_record(call)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise OneInboxMalformedResponseError(
            f"Call {call.get('id')!r} has fields of a type the API reference does not allow: {fields}"
        ) from None


def export_line(
    call: Mapping[str, Any], *, post_call_ready: bool, recording: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """
    The line of one call, keys in :data:`LINE_FIELDS` order.

    :param call: The call record (checked with :func:`check_record` first).
    :param post_call_ready: Whether its post-call data was there (``False``: exported pending).
    :param recording: ``{path, bytes, sha256}`` of its archived recording, or ``None``.
    """
    result = build_call_result(call)
    line: dict[str, Any] = {}
    for key in LINE_FIELDS:
        if key in _RAW:
            line[key] = call.get(key)
        elif key in _DERIVED:
            line[key] = result[key]
    line["post_call_ready"] = post_call_ready
    line["recording"] = dict(recording) if recording is not None else None
    return line


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def encode_line(line: Mapping[str, Any]) -> bytes:
    """
    ``line`` as compact UTF-8 JSON and a newline; its own key order kept, nested keys sorted.

    :param line: What :func:`export_line` built.
    """
    body = {key: _canonical(value) for key, value in line.items()}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def sort_key(call: Mapping[str, Any]) -> tuple[datetime, str]:
    """
    The order of lines: by ``ended_at``, then ``id``.

    :param call: A call record whose ``ended_at`` is readable (every exported call's is).
    """
    ended = api_instant(call.get("ended_at"))
    assert ended is not None  # only calls with an ended_at in the interval are exported
    return ended, str(call.get("id"))
