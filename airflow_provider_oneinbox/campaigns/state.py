"""
A campaign contact's progress in memory, and the rows and progress line made from it.

Split from :mod:`.runner` (which changes the state) so each file reads at once; nothing here
sends a request.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.campaigns.results import NOT_CALLED, UNKNOWN, ContactResult, progress_line

if TYPE_CHECKING:
    from airflow_provider_oneinbox.campaigns.contacts import Contact, Rejection

__all__ = [
    "ENDED",
    "ContactState",
    "contact_result",
    "ended_on_our_clock",
    "entry_of",
    "progress_of",
    "restore",
    "results_in_order",
    "saved_row",
]

#: Terminal call statuses.
ENDED = ("completed", "failed")


@dataclass(slots=True)
class ContactState:
    """
    One contact's progress: its calls, the last one's state, and what it waits for.

    :param contact: The contact.
    :param position: Its position among the valid contacts (its place in the saved progress).
    :param attempts: Calls placed (or possibly placed) so far.
    :param call_ids: Their ids, in order.
    :param live: The id of its call not yet seen ended, if any.
    :param due: When its next attempt may be placed (``None``: now).
    :param final: Its result once nothing more will happen, else ``None``.
    :param status: The last call's status as last read.
    :param outcome: The last call's outcome, if any.
    :param summary: The last call's summary, if any.
    :param waiting_hours: Whether it waits for its calling window.
    :param seen_ended: When (our clock) its live call was first seen ended.
    :param misses: Polls in a row that did not find its live call.
    :param began: When (our clock) its last attempt was recorded, before its create.
    :param saved: Whether its final row is in the saved progress (and not kept here).
    """

    contact: Contact
    position: int = 0
    attempts: int = 0
    call_ids: list[str] = field(default_factory=list)
    live: str | None = None
    due: datetime | None = None
    final: ContactResult | None = None
    status: str | None = None
    outcome: str | None = None
    summary: str | None = None
    waiting_hours: bool = False
    seen_ended: datetime | None = None
    misses: int = 0
    began: datetime | None = None
    saved: bool = False

    @property
    def settled(self) -> bool:
        """Whether nothing more will happen to this contact."""
        return self.final is not None or self.saved

    def read(self, call: dict[str, Any]) -> None:
        """
        Keep what a row needs of the last call's record (not the record: it may be large).

        :param call: The call as listed or created.
        """
        analysis = call.get("analysis") or {}
        self.status = call.get("status") or self.status
        self.outcome = analysis.get("outcome")
        self.summary = analysis.get("summary") or call.get("summary")


def _last_status(state: ContactState) -> str:
    if not state.call_ids:
        return NOT_CALLED
    return str(state.status) if state.status in ENDED and state.live is None else UNKNOWN


def contact_result(state: ContactState, status: str | None, reason: str | None) -> ContactResult:
    """
    The row of a contact as it stands.

    :param state: The contact's state.
    :param status: The final status, or ``None`` for its last call's (``not_called`` without one,
        ``unknown`` when the last call was not seen ended).
    :param reason: Why it ended so, or ``None``.
    """
    return ContactResult(
        index=state.contact.index,
        key=state.contact.key,
        to_number=state.contact.to_number,
        status=status or _last_status(state),
        outcome=state.outcome if state.call_ids else None,
        summary=state.summary if state.call_ids else None,
        attempts=len(state.call_ids),
        call_ids=tuple(state.call_ids),
        reason=reason,
    )


def ended_on_our_clock(began: datetime | None, call: dict[str, Any], now: datetime) -> datetime:
    """
    When ``call`` ended, on OUR clock, the same on every resume: when its attempt began (recorded
    before the POST) plus its length by the API's own clock. The API's ``ended_at`` alone may be
    skewed (the simulator's clock runs ahead); ``now`` alone moves on every resume, so a redial
    computed from it would never fall due.

    :param began: When the attempt began (our clock), or ``None`` when unknown (Airflow 3.1's
        resume: the API's ``ended_at`` is used, stable across resumes).
    :param call: The call's record (``created_at``, ``ended_at``).
    :param now: The current time: the answer when the record has no usable times.
    """
    from airflow_provider_oneinbox.placed_calls import parse_created_at

    created, ended = parse_created_at(call.get("created_at")), parse_created_at(call.get("ended_at"))
    if created is None or ended is None or ended < created:
        return now  # nothing better: a resume restarts the redial delay
    return ended if began is None else began + (ended - created)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any) -> datetime | None:
    return datetime_fromisoformat(value) if isinstance(value, str) else None


def entry_of(state: ContactState) -> dict[str, Any] | None:
    """
    What the saved progress keeps of a contact (compact keys), or ``None`` when there is nothing:
    a contact never called and not settled is rebuilt from the contacts and the clock alone.

    :param state: The contact's state.
    """
    if state.final is None and not state.attempts:
        return None
    entry: dict[str, Any] = {"n": state.attempts, "c": list(state.call_ids)}
    for name, value in (
        ("t", _iso(state.began)),
        ("s", state.status),
        ("o", state.outcome),
        ("m", state.summary),
    ):
        if value is not None:
            entry[name] = value
    if state.final is not None:
        entry.update(f=state.final.status, o=state.final.outcome, m=state.final.summary, r=state.final.reason)
        entry["n"], entry["c"] = state.final.attempts, list(state.final.call_ids)
        return {k: v for k, v in entry.items() if v is not None}
    for name, value in (("l", state.live), ("d", _iso(state.due)), ("e", _iso(state.seen_ended))):
        if value is not None:
            entry[name] = value
    if state.waiting_hours:
        entry["h"] = 1
    return entry


def restore(state: ContactState, entry: dict[str, Any]) -> None:
    """
    Put a saved unsettled entry (:func:`entry_of`) back into ``state``.

    :param state: The contact's fresh state.
    :param entry: Its saved entry.
    """
    state.attempts = int(entry.get("n") or 0)
    state.call_ids = [str(c) for c in entry.get("c") or ()]
    state.began, state.due, state.seen_ended = (
        _time(entry.get("t")),
        _time(entry.get("d")),
        _time(entry.get("e")),
    )
    state.status, state.outcome, state.summary = entry.get("s"), entry.get("o"), entry.get("m")
    state.live = entry.get("l")
    state.waiting_hours = bool(entry.get("h"))


def saved_row(state: ContactState, entry: dict[str, Any]) -> ContactResult:
    """
    The row of a contact settled in an earlier run of the worker, from its saved entry.

    :param state: The contact's state (for its key and number).
    :param entry: Its saved final entry (with ``"f"``).
    """
    return ContactResult(
        index=state.contact.index,
        key=state.contact.key,
        to_number=state.contact.to_number,
        status=str(entry["f"]),
        outcome=entry.get("o"),
        summary=entry.get("m"),
        attempts=int(entry.get("n") or 0),
        call_ids=tuple(str(c) for c in entry.get("c") or ()),
        reason=entry.get("r"),
    )


def results_in_order(
    states: list[ContactState],
    rejected: Iterable[Rejection],
    saved: Iterable[tuple[int, dict[str, Any]]] = (),
) -> Iterator[ContactResult]:
    """
    Every row, invalid contacts included, in input order, streamed.

    :param states: The valid contacts' states, in input order.
    :param rejected: The invalid records (``ContactBook.rejected``), in input order.
    :param saved: ``(position, final entry)`` of the contacts settled in an earlier run, ascending
        (:meth:`~.progress.CampaignProgress.settled`).
    """
    entries = iter(saved)

    def valid() -> Iterator[ContactResult]:
        pending = next(entries, None)
        for state in states:
            while pending is not None and pending[0] < state.position:
                pending = next(entries, None)
            if state.final is not None:
                yield state.final
            elif state.saved and pending is not None and pending[0] == state.position:
                yield saved_row(state, pending[1])
            elif state.saved:
                yield contact_result(state, UNKNOWN, "saved row missing")
            else:
                yield contact_result(state, None, "unfinished")

    invalid = (
        ContactResult(r.index, r.key, r.to_number, NOT_CALLED, reason=f"invalid: {r.reason}")
        for r in rejected
    )
    return heapq.merge(valid(), invalid, key=lambda row: row.index)


def progress_of(
    states: list[ContactState],
    *,
    quota_paused: bool,
    earlier: Counter[str] | None = None,
    earlier_placed: int = 0,
) -> str:
    """
    The task log's progress line (:func:`~.results.progress_line`).

    :param states: The contacts' states.
    :param quota_paused: Whether dialling waits for the daily quota's reset.
    :param earlier: Outcome counts of the contacts settled in an earlier run of the worker.
    :param earlier_placed: How many of those were called.
    """
    outcomes: Counter[str] = Counter(earlier or {})
    for s in states:
        if s.final is not None and s.final.outcome:
            outcomes[s.final.outcome] += 1
    waiting = [s for s in states if not s.settled and s.live is None]
    return progress_line(
        total=len(states),
        placed=earlier_placed + sum(1 for s in states if s.call_ids and not s.saved),
        ended=sum(1 for s in states if s.settled),
        outcomes=outcomes,
        waiting_for_hours=sum(1 for s in waiting if s.waiting_hours),
        waiting_for_redial=sum(1 for s in waiting if s.attempts and not s.waiting_hours),
        waiting_for_quota=len(waiting) if quota_paused else 0,
    )
