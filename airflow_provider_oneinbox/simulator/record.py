"""
The call record as the API returns it, in the shapes the published reference allows.

Before post-call processing (during the call, and from its end until ``analysis_delay`` later, or
forever for a scenario without post-call data) ``messages`` is ``[]``, ``transcript`` is ``null`` and
``analysis`` has the unprocessed shape chosen by the ``post_call_shape`` option. The record always
carries every field of the reference's call schema, and validates as the provider's
:class:`~airflow_provider_oneinbox.models.call.CallRecord` (the tests check every record served).
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_oneinbox.models.call import CALL_RECORD_FIELDS
from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.lifecycle import DEFAULT_RECORDING_BASE, Call
from airflow_provider_oneinbox.simulator.options import PostCallShape, TranscriptShape

#: Every field of the reference's call record, in its order: the provider's model of it.
CALL_FIELDS: tuple[str, ...] = CALL_RECORD_FIELDS


def unprocessed_analysis(shape: PostCallShape, outcome: str | None = None) -> dict[str, Any] | None:
    """``analysis`` of a call not (yet) analysed; a PATCHed ``outcome`` shows through every shape."""
    if outcome is not None:
        return {"outcome": outcome, "summary": None}
    if shape == "nulls":
        return {"outcome": None, "summary": None}
    return {} if shape == "empty" else None


def cost_cents(duration: int) -> int:
    """What a call of ``duration`` seconds costs: 9 cents per started minute."""
    return 9 * math.ceil(duration / 60)


def render_call(
    call: Call,
    clock: SimClock,
    now: float,
    post_call_shape: PostCallShape = "nulls",
    transcript_shape: TranscriptShape = "string",
    recording_base: str = DEFAULT_RECORDING_BASE,
) -> dict[str, Any]:
    """
    The call record as ``GET /v1/calls/{id}`` returns it at simulated time ``now``.

    :param recording_base: The base URL of its signed ``recording_url`` (see :mod:`.recordings`).
    """
    ended = now >= call.end
    ready = now >= call.analysis_ready  # the call's own figures (duration, cost...) are final
    processed = ready and call.scenario.post_call_data  # messages, transcript, analysis exist
    outcome = call.outcome() if ready else call.outcome_override
    analysis: dict[str, Any] | None
    if processed:
        analysis = {"outcome": outcome, "summary": call.summary()}
    else:
        analysis = unprocessed_analysis(post_call_shape, call.outcome_override)
    messages = call.messages() if processed else []
    transcript: str | list[dict[str, str]] | None = None
    if processed:
        transcript = messages if transcript_shape == "list" else _transcript_text(messages)
    updated = max(t for t in [*call.transitions(), call.patched_at or 0.0] if t <= now)
    duration = call.duration
    started = call.dialled and now >= call.start
    return {
        "id": call.id,
        "agent_id": call.agent_id,
        "type": call.type,
        "direction": call.direction,
        "status": call.status_at(now),
        "from_number": call.from_number,
        "to_number": call.to_number,
        "scheduled_at": call.scheduled_at,
        "variables": call.variables,
        "metadata": call.metadata,
        "started_at": clock.iso(call.start) if started else None,
        "ended_at": clock.iso(call.end) if ended else None,
        "duration_seconds": duration if ready else None,
        "end_reason": ("api_stop" if call.stopped else call.scenario.end_reason) if ready else None,
        "transcript": transcript,
        "messages": messages,
        "analysis": analysis,
        "outcome": outcome,
        "ai_summary": call.summary() if processed else None,
        "recording_url": call.recording_url(clock, now, recording_base) if processed else None,
        "latency": call.latency() if ready else None,
        "cost_cents": cost_cents(duration) if ready else None,
        "credits_used": round(duration / 60, 2) if ready else None,
        "twilio_call_sid": call.twilio_call_sid if started else None,
        "created_at": clock.iso(call.created),
        "updated_at": clock.iso(updated),
    }


def _transcript_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
