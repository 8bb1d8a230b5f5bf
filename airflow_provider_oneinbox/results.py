"""Turn a OneInbox call record into the result a task returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_oneinbox.status import OneInboxCallStatus

_SPEAKERS = {"agent": "Agent", "user": "User"}


def render_transcript(messages: Iterable[Mapping[str, Any]] | None) -> str:
    """
    Render a call's ``messages`` as ``"Agent: ...\\nUser: ..."`` lines.

    :param messages: The call's ``messages`` (``[{"role": "agent"|"user", "content": ...}]``);
        ``None`` or empty gives ``""``. An unknown role is shown capitalised.
    """
    lines = []
    for message in messages or ():
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role") or "unknown")
        content = message.get("content")
        if content is None:
            continue
        lines.append(f"{_SPEAKERS.get(role, role.capitalize())}: {content}")
    return "\n".join(lines)


def post_call_data_ready(call: Mapping[str, Any]) -> bool:
    """
    Whether a call has ended and its analysis has arrived, so nothing more is to come.

    :param call: A call record as returned by ``GET /v1/calls/{id}``.
    """
    return OneInboxCallStatus.is_terminal(call.get("status")) and bool(call.get("analysis"))


def build_call_result(call: Mapping[str, Any], *, analysis_missing: bool = False) -> dict[str, Any]:
    """
    Build the task result of a finished call: ids, status, transcript, analysis and outcome.

    ``outcome`` is the call's own ``outcome`` (set by ``PATCH``) or else ``analysis.outcome``;
    ``summary`` is ``analysis.summary`` or else ``ai_summary``. ``transcript`` is rendered from
    ``messages``, falling back to the deprecated ``transcript`` string.

    :param call: A call record as returned by ``GET /v1/calls/{id}``.
    :param analysis_missing: Whether the wait gave up on the post-call analysis.
    """
    raw_analysis = call.get("analysis")
    analysis: dict[str, Any] | None = dict(raw_analysis) if isinstance(raw_analysis, Mapping) else None
    messages = list(call.get("messages") or [])
    transcript = render_transcript(messages)
    if not transcript and isinstance(call.get("transcript"), str):
        transcript = call["transcript"]
    return {
        "call_id": call.get("id"),
        "status": call.get("status"),
        "end_reason": call.get("end_reason"),
        "duration_seconds": call.get("duration_seconds"),
        "outcome": call.get("outcome") or (analysis or {}).get("outcome"),
        "summary": (analysis or {}).get("summary") or call.get("ai_summary"),
        "analysis": analysis,
        "analysis_missing": analysis_missing,
        "messages": messages,
        "transcript": transcript,
        "recording_url": call.get("recording_url"),
        "to_number": call.get("to_number"),
        "from_number": call.get("from_number"),
        "agent_id": call.get("agent_id"),
        "metadata": call.get("metadata"),
    }
