"""
The placed call ledger for many keys: one call per contact and attempt, in one task instance.

A campaign places thousands of calls from one task; a retry, a worker crash or a resumed
campaign must place none of them twice. The rules are :class:`~airflow_provider_oneinbox.ledger.
PlacedCallLedger`'s (an attempt is recorded before its POST; ``sent=False`` after a create that
never left; the id as soon as the call exists; a search for what the store cannot answer), made
to scale:

* Airflow's task state store has one value per key and one round trip per ``get``/``set``, no
  batch call and no listing. So the entries live in *pages*: one store value holds up to
  :data:`PAGE_SIZE` keys' entries (kept under the store's 64 KiB advisory value size), and a head
  value holds the page count. Loading costs ``1 + pages`` reads; recording a batch of attempts,
  or a batch of call ids, one write per page touched (plus the head when a page opens).
* Keys the store cannot answer are resolved by **one** walk of the agent's calls
  (:func:`~airflow_provider_oneinbox.placed_calls.search_placed_calls`), bounded like the single
  search, whatever their number.

Pages are written before the head that counts them, and nothing is dialled until both are
written: a page the head does not count holds no attempt that was dialled.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.placed_calls import (
    SEARCH_TIME_BUDGET_SECONDS,
    parse_created_at,
    search_placed_calls,
)

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.ledger import StateStore

__all__ = ["CAMPAIGN_STORE_HEAD_KEY", "PAGE_SIZE", "CampaignLedger", "Resolution"]

#: Task state store key of a campaign ledger's head, ``{"pages": n}``; page ``i`` is under
#: ``f"{CAMPAIGN_STORE_HEAD_KEY}_{i}"``, ``{idempotency key: {"at", "sent"?, "id"?}}``.
CAMPAIGN_STORE_HEAD_KEY = "oneinbox_ledger"
#: Entries per page: about 140 bytes each (key, ISO time, a call id), so a page stays near 40 KB.
PAGE_SIZE = 300


@dataclass(frozen=True)
class Resolution:
    """
    What the ledger knows about some keys before dialling them.

    :param placed: Key -> id of the call that carries it (from the store or the walk): never dial.
    :param unplaced: Keys that certainly have no call: safe to dial (after :meth:`CampaignLedger.begin`).
    :param unknown: Keys whose call may exist but was not found (the walk stopped at a bound,
        failed, or is turned off): not to be dialled now; a later resolve may tell.
    :param reason: Why ``unknown`` is not empty.
    :param examined: Calls the walk read (0 without a walk).
    """

    placed: dict[str, str] = field(default_factory=dict)
    unplaced: frozenset[str] = frozenset()
    unknown: frozenset[str] = frozenset()
    reason: str = ""
    examined: int = 0


class CampaignLedger:
    """
    Many idempotency keys' ledger, in paged task state store values, with one walk to resolve them.

    Typical use: :meth:`load`; :meth:`resolve` the contacts' keys; :meth:`begin` the unplaced ones
    you are about to dial (dial only if it returns ``True``); :meth:`record_calls` the ids of the
    calls created (and :meth:`mark_not_sent` the keys whose create certainly never left).

    :param hook: The hook that lists calls.
    :param store: Airflow's ``context["task_state_store"]`` (3.3+), or ``None`` (3.1: search only).
    :param agent_id: The agent the calls are placed with (the walk lists its calls).
    :param search_limit: At most this many calls are read by a walk; 0 turns the walk off.
    :param time_budget: At most this many seconds per walk.
    :param log: Where to log (the operator's ``self.log``).
    :param page_size: Entries per store value.
    """

    def __init__(
        self,
        hook: OneInboxHook,
        store: StateStore | None,
        *,
        agent_id: str,
        search_limit: int,
        time_budget: float = SEARCH_TIME_BUDGET_SECONDS,
        log: Any = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}.")
        self.hook = hook
        self.store = store
        self.agent_id = agent_id
        self.search_limit = search_limit
        self.time_budget = time_budget
        self.log = log or logging.getLogger(__name__)
        self.page_size = page_size
        #: Whether :meth:`load` read the store whole (or there is none): only then can a key's absence
        #: mean it was never attempted.
        self.complete = False
        self._pages: list[dict[str, dict[str, Any]]] = []
        self._page_of: dict[str, int] = {}
        self._dirty: set[int] = set()
        self._head_written = 0
        #: Whether the head was read: without it, any write could hide the pages it counts.
        self._writable = True
        #: Pages the head counts that could not be read: never written, never given new keys.
        self._unreadable: set[int] = set()

    def _get(self, name: str) -> tuple[bool, Any]:
        assert self.store is not None
        try:
            return True, self.store.get(name)
        except Exception as exc:
            self.log.warning("Could not read %s from the task state store: %s", name, exc)
            return False, None

    def load(self, *, tail_only: bool = False) -> bool:
        """
        Read the head and every page (``1 + pages`` store reads); return :attr:`complete`.

        With ``tail_only``, read the head and the last page only (2 reads, whatever the campaign's
        size): enough to :meth:`begin`, :meth:`record_calls` and :meth:`mark_not_sent` new attempts,
        which go on the last page or a new one. The ledger is then incomplete (a key on an unread
        page reads as absent, so :meth:`resolve` searches for it): for a resumed campaign whose
        saved progress (:mod:`~airflow_provider_oneinbox.campaigns.progress`) already says which
        attempts exist. A key begun again there gets a second entry on a later page, which wins on
        a full load.

        Without a store there is nothing to read: complete, and the caller's ``search_unrecorded``
        alone decides whether an unrecorded key is searched for (Airflow 3.1: on every retry).

        A page that cannot be read, or that the head counts and the store lacks, leaves the ledger
        incomplete: every key it does not know is then searched for rather than taken as new.
        """
        self._pages, self._page_of, self._dirty, self._unreadable = [], {}, set(), set()
        self.complete = self.store is None
        self._writable = True
        if self.store is None:
            return True
        ok, head = self._get(CAMPAIGN_STORE_HEAD_KEY)
        count = head.get("pages") if isinstance(head, dict) else 0 if head is None else None
        if not ok or not isinstance(count, int) or count < 0:
            # Writing now would start a new head over pages it cannot see: record nothing, dial nothing.
            self._writable = False
            return False
        complete = not tail_only
        for index in range(count):
            if tail_only and index < count - 1:
                self._pages.append({})
                self._unreadable.add(index)  # not read: never written
                continue
            ok, page = self._get(f"{CAMPAIGN_STORE_HEAD_KEY}_{index}")
            if not (ok and isinstance(page, dict)):
                complete = False
                self._unreadable.add(index)
            self._pages.append(page if isinstance(page, dict) else {})
            for key in self._pages[-1]:
                self._page_of[key] = index
        self._head_written = count
        self.complete = complete
        return complete

    def entry(self, key: str) -> dict[str, Any] | None:
        """
        The store's entry for ``key`` (``{"at", "sent"?, "id"?}``), or ``None``.

        :param key: An idempotency key.
        """
        index = self._page_of.get(key)
        return None if index is None else self._pages[index].get(key)

    def _put(self, key: str, value: dict[str, Any]) -> None:
        index = self._page_of.get(key)
        if index is None:
            last = len(self._pages) - 1
            if not self._pages or last in self._unreadable or len(self._pages[-1]) >= self.page_size:
                self._pages.append({})
            index = self._page_of[key] = len(self._pages) - 1
        self._pages[index][key] = value
        self._dirty.add(index)

    def _flush(self) -> bool:
        """Write the dirty pages, then the head if it counts too few; whether all was written."""
        if self.store is None:
            return True
        if not self._writable:
            self.log.warning("The call ledger's head could not be read; recording nothing (not dialling).")
            return False
        for index in sorted(self._dirty):
            try:
                self.store.set(f"{CAMPAIGN_STORE_HEAD_KEY}_{index}", self._pages[index])
            except Exception as exc:
                self.log.warning("Could not write page %d of the call ledger: %s", index, exc)
                return False
            self._dirty.discard(index)
        if self._head_written < len(self._pages):
            try:
                self.store.set(CAMPAIGN_STORE_HEAD_KEY, {"pages": len(self._pages)})
            except Exception as exc:
                self.log.warning("Could not write the call ledger's head: %s", exc)
                return False
            self._head_written = len(self._pages)
        return True

    def begin(self, keys: Iterable[str], now: datetime | None = None) -> bool:
        """
        Record, before dialling, that the calls of ``keys`` may be placed from now on.

        An entry that already says a call may have been sent (or has an id) is left alone.

        :param keys: The keys about to be dialled.
        :param now: The time to record (default now).
        :return: Whether the store holds the records (or there is no store): dial only if ``True``.
        """
        at = (now or datetime.now(UTC)).isoformat()
        for key in keys:
            current = self.entry(key)
            if current is None or (current.get("sent") is False and not current.get("id")):
                self._put(key, {"at": at})
        return self._flush()

    def record_calls(self, calls: Mapping[str, str]) -> bool:
        """
        Save the ids of calls that exist (one write per page touched); a failure is only logged.

        :param calls: Key -> call id.
        :return: Whether the store holds them.
        """
        for key, call_id in calls.items():
            # A call the walk found with no entry of ours keeps no attempt time: "now" would move on
            # every resume of a store-less (3.1) campaign, and with it the pacing and redial anchors.
            previous = self.entry(key) or {}
            entry = (
                {"id": str(call_id)}
                if previous.get("at") is None
                else {"at": previous["at"], "id": str(call_id)}
            )
            self._put(key, entry)
        return self._flush()

    def mark_not_sent(self, keys: Iterable[str]) -> bool:
        """
        Record that the creates of ``keys`` certainly never reached the API (no call can exist).

        :param keys: Keys whose create failed before anything was sent.
        :return: Whether the store holds it.
        """
        for key in keys:
            current = self.entry(key)
            if current is not None and not current.get("id"):
                self._put(key, {"at": current.get("at"), "sent": False})
        return self._flush()

    def resolve(self, keys: Collection[str], *, since: datetime, search_unrecorded: bool) -> Resolution:
        """
        Sort ``keys`` into placed, unplaced and unknown, with at most one walk of the agent's calls.

        :param keys: The keys to resolve.
        :param since: The earliest time a key without an entry can have been placed (the DAG run's
            ``run_after``); a key with an entry is searched from its recorded attempt.
        :param search_unrecorded: Whether a key without an entry may have been placed all the same
            (a retry, or a store that was not read whole); else such a key is unplaced.
        """
        placed: dict[str, str] = {}
        unplaced: set[str] = set()
        wanted: dict[str, datetime] = {}
        trust_absence = self.complete and not search_unrecorded
        for key in keys:
            current = self.entry(key)
            if current is None:
                if trust_absence:
                    unplaced.add(key)
                else:
                    wanted[key] = since
            elif current.get("id"):
                placed[key] = str(current["id"])
            elif current.get("sent") is False:
                unplaced.add(key)
            else:
                wanted[key] = parse_created_at(current.get("at")) or since
        if not wanted:
            return Resolution(placed, frozenset(unplaced))
        if self.search_limit == 0:
            reason = "reattach_search_limit=0 turns the search off"
            return Resolution(placed, frozenset(unplaced), frozenset(wanted), reason)
        opens = min(wanted.values())
        try:
            found = search_placed_calls(
                self.hook,
                agent_id=self.agent_id,
                keys=wanted,
                since=opens,
                max_calls=self.search_limit,
                time_budget=self.time_budget,
            )
        except OneInboxError as exc:
            return Resolution(placed, frozenset(unplaced), frozenset(wanted), f"listing calls failed: {exc}")
        ids = {key: str(call.get("id")) for key, call in found.calls.items() if call.get("id")}
        if ids:
            self.record_calls(ids)
        placed.update(ids)
        rest = frozenset(wanted) - ids.keys()
        self.log.info(
            "Searched agent %s's %d calls since %s for %d keys: %d found%s.",
            self.agent_id,
            found.examined,
            opens.isoformat(),
            len(wanted),
            len(ids),
            "" if found.conclusive else f", the rest not ruled out ({found.reason})",
        )
        if found.conclusive:
            return Resolution(placed, frozenset(unplaced | rest), examined=found.examined)
        return Resolution(placed, frozenset(unplaced), rest, found.reason, found.examined)
