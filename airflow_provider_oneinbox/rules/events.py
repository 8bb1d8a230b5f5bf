"""
The events a wait for a call ends with: typed here, plain dicts on the wire.

A trigger fires one event; Airflow's triggerer logs it at INFO and stores it in the metadata DB,
then hands it to the resumed task. So events carry only what the worker needs to decide (ids,
statuses, flags), never the call's transcript, messages, analysis, variables, metadata, numbers
or recording URL: the worker reads the record itself when it resumes.

:meth:`CallWaitEvent.to_payload` gives the dict a trigger fires; :func:`event_from_payload`
reads one back, validating it, including the shapes earlier versions fired (a ``success``
event carrying the call's record under ``"call"``), since an event stored before an upgrade
may be delivered after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "EVENT_STATUSES",
    "CallSucceeded",
    "CallTimedOut",
    "CallWaitEvent",
    "CallWaitFailed",
    "MalformedEventError",
    "event_from_payload",
]

#: The ``status`` of every event a wait can end with.
EVENT_STATUSES = frozenset({"success", "timeout", "error"})


class MalformedEventError(ValueError):
    """An event that no version of the trigger fires: says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class CallWaitEvent:
    """
    The end of a wait for a call.

    :param call_id: Id of the call waited for.
    """

    status: ClassVar[str]

    call_id: str

    def to_payload(self) -> dict[str, Any]:
        """The plain dict a trigger fires (its ``TriggerEvent`` payload)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class CallSucceeded(CallWaitEvent):
    """
    The call ended (``completed`` or ``failed``), with its post-call data or without it.

    :param call_id: Id of the call.
    :param call_status: Its last status read, or ``None`` (a record of an earlier version's event).
    :param end_reason: Why it ended, as the API said, or ``None``.
    :param analysis_missing: Whether the wait gave up waiting for the post-call analysis.
    """

    status: ClassVar[str] = "success"

    call_status: str | None = None
    end_reason: str | None = None
    analysis_missing: bool = False

    def to_payload(self) -> dict[str, Any]:
        """``{"status": "success", "call_id", "call_status", "end_reason", "analysis_missing"}``."""
        return {
            "status": self.status,
            "call_id": self.call_id,
            "call_status": self.call_status,
            "end_reason": self.end_reason,
            "analysis_missing": self.analysis_missing,
        }


@dataclass(frozen=True, slots=True)
class CallTimedOut(CallWaitEvent):
    """
    The wait's deadline passed while the call ran.

    :param call_id: Id of the call.
    :param call_status: Its last status read, or ``None`` if none was.
    :param message: What happened, for the task's error.
    """

    status: ClassVar[str] = "timeout"

    call_status: str | None = None
    message: str = ""

    def to_payload(self) -> dict[str, Any]:
        """``{"status": "timeout", "call_id", "call_status", "message"}``."""
        return {
            "status": self.status,
            "call_id": self.call_id,
            "call_status": self.call_status,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class CallWaitFailed(CallWaitEvent):
    """
    The wait cannot go on: the API refused for good, or kept failing.

    :param call_id: Id of the call.
    :param message: What went wrong, for the task's error.
    :param error_type: The class name of the last error.
    :param permanent: Whether retrying cannot help (bad key, unknown call, unusable connection).
    """

    status: ClassVar[str] = "error"

    message: str = ""
    error_type: str = ""
    permanent: bool = False

    def to_payload(self) -> dict[str, Any]:
        """``{"status": "error", "call_id", "message", "error_type", "permanent"}``."""
        return {
            "status": self.status,
            "call_id": self.call_id,
            "message": self.message,
            "error_type": self.error_type,
            "permanent": self.permanent,
        }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def event_from_payload(payload: Any) -> CallWaitEvent:
    """
    Read a fired event back, in any shape a version of the trigger fired.

    Raises :class:`MalformedEventError` naming what is wrong (no event, not a dict, an unknown
    ``status``, a ``success`` without a ``call_status`` or ``call`` record, no ``call_id``, a
    non-bool ``analysis_missing``).

    :param payload: The event's payload as the task received it.
    """
    if payload is None:
        raise MalformedEventError("The OneInbox call trigger resumed the task without an event.")
    if not isinstance(payload, Mapping):
        raise MalformedEventError(
            f"Malformed OneInbox trigger event: expected a dict, got {type(payload).__name__}."
        )
    status = payload.get("status")
    if status not in EVENT_STATUSES:
        raise MalformedEventError(
            f"Malformed OneInbox trigger event: 'status' is {status!r}, "
            f"expected one of {sorted(EVENT_STATUSES)}."
        )
    # Earlier versions' success events carried the call's record; its status stands for call_status.
    record = payload.get("call")
    if status == "success" and not isinstance(record, Mapping) and "call_status" not in payload:
        raise MalformedEventError(
            "Malformed OneInbox trigger event: a 'success' event without a 'call' record or a 'call_status'."
        )
    call_id = payload.get("call_id")
    if not call_id:
        raise MalformedEventError("Malformed OneInbox trigger event: no 'call_id'.")
    if not isinstance(call_id, str):
        raise MalformedEventError(f"Malformed OneInbox trigger event: 'call_id' is {call_id!r}.")
    analysis_missing = payload.get("analysis_missing", False)
    if not isinstance(analysis_missing, bool):
        raise MalformedEventError("Malformed OneInbox trigger event: 'analysis_missing' is not a bool.")
    if status == "success":
        call_status = payload.get("call_status")
        if "call_status" not in payload and isinstance(record, Mapping):
            call_status = record.get("status")
        end_reason = payload.get("end_reason")
        if "end_reason" not in payload and isinstance(record, Mapping):
            end_reason = record.get("end_reason")
        return CallSucceeded(
            call_id,
            call_status=_text(call_status),
            end_reason=_text(end_reason),
            analysis_missing=analysis_missing,
        )
    message = _text(payload.get("message")) or ""
    if status == "timeout":
        return CallTimedOut(call_id, call_status=_text(payload.get("call_status")), message=message)
    return CallWaitFailed(
        call_id,
        message=message,
        error_type=_text(payload.get("error_type")) or "",
        permanent=bool(payload.get("permanent")),
    )
