"""
A campaign contact's progress in memory, and the rows and progress line made from it.

Split from :mod:`.runner` (which changes the state) so each file reads at once; nothing here
sends a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.campaigns.results import NOT_CALLED, UNKNOWN, ContactResult, progress_line

if TYPE_CHECKING:
    from airflow_provider_oneinbox.campaigns.contacts import Contact, Rejection

__all__ = ["ENDED", "ContactState", "contact_result", "progress_of", "results_in_order"]

#: Terminal call statuses.
ENDED = ("completed", "failed")


@dataclass
class ContactState:
    """
    One contact's progress: its calls, the last one's state, and what it waits for.

    :param contact: The contact.
    :param attempts: Calls placed (or possibly placed) so far.
    :param call_ids: Their ids, in order.
    :param live: The id of its call not yet seen ended, if any.
    :param due: When its next attempt may be placed (``None``: now).
    :param final: Its result once nothing more will happen, else ``None``.
    :param last: The last call's record as last read.
    :param waiting_hours: Whether it waits for its calling window.
    :param seen_ended: When (our clock) its live call was first seen ended.
    :param misses: Polls in a row that did not find its live call.
    """

    contact: Contact
    attempts: int = 0
    call_ids: list[str] = field(default_factory=list)
    live: str | None = None
    due: datetime | None = None
    final: ContactResult | None = None
    last: dict[str, Any] | None = None
    waiting_hours: bool = False
    seen_ended: datetime | None = None
    misses: int = 0


def _last_status(state: ContactState) -> str:
    if not state.call_ids:
        return NOT_CALLED
    status = (state.last or {}).get("status")
    return str(status) if status in ENDED and state.live is None else UNKNOWN


def contact_result(state: ContactState, status: str | None, reason: str | None) -> ContactResult:
    """
    The row of a contact as it stands.

    :param state: The contact's state.
    :param status: The final status, or ``None`` for its last call's (``not_called`` without one,
        ``unknown`` when the last call was not seen ended).
    :param reason: Why it ended so, or ``None``.
    """
    call = state.last or {}
    analysis = call.get("analysis") or {}
    return ContactResult(
        index=state.contact.index,
        key=state.contact.key,
        to_number=state.contact.to_number,
        status=status or _last_status(state),
        outcome=analysis.get("outcome") if state.call_ids else None,
        summary=(analysis.get("summary") or call.get("summary")) if state.call_ids else None,
        attempts=len(state.call_ids),
        call_ids=tuple(state.call_ids),
        reason=reason,
    )


def results_in_order(
    states: Iterable[ContactState], rejected: Iterable[Rejection]
) -> Iterator[ContactResult]:
    """
    Every row, invalid contacts included, in input order.

    :param states: The valid contacts' states.
    :param rejected: The invalid records (``ContactBook.rejected``).
    """
    rows = [s.final or contact_result(s, None, "unfinished") for s in states]
    rows += [
        ContactResult(r.index, r.key, r.to_number, NOT_CALLED, reason=f"invalid: {r.reason}")
        for r in rejected
    ]
    return iter(sorted(rows, key=lambda row: row.index))


def progress_of(states: list[ContactState], *, quota_paused: bool) -> str:
    """
    The task log's progress line (:func:`~.results.progress_line`).

    :param states: The contacts' states.
    :param quota_paused: Whether dialling waits for the daily quota's reset.
    """
    outcomes: dict[str, int] = {}
    for s in states:
        if s.final is not None and s.final.outcome:
            outcomes[s.final.outcome] = outcomes.get(s.final.outcome, 0) + 1
    waiting = [s for s in states if s.final is None and s.live is None]
    return progress_line(
        total=len(states),
        placed=sum(1 for s in states if s.call_ids),
        ended=sum(1 for s in states if s.final is not None),
        outcomes=outcomes,
        waiting_for_hours=sum(1 for s in waiting if s.waiting_hours),
        waiting_for_redial=sum(1 for s in waiting if s.attempts and not s.waiting_hours),
        waiting_for_quota=len(waiting) if quota_paused else 0,
    )
