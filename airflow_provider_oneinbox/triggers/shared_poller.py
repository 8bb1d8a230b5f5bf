"""
One list request for many waits: a per-process poller that watches all of an agent's calls.

When many :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger` in one
triggerer wait for calls of the same agent, polling each call costs one ``GET /v1/calls/{id}``
per call per interval. :class:`AgentCallPoller` instead reads the agent's calls through
``GET /v1/calls/cursor?agent_id=`` (newest first) once per interval and hands each waiting
trigger the record of its call. The list only ever wakes triggers early; it never decides
alone that a wait failed. A trigger falls back to its own ``GET`` whenever the list cannot
answer for its call: fewer than :data:`MIN_SHARED_CALLS` calls are waited for, the call was not
on the pages read, or it has ended and the list has not shown that it carries post-call data.
A late or failed round (the API is slow, or a 429 is being waited out) is waited for, never
raced with a GET per call, and counts against no wait's error budget; if the API refuses the
list for good, or it fails :data:`MAX_LIST_FAILURES` rounds in a row, the poller steps aside
and its triggers poll per call.

The poller keeps nothing that must survive a restart: a restarted trigger joins the poller of
its new process (starting one if it is the first), or polls alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks.responses import next_cursor
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings
from airflow_provider_oneinbox.rules.results import analysis_of, normalize_messages, post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus
from airflow_provider_oneinbox.rules.watch import error_backoff

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

#: Fewest distinct calls of one agent for which one list page is worth more than a GET each.
MIN_SHARED_CALLS = 4
#: Largest page the API serves.
MAX_PAGE_SIZE = 100
#: Failed list rounds in a row (transient errors) after which the poller steps aside. A round's
#: requests are not retried by the hook (the poller owns the backoff between rounds), so this
#: counts single failed requests: at a 10 s interval, about 150 s of failures (10 + 20 + 40 + 80).
MAX_LIST_FAILURES = 5
#: The smallest page a poll round asks for: a round asks for twice as many calls as are waited
#: for, at least this many, at most :data:`MAX_PAGE_SIZE` (not the API's minimum ``limit``, which is 1).
MIN_ROUND_PAGE_SIZE = 10

log = logging.getLogger(__name__)


class SightingKind(Enum):
    """What the poller learnt about one call in one round."""

    SEEN = "seen"  #: the call's listed record (see :meth:`AgentCallPoller.vouches_for`)
    UNSEEN = "unseen"  #: not on the pages read, or too few calls to list: read it yourself
    FALLBACK = "fallback"  #: the list cannot serve this agent: poll per call from now on


@dataclass(frozen=True, slots=True)
class Sighting:
    """
    One round's news of one call.

    :param kind: What happened.
    :param call: The call's record (``SEEN`` only); running calls are cut to ``id`` and ``status``.
    """

    kind: SightingKind
    call: dict[str, Any] | None = None


UNSEEN = Sighting(SightingKind.UNSEEN)
FALLBACK = Sighting(SightingKind.FALLBACK)


class Seat:
    """
    One trigger's place at a poller: where its sightings arrive.

    :param poller: The poller it sits at.
    :param call_id: The call the trigger waits for.
    :param notify: Set on every delivery (a trigger watching many calls waits on one event).
    """

    __slots__ = ("_latest", "_waiter", "call_id", "notify", "poller")

    def __init__(self, poller: AgentCallPoller, call_id: str, notify: asyncio.Event | None = None) -> None:
        self.poller = poller
        self.call_id = call_id
        self.notify = notify
        self._latest: Sighting | None = None
        self._waiter: asyncio.Future[Sighting] | None = None

    def deliver(self, sighting: Sighting) -> None:
        """
        Hand over a sighting; the newest one replaces any the trigger has not taken yet.

        :param sighting: The news.
        """
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(sighting)
        else:
            self._latest = sighting
        if self.notify is not None:
            self.notify.set()

    def discard(self) -> None:
        """Drop a sighting not taken yet (it is older than a read the trigger just made)."""
        self._latest = None

    def take(self) -> Sighting | None:
        """The sighting not taken yet, if any, without waiting."""
        sighting, self._latest = self._latest, None
        return sighting

    async def next(self, timeout: float) -> Sighting | None:
        """
        The next sighting, or ``None`` if none came within ``timeout`` seconds.

        :param timeout: How long to wait for the poller.
        """
        if self._latest is not None:
            sighting, self._latest = self._latest, None
            return sighting
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with _compat.timeout(max(timeout, 0.0)):
                return await self._waiter
        except _compat.TIMEOUT_ERRORS:
            return None
        finally:
            self._waiter = None


_Key = tuple[OneInboxSettings, str, float]
_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, AgentCallPoller]] = (
    weakref.WeakKeyDictionary()
)


class AgentCallPoller:
    """
    Reads one agent's calls once per interval and delivers each waiting trigger its call's record.

    One per event loop, connection settings, agent and poll interval; created by the first
    :func:`watching` block and stopped when the last one ends. Rounds start every
    ``poll_interval`` (at once if the previous one ran over). A round reads pages of
    ``GET /v1/calls/cursor?agent_id=`` until every waited-for call was seen, the list ends, or
    ``2 * ceil(calls / page size) + 1`` pages were read; calls not seen are told to poll
    themselves. After a transient list failure (429, 5xx, transport) the waits hear nothing
    and the next round backs off (honouring ``Retry-After``); a permanent one (e.g. the
    endpoint or filter refused), or :data:`MAX_LIST_FAILURES` in a row, switches every trigger
    to per-call polling for the poller's life.

    :param conn_id: The OneInbox connection the poller's own hook reads.
    :param agent_id: The agent whose calls it lists.
    :param poll_interval: Seconds between two rounds.
    :param key: Its key in the per-loop registry.
    """

    def __init__(self, conn_id: str, agent_id: str, poll_interval: float, key: _Key) -> None:
        self.conn_id = conn_id
        self.agent_id = agent_id
        self.poll_interval = poll_interval
        self.seats: dict[Seat, None] = {}
        self.broken = False
        #: Whether some ended call was listed with its messages and a filled analysis: then an
        #: ended call listed without them has not got them yet, rather than the list leaving them out.
        self.lists_post_call_data = False
        self._key = key
        self._errors = 0
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(conn_id={self.conn_id!r}, agent_id={self.agent_id!r}, "
            f"poll_interval={self.poll_interval:g}, waiting={len(self.seats)})"
        )

    @property
    def answering(self) -> bool:
        """
        Whether a sighting will still come: rounds are running (a late one is busy retrying).

        Every request of a round is bounded by the connection's timeout (it is not retried).
        """
        return not self.broken and self._task is not None and not self._task.done()

    def join(self, call_id: str, notify: asyncio.Event | None = None) -> Seat:
        """
        Seat a trigger waiting for ``call_id``; the first one starts the rounds.

        :param call_id: The call it waits for.
        :param notify: Set on every delivery to the seat (see :class:`Seat`).
        """
        seat = Seat(self, call_id, notify)
        self.seats[seat] = None
        if self.broken:
            seat.deliver(FALLBACK)
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"OneInbox shared poller for agent {self.agent_id}"
            )
        return seat

    def leave(self, seat: Seat) -> None:
        """
        Unseat a trigger; the last one stops the rounds and retires the poller.

        :param seat: What :meth:`join` returned.
        """
        self.seats.pop(seat, None)
        if self.seats:
            return
        pollers = _POLLERS.get(asyncio.get_running_loop(), {})
        if pollers.get(self._key) is self:
            del pollers[self._key]
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        try:
            # Retries off, as for the waits (same settings, so the same pooled session).
            async with OneInboxAsyncHook(oneinbox_conn_id=self.conn_id, max_retries=0) as hook:
                next_round = time.monotonic() + self.poll_interval
                while self.seats:
                    await asyncio.sleep(max(next_round - time.monotonic(), 0.0))
                    delay = await self._round(hook)
                    if self.broken:
                        return
                    # Rounds keep their rhythm; a backoff counts from the failure.
                    next_round = (
                        time.monotonic() + delay
                        if self._errors
                        else max(next_round + delay, time.monotonic())
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # E.g. the connection cannot be read: the triggers can still report that themselves.
            log.warning("%r stopped (%s); its triggers poll per call.", self, exc)
            self._step_aside()

    async def _round(self, hook: OneInboxAsyncHook) -> float:
        """Read the list once and deliver; return the seconds until the next round."""
        watched: dict[str, list[Seat]] = {}
        for seat in list(self.seats):
            watched.setdefault(seat.call_id, []).append(seat)
        if len(watched) < MIN_SHARED_CALLS:
            _deliver_all(watched, UNSEEN)
            return self.poll_interval
        try:
            await self._scan(hook, watched)
        except OneInboxError as exc:
            self._errors += 1
            if not exc.transient or self._errors >= MAX_LIST_FAILURES:
                log.warning(
                    "Listing the calls of agent %s failed (%s, %d in a row); its %d waits poll per call.",
                    self.agent_id,
                    exc,
                    self._errors,
                    len(self.seats),
                )
                self._step_aside()
                return 0.0
            # The waits hear nothing and keep waiting: none of them races the backoff with a GET.
            return error_backoff(self.poll_interval, self._errors, exc)
        self._errors = 0
        _deliver_all(watched, UNSEEN)
        return self.poll_interval

    async def _scan(self, hook: OneInboxAsyncHook, watched: dict[str, list[Seat]]) -> None:
        """Page through the agent's calls, delivering (and removing from ``watched``) each one seen."""
        page_size = min(MAX_PAGE_SIZE, max(2 * len(watched), MIN_ROUND_PAGE_SIZE))
        cursor: str | None = None
        for _ in range(2 * math.ceil(len(watched) / page_size) + 1):
            page = await hook.list_calls_cursor(agent_id=self.agent_id, limit=page_size, cursor=cursor)
            items = [
                i for i in page.get("items") or () if isinstance(i, dict) and isinstance(i.get("id"), str)
            ]
            self.lists_post_call_data = self.lists_post_call_data or any(map(_carries_post_call_data, items))
            for item in items:
                seats = watched.pop(item["id"], None)
                if seats:
                    _deliver_all({item["id"]: seats}, self._sighting(item))
            cursor = next_cursor(page)
            if not watched or cursor is None:
                return

    def vouches_for(self, call: dict[str, Any]) -> bool:
        """
        Whether a listed record can stand for the call's own: always while the call runs; once it
        has ended, only if the list has shown that it carries post-call data (some ended call was
        listed with messages and analysis), so that a missing analysis means "not yet".

        :param call: The listed record.
        """
        return self.lists_post_call_data or not OneInboxCallStatus.is_terminal(call.get("status"))

    @staticmethod
    def _sighting(item: dict[str, Any]) -> Sighting:
        """What to tell the wait of a listed call: its status while it runs, its record once ended."""
        status = item.get("status")
        if OneInboxCallStatus.is_terminal(status):
            return Sighting(SightingKind.SEEN, call=item)
        return Sighting(SightingKind.SEEN, call={"id": item["id"], "status": status})

    def _step_aside(self) -> None:
        self.broken = True
        for seat in list(self.seats):
            seat.deliver(FALLBACK)


