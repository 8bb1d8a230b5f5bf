"""
The campaign loop, worker side: place what pacing, hours and quota allow; poll live calls by list.

Design: ``docs/campaigns.md``. :class:`CampaignRunner` holds one campaign's state and knows
nothing of deferral: the operator calls :meth:`CampaignRunner.round` and sleeps or defers (after
:meth:`CampaignRunner.save_progress`) until :meth:`CampaignRunner.next_wake`. ``POST /v1/calls`` is
only sent from :meth:`_place`, after :meth:`CampaignLedger.begin` recorded the attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaigns.results import COMPLETED, UNKNOWN
from airflow_provider_oneinbox.campaigns.state import (
    ENDED,
    ContactState,
    contact_result,
    ended_on_our_clock,
    progress_of,
    results_in_order,
)
from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxQuotaExceededError,
    OneInboxRateLimitError,
)
from airflow_provider_oneinbox.placed_calls import IDEMPOTENCY_METADATA_KEY, parse_created_at

if TYPE_CHECKING:
    from airflow_provider_oneinbox.campaign_ledger import CampaignLedger
    from airflow_provider_oneinbox.campaigns.contacts import ContactBook
    from airflow_provider_oneinbox.campaigns.hours import CallingHours
    from airflow_provider_oneinbox.campaigns.pacing import Pacing
    from airflow_provider_oneinbox.campaigns.progress import CampaignProgress
    from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
    from airflow_provider_oneinbox.campaigns.results import ContactResult
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

__all__ = ["QUOTA_CODE", "CampaignRunner", "ContactState"]  # ContactState: re-exported from .state

QUOTA_CODE = "DAILY_CALL_LIMIT_REACHED"
#: Longest pause after creates refused in a row without a ``Retry-After``, in seconds.
REFUSAL_BACKOFF_CAP = 60.0
#: Calls read at most per poll of the live calls.
MAX_POLL_CALLS = 10_000
#: How long an ended call's outcome is awaited (seen by our clock) before it is settled without one.
ANALYSIS_GRACE = timedelta(seconds=60)
#: Full polls that miss a live call before it is given up as unknown (the list may lag a create).
MAX_MISSES = 3


class CampaignRunner:
    """
    One campaign's loop state and steps. The caller supplies the clock (``now``), hooks and ledger.

    :param book: The checked contacts.
    :param ids: ``(dag_id, run_id, task_id, map_index)`` of the task instance (idempotency keys).
    :param request: ``agent_id``, ``from_number`` and optional ``webhook_url``/``overrides``.
    :param hook: Reads (list, usage, stop) with the connection's retries.
    :param create_hook: Creates only, ``max_retries=0``: the campaign owns 429s.
    :param ledger: The loaded campaign ledger.
    :param pacing: Concurrency and spacing.
    :param redial: The redial policy.
    :param hours: Calling hours, or ``None`` for any time.
    :param deadline: When waiting ends, or ``None``.
    :param since: When the campaign's run started (walks look back to it).
    :param log: A logger.
    """

    def __init__(
        self,
        book: ContactBook,
        ids: tuple[str, str, str, int],
        request: dict[str, Any],
        hook: OneInboxHook,
        create_hook: OneInboxHook,
        ledger: CampaignLedger,
        pacing: Pacing,
        redial: RedialPolicy,
        hours: CallingHours | None,
        deadline: datetime | None,
        since: datetime,
        log: Any,
    ) -> None:
        self.book, self.ids, self.request = book, ids, request
        self.hook, self.create_hook, self.ledger = hook, create_hook, ledger
        self.pacing, self.redial, self.hours, self.deadline = pacing, redial, hours, deadline
        self.since, self.log = since, log
        self.states = [ContactState(contact, position) for position, contact in enumerate(book.contacts)]
        #: Live calls by id (the states whose ``live`` is set).
        self.live_calls: dict[str, ContactState] = {}
        self.last_start: datetime | None = None
        self.blocked_until: datetime | None = None
        #: Creates refused (429) in a row; a placed call resets it.
        self.refusals = 0
        self.quota_paused = False
        self.zones: dict[int, Any] = {}
        #: How long an ended call's outcome is awaited before it is settled without one.
        self.analysis_grace = ANALYSIS_GRACE
        #: Calls the campaign trigger saw ended and waited for: settled without waiting again.
        self.settle_now: set[str] = set()
        #: Polls of the live calls at most this often (``None``: every round).
        self.poll_every: timedelta | None = None
        self.last_poll: datetime | None = None
        #: When (our clock) a call was last seen ended: a deferral waits for a quiet spell.
        self.last_end: datetime | None = None
        #: The saved progress (Airflow 3.3's task state store), or ``None``.
        self.saved_progress: CampaignProgress | None = None
        #: The unsettled contacts' entries as last saved or loaded, by position.
        self.saved_entries: dict[int, dict[str, Any]] = {}

    # Keys and the ledger

    def key(self, state: ContactState, attempt: int) -> str:
        """The idempotency key of ``state``'s ``attempt``-th call."""
        return state.contact.idempotency_key(*self.ids, attempt)

    def rebuild(
        self,
        *,
        search_unrecorded: bool,
        slack: timedelta,
        progress: CampaignProgress | None = None,
        earlier_until: datetime | None = None,
    ) -> None:
        """
        Restore the contacts' attempts and ids after a retry or a resume.

        With ``progress`` read whole and no retry (``search_unrecorded`` false), its saved entries
        are the state: settled contacts are only marked, unsettled ones restored, and the ledger is
        not consulted (``1 + active pages`` store reads). Otherwise every unsettled contact's keys
        are resolved by the ledger (and its walk), and its placed calls polled as live.

        :param search_unrecorded: Whether keys without an entry may have been placed (a retry, 3.1).
        :param slack: The create request's timeout (pacing from the latest recorded attempt).
        :param progress: The loaded saved progress, or ``None``.
        :param earlier_until: Without a task state store, when an earlier process may last have sent a
            create (``campaigns.inflight.earlier_process_until``): the walk waits ``slack`` past it.
        """
        from airflow_provider_oneinbox.campaigns.inflight import wait_for_inflight_creates
        from airflow_provider_oneinbox.campaigns.pacing import latest_start
        from airflow_provider_oneinbox.campaigns.resume import restore_saved

        if restore_saved(self, progress, search_unrecorded=search_unrecorded, slack=slack):
            return
        if self.ledger.store is None:  # 3.1: a create in flight when a worker died is not listed yet
            wait_for_inflight_creates(earlier_until, slack, log=self.log)
        attempts = range(1, self.redial.max_attempts + 1)
        keys = {self.key(s, n): (s, n) for s in self.states if not s.saved for n in attempts}
        found = self.ledger.resolve(keys, since=self.since, search_unrecorded=search_unrecorded)
        for key, call_id in sorted(found.placed.items(), key=lambda item: keys[item[0]][1]):
            state, attempt = keys[key]
            state.attempts = max(state.attempts, attempt)
            state.call_ids.append(call_id)
            state.began = parse_created_at((self.ledger.entry(key) or {}).get("at"))
            self._set_live(state, call_id)  # until a poll reads it ended
        for key in found.unknown:
            state, attempt = keys[key]
            state.attempts = max(state.attempts, attempt)
            state.final = self._result(state, UNKNOWN, f"call may have been placed: {found.reason}")
        self.last_start = latest_start([s.began for s in self.states if s.began is not None], slack=slack)

    def _set_live(self, state: ContactState, call_id: str | None) -> None:
        if state.live is not None:
            self.live_calls.pop(state.live, None)
        state.live = call_id
        if call_id is not None:
            self.live_calls[call_id] = state

    def save_progress(self) -> bool:
        """Save what changed since the last save or load (before a deferral); whether all was saved."""
        from airflow_provider_oneinbox.campaigns.resume import save_progress

        return save_progress(self)

    # One round

    def live_count(self) -> int:
        """Calls placed and not seen ended."""
        return len(self.live_calls)

    def round(self, now: datetime) -> int:
        """
        Read the live calls, settle ended ones, then place what may be placed now.

        :param now: The current time, aware.
        :return: Calls placed in this round.
        """
        if self.poll_every is None or self.last_poll is None or now - self.last_poll >= self.poll_every:
            self.poll(now)
            self.last_poll = now
        if self.deadline is not None and now >= self.deadline:
            for state in self.states:  # even while a 429 pauses dialling: the deadline ends waiting
                if not state.settled and state.live is None:
                    self._finish_at_deadline(state)
            return 0
        if self.blocked_until is not None and now < self.blocked_until:
            return 0
        self.blocked_until = None
        self.quota_paused = False
        placed = 0
        for state in self._ready(now):
            decision = self.pacing.next_start(now, self.live_count(), self.last_start)
            if not decision.start_now:
                break
            if not self._place(state, now):
                break
            placed += 1
        return placed

    def _ready(self, now: datetime) -> Iterator[ContactState]:
        from airflow_provider_oneinbox.campaigns.hours import is_open, next_opening

        for state in self.states:
            if state.settled or state.live is not None:
                continue
            if state.due is not None and now < state.due:
                continue
            if self.deadline is not None and now >= self.deadline:
                self._finish_at_deadline(state)
                continue
            zones = self._zones(state)
            if self.hours is not None and not is_open(self.hours, zones, now):
                horizon = (self.deadline - now) if self.deadline else timedelta(days=7)
                opening = next_opening(self.hours, zones, now, horizon=horizon)
                if opening is None:
                    state.final = self._result(state, None, "outside calling hours until the deadline")
                else:
                    state.due, state.waiting_hours = opening, True
                continue
            state.waiting_hours = False
            yield state

    def _zones(self, state: ContactState) -> Any:
        from airflow_provider_oneinbox.campaigns.hours import zones_for

        index = state.contact.index
        if index not in self.zones:
            self.zones[index] = zones_for(state.contact.to_number, state.contact.timezone)
        return self.zones[index]

    def _finish_at_deadline(self, state: ContactState) -> None:
        if self.quota_paused:
            reason = "daily quota"
        elif state.waiting_hours:
            reason = "outside calling hours until the deadline"
        else:
            reason = "deadline: redial not placed" if state.attempts else "deadline"
        state.final = self._result(state, None, reason)

    def _place(self, state: ContactState, now: datetime) -> bool:
        """Place ``state``'s next attempt; ``False`` when dialling must pause (a 429)."""
        from airflow_provider_oneinbox.ledger import may_have_placed

        attempt = state.attempts + 1
        key = self.key(state, attempt)
        if not self.ledger.begin([key], now):
            raise OneInboxError("could not record the attempt in the task state store; not dialling")
        self.last_start = now
        contact = state.contact
        metadata = {**contact.metadata, "airflow_dag_id": self.ids[0], "airflow_run_id": self.ids[1]}
        metadata[IDEMPOTENCY_METADATA_KEY] = key
        try:
            call = self.create_hook.create_call(
                to_number=contact.to_number,
                variables=contact.variables or None,
                metadata=metadata,
                idempotency_key=key,
                **self.request,
            )
        except OneInboxRateLimitError as exc:
            self.ledger.mark_not_sent([key])
            self._pause(exc, now)
            return False
        except OneInboxError as exc:
            if not may_have_placed(exc):
                self.ledger.mark_not_sent([key])
                state.final = self._result(state, None, f"not placed: {exc}")
                return True
            found = self._recover(key, str(exc))
            if found is None:
                state.attempts, state.began = attempt, now
                state.final = self._result(state, UNKNOWN, f"call may have been placed: {exc}")
                return True
            call = found
        self.ledger.record_calls({key: str(call["id"])})
        self.refusals = 0
        state.attempts, state.due, state.began = attempt, None, now
        state.status, state.outcome, state.summary = call.get("status"), None, None
        self._set_live(state, str(call["id"]))
        state.seen_ended = None  # the grace for the outcome is per call, not per contact
        state.call_ids.append(str(call["id"]))
        return True

    def _recover(self, key: str, failure: str) -> dict[str, Any] | None:
        found = self.ledger.resolve([key], since=self.since, search_unrecorded=True)
        call_id = found.placed.get(key)
        self.log.warning(
            "A create may have placed its call (%s): %s.", failure, "found" if call_id else "not found"
        )
        return None if call_id is None else {"id": call_id}

    def _pause(self, exc: OneInboxRateLimitError, now: datetime) -> None:
        from airflow_provider_oneinbox.rules.backoff import backoff_delay

        self.refusals += 1
        if isinstance(exc, OneInboxQuotaExceededError):
            self.quota_paused = True
            self.blocked_until = max(exc.resets_at, now)
        else:
            # Refusals in a row without a Retry-After back off, rather than knock every second.
            wait = backoff_delay(
                self.refusals, base=1.0, cap=REFUSAL_BACKOFF_CAP, retry_after=exc.retry_after
            )
            self.blocked_until = now + timedelta(seconds=wait)
        self.log.warning("Create refused (%s); no call before %s.", exc.code, self.blocked_until.isoformat())

    # Reading live calls

    def poll(self, now: datetime) -> None:
        """Read the agent's calls (newest first) until every live call is seen; settle ended ones."""
        wanted = dict(self.live_calls)
        if not wanted:
            return
        calls = self.hook.iter_calls(agent_id=self.request["agent_id"], max_items=MAX_POLL_CALLS)
        for call in calls:
            state = wanted.pop(str(call.get("id")), None)
            if state is not None:
                state.misses = 0
                self._settle(state, call, now)
            if not wanted:
                return
        for state in wanted.values():
            state.misses += 1
            if state.misses >= MAX_MISSES:
                self.log.warning("Call %s is not in the agent's list; giving it up as unknown.", state.live)
                self._set_live(state, None)
                state.final = self._result(state, UNKNOWN, "call not found in the agent's calls")

    def _settle(self, state: ContactState, call: dict[str, Any], now: datetime) -> None:
        from airflow_provider_oneinbox.rules.results import post_call_data_ready

        state.read(call)
        status = call.get("status")
        if status not in ENDED:
            return
        state.seen_ended = state.seen_ended or now
        self.last_end = now
        if (
            status == COMPLETED
            and not post_call_data_ready(call)
            and now - state.seen_ended < self.analysis_grace
            and state.live not in self.settle_now
        ):
            return  # the outcome (what a redial depends on) arrives after the end
        self._set_live(state, None)
        outcome = (call.get("analysis") or {}).get("outcome")
        ended_at = ended_on_our_clock(state.began, call, now)
        due = self.redial.next_attempt_at(state.attempts, str(status), outcome, ended_at)
        if due is None:
            state.final = self._result(state, str(status), None)
        else:
            state.due = due

    # Progress and results

    def done(self) -> bool:
        """Whether every contact is final."""
        return all(s.settled for s in self.states)

    def next_wake(self, now: datetime, poll_every: timedelta | None) -> datetime:
        """
        When something may next change, calls ending aside unless ``poll_every`` is given.

        :param now: The current time.
        :param poll_every: The worker's poll period (``None``: the trigger watches the calls instead;
            with nothing else pending the answer is ``datetime.max``).
        """
        live = self.live_count()
        waiting = [s for s in self.states if not s.settled and s.live is None]
        ready = any(s.due is None or s.due <= now for s in waiting)
        blocked = self.blocked_until is not None and now < self.blocked_until
        if ready and not blocked and self.pacing.next_start(now, live, self.last_start).start_now:
            # A round now would start a call: the pacing slot passed while the round was still
            # placing its call. Waiting for a call to end instead leaves the free slots empty.
            return now
        candidates = [s.due for s in waiting if s.due]
        if live and poll_every is not None:
            candidates.append(now + poll_every)
        if self.blocked_until is not None:
            candidates.append(self.blocked_until)
        elif self.last_start is not None and ready:
            candidates.append(self.last_start + self.pacing.spacing)
        if self.deadline is not None:
            candidates.append(self.deadline)
        fallback = datetime.max.replace(tzinfo=UTC) if poll_every is None else now + poll_every
        if not live and any(c is not None and c <= now for c in candidates):
            # Nothing live can end to wake the campaign: a time already past (a short Retry-After
            # that ran out during the round) means the next round is due now.
            return now
        # A time already past with every slot taken means "as soon as a call ends": not now.
        return min((c for c in candidates if c is not None and c > now), default=fallback)

    def stop_all(self, reason: str = "stopped") -> int:
        """Hang up every live call of the campaign; mark unfinished contacts; return how many were hung up."""
        stopped = 0
        for state in list(self.live_calls.values()):
            try:
                self.hook.stop_call(str(state.live))
                stopped += 1
            except OneInboxError as exc:
                self.log.warning("Could not hang up call %s: %s", state.live, exc)
        for state in self.states:
            if not state.settled:
                state.final = self._result(state, None, reason)
        return stopped

    def _result(self, state: ContactState, status: str | None, reason: str | None) -> ContactResult:
        return contact_result(state, status, reason)

    def results(self) -> Iterator[ContactResult]:
        """Every row, invalid contacts included, in input order."""
        saved = self.saved_progress.settled() if self.saved_progress is not None else ()
        return results_in_order(self.states, self.book.rejected, saved)

    def progress(self) -> str:
        """The task log's progress line."""
        earlier = self.saved_progress.outcomes if self.saved_progress is not None else None
        placed = self.saved_progress.placed if self.saved_progress is not None else 0
        return progress_of(
            self.states, quota_paused=self.quota_paused, earlier=earlier, earlier_placed=placed
        )
