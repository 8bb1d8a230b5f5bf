"""
The call record, in every shape the published reference allows.

``GET /v1/calls/{id}``, ``POST /v1/calls``, ``POST /v1/calls/{id}/stop`` and the items of both call
lists return it. The reference's pages disagree in places, so this model accepts each of their
readings: ``transcript`` a string (deprecated) or a ``[{role, content}]`` list; ``analysis`` an
object whose fields may be null, ``{}``, or null; any ``status`` (peers have more states than the
documented ones, and an unknown one must not crash a wait); ``from_number``/``to_number`` null for
inbound calls. Fields it does not name are kept (``extra="allow"``).

The simulator's records are checked against it in the tests, and the hooks' shape checks
(``hooks/records.py``) accept the same types. Validating a record costs pydantic work, so the
triggerer's polls do not; use :func:`parse_call_record` where a typed record is worth it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: The documented statuses; any other string is a status too (not finished, and logged).
DOCUMENTED_STATUSES = ("queued", "initiated", "in_progress", "completed", "failed")


class CallMessage(BaseModel):
    """One turn of a conversation: ``role`` ``agent`` or ``user`` (others kept), and what was said."""

    model_config = ConfigDict(extra="allow")

    role: str | None = None
    content: str | None = None


class CallAnalysis(BaseModel):
    """
    ``analysis`` of a call: ``{}`` or all-null fields until post-call processing is done.

    ``outcome`` may stay null for good ("too short or ambiguous").
    """

    model_config = ConfigDict(extra="allow")

    outcome: str | None = None
    summary: str | None = None


class CallRecord(BaseModel):
    """
    A OneInbox call, as the API returns it; fields in the reference's order.

    :param id: The call's id (``call_...`` or a UUID).
    :param status: ``queued``, ``initiated``, ``in_progress``, ``completed``, ``failed`` or any
        undocumented status.
    :param transcript: A string (deprecated) or a list of turns; null before post-call processing.
    :param messages: The turns; ``[]`` (or null) before post-call processing.
    :param analysis: ``{outcome, summary}``, ``{}``, all-null fields or null before it.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    agent_id: str | None = None
    type: str | None = None
    direction: str | None = None
    status: str
    from_number: str | None = None
    to_number: str | None = None
    scheduled_at: str | None = None
    variables: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    end_reason: str | None = None
    transcript: str | list[CallMessage] | None = None
    messages: list[CallMessage] | None = None
    analysis: CallAnalysis | None = None
    outcome: str | None = None
    ai_summary: str | None = None
    recording_url: str | None = None
    latency: dict[str, Any] | float | None = None
    cost_cents: float | None = None
    credits_used: float | None = None
    twilio_call_sid: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


#: Every field of the reference's call record, in its order.
CALL_RECORD_FIELDS: tuple[str, ...] = tuple(CallRecord.model_fields)


def parse_call_record(payload: Any) -> CallRecord:
    """
    ``payload`` (a decoded call record) as a :class:`CallRecord`.

    :param payload: E.g. what ``OneInboxHook.get_call`` returned.
    :raises pydantic.ValidationError: A field of another type than the reference allows.
    """
    return CallRecord.model_validate(payload)
