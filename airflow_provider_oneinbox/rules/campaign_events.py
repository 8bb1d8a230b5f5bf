"""
The event the campaign trigger wakes its worker with: typed here, a plain dict on the wire.

Airflow logs every event and stores it in the metadata DB, so it carries ids, a reason and, for
an error, a key-free message: never a transcript, a number, a URL or a call's record. It is a
hint, not state: the worker rebuilds the campaign from its ledger and one list walk on every
resume, so a lost or repeated event costs a resume, never a call.

Shapes (:meth:`CampaignWake.to_payload`):

* ``{"reason": "ended", "ended": [call ids]}``: these watched calls are settled by the worker's
  own rule (ended, and the outcome in or the per-call grace over); the worker settles them
  without waiting for their outcome again.
* ``{"reason": "wake", "ended": []}``: the wake-up time the worker asked for has come.
* ``{"reason": "error", "ended": [], "message", "error_type", "permanent"}``: the trigger cannot
  watch the calls (the API refused for good, or kept failing); the worker reads them itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_oneinbox.rules.events import MalformedEventError

__all__ = ["CAMPAIGN_EVENT_REASONS", "CampaignWake", "campaign_event_from_payload"]

#: The ``reason`` of every event the campaign trigger fires.
CAMPAIGN_EVENT_REASONS = frozenset({"ended", "wake", "error"})


@dataclass(frozen=True, slots=True)
class CampaignWake:
    """
    Why the campaign trigger woke its worker.

    :param reason: ``"ended"``, ``"wake"`` or ``"error"``.
    :param ended: The watched calls seen settled (``"ended"`` only).
    :param message: What went wrong (``"error"`` only; key-free, like every error of the hooks).
    :param error_type: The class name of the error (``"error"`` only).
    :param permanent: Whether retrying cannot help (``"error"`` only).
    """

    reason: str
    ended: tuple[str, ...] = ()
    message: str = ""
    error_type: str = ""
    permanent: bool = False

    def __post_init__(self) -> None:
        if self.reason not in CAMPAIGN_EVENT_REASONS:
            raise MalformedEventError(
                f"Malformed OneInbox campaign event: 'reason' is {self.reason!r}, "
                f"expected one of {sorted(CAMPAIGN_EVENT_REASONS)}."
            )
        if (self.reason == "ended") != bool(self.ended):
            raise MalformedEventError(
                "Malformed OneInbox campaign event: 'ended' names calls exactly when the reason is 'ended'."
            )

    def to_payload(self) -> dict[str, Any]:
        """The plain dict the trigger fires (see the module docstring)."""
        payload: dict[str, Any] = {"reason": self.reason, "ended": list(self.ended)}
        if self.reason == "error":
            payload.update(message=self.message, error_type=self.error_type, permanent=self.permanent)
        return payload


def campaign_event_from_payload(payload: Any) -> CampaignWake:
    """
    Read a fired campaign event back, validating it.

    Raises :class:`~airflow_provider_oneinbox.rules.events.MalformedEventError` naming what is
    wrong (no event, not a dict, an unknown ``reason``, ``ended`` not a list of call ids).

    :param payload: The event's payload as the task received it.
    """
    if payload is None:
        raise MalformedEventError("The OneInbox campaign trigger resumed the task without an event.")
    if not isinstance(payload, Mapping):
        raise MalformedEventError(
            f"Malformed OneInbox campaign event: expected a dict, got {type(payload).__name__}."
        )
    ended = payload.get("ended", [])
    if not isinstance(ended, list | tuple) or not all(isinstance(i, str) and i for i in ended):
        raise MalformedEventError("Malformed OneInbox campaign event: 'ended' is not a list of call ids.")
    message, error_type = payload.get("message", ""), payload.get("error_type", "")
    reason = payload.get("reason")
    if reason not in CAMPAIGN_EVENT_REASONS:
        raise MalformedEventError(
            f"Malformed OneInbox campaign event: 'reason' is {reason!r}, "
            f"expected one of {sorted(CAMPAIGN_EVENT_REASONS)}."
        )
    return CampaignWake(
        str(reason),
        tuple(ended),
        message=message if isinstance(message, str) else "",
        error_type=error_type if isinstance(error_type, str) else "",
        permanent=payload.get("permanent") is True,
    )