def _carries_post_call_data(item: dict[str, Any]) -> bool:
    """Whether a listed ended call shows both messages and a filled analysis: the list carries them."""
    return (
        post_call_data_ready(item)
        and bool(normalize_messages(item.get("messages")))
        and bool(analysis_of(item))
    )


def _deliver_all(watched: dict[str, list[Seat]], sighting: Sighting) -> None:
    for seats in watched.values():
        for seat in seats:
            seat.deliver(sighting)


@contextlib.contextmanager
def watching(settings: OneInboxSettings, agent_id: str, poll_interval: float, call_id: str) -> Iterator[Seat]:
    """
    Take a seat at this loop's poller for the agent (starting one if needed) for the block.

    :param settings: The connection settings (pollers never mix connections).
    :param agent_id: The agent the call belongs to.
    :param poll_interval: Seconds between two polls (pollers never mix intervals).
    :param call_id: The call to wait for.
    """
    key: _Key = (settings, agent_id, poll_interval)
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = AgentCallPoller(settings.conn_id, agent_id, poll_interval, key)
    seat = poller.join(call_id)
    try:
        yield seat
    finally:
        poller.leave(seat)


class Flock:
    """
    One trigger's seats for many calls of one agent (a campaign's live calls), woken together.

    :param poller: The poller the seats are at.
    :param seats: One seat per call id.
    :param arrived: Set whenever any seat gets a sighting.
    """

    def __init__(self, poller: AgentCallPoller, seats: dict[str, Seat], arrived: asyncio.Event) -> None:
        self.poller = poller
        self.seats = seats
        self._arrived = arrived

    async def next(self, timeout: float) -> dict[str, Sighting]:
        """
        The sightings delivered since the last call, by call id; waits up to ``timeout`` seconds
        for the first one (an empty dict if none came).

        :param timeout: How long to wait for the poller.
        """
        if not self._arrived.is_set():
            with contextlib.suppress(*_compat.TIMEOUT_ERRORS):
                async with _compat.timeout(max(timeout, 0.0)):
                    await self._arrived.wait()
        self._arrived.clear()
        taken = {call_id: seat.take() for call_id, seat in self.seats.items()}
        return {call_id: sighting for call_id, sighting in taken.items() if sighting is not None}


