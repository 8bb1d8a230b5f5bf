"""
A campaign runner's state to and from the saved progress (:mod:`.progress`): the resume's fast path.

Split from :mod:`.runner` so each file reads at once. :func:`restore_saved` puts the saved
unsettled contacts back (settled ones only flagged); :func:`save_progress` writes what changed
before a deferral and then drops the settled contacts' rows from memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_oneinbox.campaigns.state import ContactState, entry_of, restore

if TYPE_CHECKING:
    from collections import Counter

    from airflow_provider_oneinbox.campaigns.progress import CampaignProgress

__all__ = ["CampaignRunner", "restore_saved", "save_progress"]


class CampaignRunner(Protocol):
    """What these functions use of :class:`~.runner.CampaignRunner` (named so: no import cycle)."""

    states: list[ContactState]
    live_calls: dict[str, ContactState]
    saved_entries: dict[int, dict[str, Any]]
    saved_progress: CampaignProgress | None
    last_start: datetime | None


def restore_saved(
    runner: CampaignRunner, progress: CampaignProgress | None, *, search_unrecorded: bool, slack: timedelta
) -> bool:
    """
    Flag the saved settled contacts; with a usable save and no retry, restore the rest from it.

    :param runner: A runner fresh from its contacts.
    :param progress: The loaded saved progress, or ``None`` (no store).
    :param search_unrecorded: Whether this is a retry (or a store was not read whole): then the
        ledger, not the save, says which attempts exist.
    :param slack: Added to the latest recorded attempt to pace from (the create's timeout).
    :return: Whether the state is complete (else the caller resolves the unsettled contacts' keys).
    """
    from airflow_provider_oneinbox.campaigns.pacing import latest_start

    runner.saved_progress = progress
    if progress is None:
        return False
    for state in runner.states:
        if progress.is_final(state.position):
            state.saved = True
    if not progress.usable or search_unrecorded:
        return False
    for position, entry in progress.entries.items():
        state = runner.states[position]
        restore(state, entry)
        if state.live is not None:
            runner.live_calls[state.live] = state
        runner.saved_entries[position] = entry
    runner.last_start = latest_start([s.began for s in runner.states if s.began is not None], slack=slack)
    return True


def save_progress(runner: CampaignRunner) -> bool:
    """
    Save what changed since the last save or load; whether all was saved.

    Settled contacts saved are then dropped from memory (a flag stays): memory holds the
    unsettled contacts' details, not every row.

    :param runner: The runner.
    """
    progress = runner.saved_progress
    if progress is None:
        return False
    changed: dict[int, dict[str, Any]] = {}
    for state in runner.states:
        if state.saved:
            continue
        entry = entry_of(state)
        if entry is not None and runner.saved_entries.get(state.position) != entry:
            changed[state.position] = entry
    outcomes: Counter[str] = progress.outcomes.copy()
    placed = progress.placed
    for state in runner.states:
        if state.final is not None:
            placed += 1 if state.final.attempts else 0
            if state.final.outcome:
                outcomes[state.final.outcome] += 1
    finals = [s.position for s in runner.states if s.settled]
    if not progress.save(changed, finals, outcomes, placed):
        return False
    for position, entry in changed.items():
        state = runner.states[position]
        if "f" in entry:
            state.final, state.saved, state.call_ids = None, True, []
            state.status = state.outcome = state.summary = None
            runner.saved_entries.pop(position, None)
        else:
            runner.saved_entries[position] = entry
    return True
