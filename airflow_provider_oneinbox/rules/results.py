"""
What a OneInbox call record means once it ends: when its post-call data is ready, and the result a
task returns.

The API reference allows several shapes for the same thing, and both functions accept all of
them: before post-call processing an ended call's ``analysis`` is ``{}``, an object whose fields
are all null, or ``null``, and its ``messages`` are ``[]``; ``transcript`` is a (deprecated)
string on one page and a ``[{role, content}]`` list on others; messages may lack a ``role``.
Nothing in the record flags "analysis done", so readiness is read from the content itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

_SPEAKERS = {"agent": "Agent", "user": "User"}


def _filled(value: Any) -> bool:
    """Whether a field holds something: not ``None``, nor an empty or blank string, list or object."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Mapping | list | tuple):
        return bool(value)
    return True


def normalize_messages(raw: Any) -> list[dict[str, Any]]:
    """
    The conversation as ``[{"role": str | None, "content": str}]``, whatever shape it came in.

    :param raw: A ``messages`` or list-shaped ``transcript`` field: items ``{role, content}``
        (``role`` may be missing) or plain strings. Anything else (``None``, a number, a
        string) gives ``[]``; items without content are dropped.
    """
    if not isinstance(raw, list | tuple):
        return []
    messages = []
    for item in raw:
        if isinstance(item, Mapping):
            content, role = item.get("content"), item.get("role")
        else:
            content, role = item, None
        if not _filled(content) or isinstance(content, Mapping | list | tuple):
            continue
        messages.append({"role": str(role) if _filled(role) else None, "content": str(content)})
    return messages


def render_transcript(messages: Any) -> str:
    """
    Render a conversation as ``"Agent: ...\\nUser: ..."`` lines.

    :param messages: Anything :func:`normalize_messages` takes. An unknown role is shown
        capitalised; a message without a role is shown without a speaker.
    """
    lines = []
    for message in normalize_messages(messages):
        role = message["role"]
        speaker = _SPEAKERS.get(role, role.capitalize()) if role else None
        lines.append(f"{speaker}: {message['content']}" if speaker else message["content"])
    return "\n".join(lines)


def analysis_of(call: Mapping[str, Any]) -> dict[str, Any] | None:
    """
    The call's ``analysis`` if it holds anything, else ``None`` (``{}``, all-null and ``null`` alike).

    :param call: A call record.
    """
    analysis = call.get("analysis")
    if isinstance(analysis, Mapping) and any(_filled(value) for value in analysis.values()):
        return dict(analysis)
    return None


def has_post_call_content(call: Mapping[str, Any]) -> bool:
    """
    Whether the record carries post-call data: a message, a transcript, or a filled analysis field.

    :param call: A call record, from ``GET /v1/calls/{id}`` or a list page.
    """
    transcript = call.get("transcript")
    return bool(
        normalize_messages(call.get("messages"))
        or (isinstance(transcript, str) and transcript.strip())
        or normalize_messages(transcript)
        or analysis_of(call) is not None
    )


def post_call_data_ready(call: Mapping[str, Any]) -> bool:
    """
    Whether the call has ended and its post-call data has arrived: the one readiness rule.

    ``completed`` or ``failed``, and :func:`has_post_call_content`. A call whose
    ``analysis.outcome`` stays null once its summary or messages arrived is ready (the API
    says an outcome may stay null for good).

    :param call: A call record, from ``GET /v1/calls/{id}`` or a list page.
    """
    return OneInboxCallStatus.is_terminal(call.get("status")) and has_post_call_content(call)


def build_call_result(call: Mapping[str, Any], *, analysis_missing: bool = False) -> dict[str, Any]:
    """
    Build the task result of a finished call: ids, status, transcript, analysis and outcome.

    * ``messages``: ``[{"role", "content"}]`` from ``messages``, else from a list-shaped
      ``transcript`` (``role`` is ``None`` where the API gave none).
    * ``transcript``: those messages rendered as ``"Agent: ...\\nUser: ..."`` lines, else the
      deprecated ``transcript`` string, else ``""``.
    * ``analysis``: the call's ``analysis`` object, or ``None`` when it holds nothing (``{}``,
      all-null, ``null``): never an empty analysis.
    * ``outcome``: the call's own ``outcome`` (set by ``PATCH``), else ``analysis.outcome``;
      ``summary``: ``analysis.summary``, else ``ai_summary``. Either may be ``None``.

    :param call: A call record as returned by ``GET /v1/calls/{id}``.
    :param analysis_missing: Whether the wait gave up waiting for post-call data.
    """
    analysis = analysis_of(call)
    messages = normalize_messages(call.get("messages")) or normalize_messages(call.get("transcript"))
    transcript = render_transcript(messages)
    raw_transcript = call.get("transcript")
    if not transcript and isinstance(raw_transcript, str):
        transcript = raw_transcript.strip()
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


def not_placed_result(*, to_number: Any, agent_id: Any, reason: str) -> dict[str, Any]:
    """
    The result of a call that was never placed because it was refused for good (see
    ``failures_as_results`` on the place-call operator): the keys of :func:`build_call_result`,
    with ``status`` ``"not_placed"`` and the refusal in ``reason``.

    :param to_number: The number that was to be called.
    :param agent_id: The agent that was to call.
    :param reason: Why the call was refused (the error's message).
    """
    return {
        **build_call_result({}),
        "status": "not_placed",
        "reason": reason,
        "to_number": to_number,
        "agent_id": agent_id,
    }