@contextlib.contextmanager
def watching_calls(
    settings: OneInboxSettings, agent_id: str, poll_interval: float, call_ids: list[str]
) -> Iterator[Flock]:
    """
    Seat every call of ``call_ids`` at this loop's poller for the agent, for the block.

    The calls count at the poller as the same number of single waits would: one list walk per
    round answers for them and for every other wait of the agent.

    :param settings: The connection settings (pollers never mix connections).
    :param agent_id: The agent the calls belong to.
    :param poll_interval: Seconds between two polls (pollers never mix intervals).
    :param call_ids: The calls to wait for (duplicates are watched once); at least one.
    """
    if not call_ids:
        raise ValueError("watching_calls needs at least one call id")
    key: _Key = (settings, agent_id, poll_interval)
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = AgentCallPoller(settings.conn_id, agent_id, poll_interval, key)
    arrived = asyncio.Event()
    seats: dict[str, Seat] = {}
    try:
        for call_id in dict.fromkeys(call_ids):
            seats[call_id] = poller.join(call_id, arrived)
        yield Flock(poller, seats, arrived)
    finally:
        for seat in seats.values():
            poller.leave(seat)


def active_pollers() -> list[AgentCallPoller]:
    """The pollers of the running loop (for tests and benchmarks)."""
    return list(_POLLERS.get(asyncio.get_running_loop(), {}).values())


def __getattr__(name: str) -> Any:
    if name == "MIN_PAGE_SIZE":  # its old name, which read like the API's minimum page size
        import warnings

        warnings.warn("MIN_PAGE_SIZE is now MIN_ROUND_PAGE_SIZE.", DeprecationWarning, stacklevel=2)
        return MIN_ROUND_PAGE_SIZE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
