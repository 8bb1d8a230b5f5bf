"""
Redialling a contact whose call was not answered: which ended calls count, and when to call again.

Pure: the standard library only; errors are ``ValueError`` naming the operator's parameter
(``redial_outcomes``, ``max_attempts``, ``redial_after``) and the fix.

What counts, per the API reference: an unanswered, busy or voicemail call still ends
``completed`` and says so in its outcome ("Not Connected", "Voicemail"), so a completed call is
redialled when its outcome is one of ``redial_outcomes`` (case and spacing ignored, as the API
stores outcomes in Title Case). A ``failed`` call (a carrier error, a number that does not
answer the network) has no outcome; it is redialled only when ``"failed"`` is among
``redial_outcomes``, read as the call's status. A call whose outcome stayed null is not
redialled: someone may have answered. Each redial is a new attempt with its own idempotency key
(:meth:`~airflow_provider_oneinbox.campaigns.contacts.Contact.idempotency_key`); a call the
campaign hung up itself (a stop) is the caller's to leave alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["FAILED", "MAX_ATTEMPTS", "MAX_REDIAL_AFTER", "RedialPolicy"]

#: The entry of ``redial_outcomes`` that redials calls whose status is ``failed``.
FAILED = "failed"
#: Most calls to one contact a policy allows.
MAX_ATTEMPTS = 10
#: Longest ``redial_after``.
MAX_REDIAL_AFTER = timedelta(days=30)
_ENDED = ("completed", "failed")


def _norm(outcome: str) -> str:
    return " ".join(outcome.split()).casefold()


def _delay(value: Any) -> timedelta:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"redial_after must be a timedelta or a number of seconds, got {value!r}")
    if not 0 <= seconds <= MAX_REDIAL_AFTER.total_seconds():
        raise ValueError(
            f"redial_after must be between 0 and {MAX_REDIAL_AFTER.days} days, got {value!r}; "
            "e.g. timedelta(hours=2)"
        )
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class RedialPolicy:
    """
    When to call a contact again. Built with :meth:`of`; the default never redials.

    :param outcomes: Outcomes that call for a redial (any iterable of strings; kept normalized:
        case-folded, single spaces); ``"failed"`` stands for the status.
    :param max_attempts: Most calls to one contact, the first included (1 to :data:`MAX_ATTEMPTS`).
    :param redial_after: How long after a call ends the next attempt falls due (a ``timedelta``
        or seconds; kept as a ``timedelta``).
    :raises ValueError: Naming the parameter and the fix.
    """

    outcomes: frozenset[str] = frozenset()
    max_attempts: int = 1
    redial_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        outcomes = self.outcomes
        if isinstance(outcomes, str) or not isinstance(outcomes, Iterable):
            raise ValueError(
                f"redial_outcomes must be a list of outcomes such as ['Voicemail'], got {outcomes!r}"
            )
        names = list(outcomes)
        if not all(isinstance(name, str) and name.strip() for name in names):
            raise ValueError(f"redial_outcomes must hold non-empty strings, got {names!r}")
        object.__setattr__(self, "outcomes", frozenset(_norm(name) for name in names))
        object.__setattr__(self, "redial_after", _delay(self.redial_after))
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(
                f"max_attempts must be an integer from 1 (no redial) to {MAX_ATTEMPTS}, got {attempts!r}"
            )
        if attempts > 1 and not self.outcomes:
            raise ValueError(
                f"max_attempts={attempts} needs redial_outcomes, the outcomes to redial, "
                "e.g. ['Not Connected', 'Voicemail']"
            )

    @classmethod
    def of(
        cls,
        outcomes: Iterable[str] | None = None,
        max_attempts: int = 1,
        redial_after: Any = timedelta(hours=1),
    ) -> RedialPolicy:
        """
        Build and check a policy.

        :param outcomes: Outcomes to redial (any case), e.g. ``["Not Connected", "Voicemail"]``;
            include ``"failed"`` to redial calls that failed. ``None`` for none.
        :param max_attempts: Most calls to one contact, the first included; 1 never redials.
        :param redial_after: A ``timedelta`` or seconds from the end of a call to the next attempt.
        :raises ValueError: Naming the parameter and the fix.
        """
        names: Iterable[str] = () if outcomes is None else outcomes
        return cls(names, max_attempts, redial_after)  # type: ignore[arg-type]  # normalized on init

    def redials(self, status: str, outcome: str | None) -> bool:
        """
        Whether an ended call's result calls for another attempt (attempts left aside).

        :param status: The call's terminal status, ``"completed"`` or ``"failed"``.
        :param outcome: Its outcome (``analysis.outcome``), ``None`` when it has none.
        :raises ValueError: If ``status`` is not a terminal status.
        """
        if status not in _ENDED:
            raise ValueError(f"status must be one of {_ENDED} (the call has ended), got {status!r}")
        if status == FAILED:
            return FAILED in self.outcomes
        return isinstance(outcome, str) and _norm(outcome) in self.outcomes

    def next_attempt_at(
        self, attempt: int, status: str, outcome: str | None, ended_at: datetime
    ) -> datetime | None:
        """
        When the contact's next attempt falls due, or ``None`` when it is done.

        :param attempt: The attempt that ended (1 for the first call).
        :param status: Its terminal status, ``"completed"`` or ``"failed"``.
        :param outcome: Its outcome, ``None`` when it has none.
        :param ended_at: When it ended (the record's ``ended_at``, else when the campaign saw it
            end), timezone-aware.
        :raises ValueError: For an attempt below 1, a status that is not terminal, a naive time.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an integer >= 1, got {attempt!r}")
        if not isinstance(ended_at, datetime) or ended_at.utcoffset() is None:
            raise ValueError(f"ended_at must be a timezone-aware datetime, got {ended_at!r}")
        if attempt >= self.max_attempts or not self.redials(status, outcome):
            return None
        return ended_at + self.redial_after
