"""
The rules of :class:`~airflow_provider_oneinbox.triggers.call_events.OneInboxCallEventTrigger`
(standard library only): which listed calls a watch keeps, when a kept call fires, the event it
fires, and the cursor that remembers which calls are done.

A watch reads an agent's calls newest first (``GET /v1/calls/cursor``), round after round.
:class:`CallCursor` is one agent's memory: a **floor** (every call created before it is settled)
and the ids settled at or above it. :meth:`CallCursor.observe` is fed each round and says which
calls fire; :meth:`CallCursor.snapshot` is what may be stored durably. The **commit rule**: a
fired call counts as settled in a snapshot only ``commit_delay`` seconds after its event was
yielded (:meth:`CallCursor.yielded`), and the floor never passes a call that is not settled, so
replaying any snapshot fires every call whose event may not have been stored yet, and no other.

The filters, the verdict on one call and the event payload are in
:mod:`~airflow_provider_oneinbox.rules.call_filter` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_oneinbox.rules.call_filter import (
    DIRECTIONS,
    READINESS,
    Verdict,
    WatchFilter,
    classify,
    cursor_key,
    direction_of,
    event_payload,
    parse_time,
)
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

__all__ = [
    "CREATED_AT_MARGIN",
    "DIRECTIONS",
    "READINESS",
    "CallCursor",
    "Verdict",
    "WatchFilter",
    "classify",
    "cursor_key",
    "direction_of",
    "dump_cursors",
    "event_payload",
    "load_cursors",
    "merge_cursors",
    "parse_time",
]

#: Version of the stored cursor; a snapshot of another version is ignored (a first start).
CURSOR_VERSION = 1
#: Calls may be listed slightly out of creation order, or appear a little after their
#: ``created_at``: a walk goes this many seconds below the floor, and the floor stays this far
#: below the newest call seen.
CREATED_AT_MARGIN = 120.0
#: On a first start, calls created up to this long before the start (minus ``start_lookback``)
#: are read, so that calls already running then still fire when they end.
FIRST_START_DEPTH = 3600.0
#: A call still not final this long after its creation stops holding the floor back (it is
#: settled silently): an undocumented status that never ends must not make every walk deeper.
STALE_OPEN_SECONDS = 6 * 3600.0
#: Most settled ids one agent's cursor keeps; past it the floor rises over the oldest ones.
MAX_SETTLED_IDS = 5000
#: Most calls one agent's cursor tracks as still open; past it only the oldest are kept (they
#: hold the floor down, so the newer ones, still above it, are read again by every walk).
MAX_OPEN_IDS = 10_000
#: Longest id kept; a longer one is not a OneInbox id and is ignored.
MAX_ID_CHARS = 200
DEFAULT_COMMIT_DELAY = 3.0


@dataclass
class _Fired:
    created: float
    yielded_at: float | None = None


class CallCursor:
    """
    One agent's memory for one watch: floor, settled ids, and (in memory) calls still open or
    fired but not committed.

    :param floor: Every call created before it (epoch seconds) is settled.
    :param cutoff: Calls that ended before it never fire (the watch's first start, minus
        ``start_lookback``).
    :param settled: Settled ids at or above the floor, with their creation times.
    :param commit_delay: Seconds after its event was yielded before a fired call is committed.
    """

    def __init__(
        self,
        floor: float,
        cutoff: float,
        settled: Mapping[str, float] | None = None,
        commit_delay: float = DEFAULT_COMMIT_DELAY,
    ) -> None:
        self.floor = float(floor)
        self.cutoff = float(cutoff)
        self.settled: dict[str, float] = dict(settled or {})
        self.commit_delay = commit_delay
        self.open: dict[str, float] = {}
        self.fired: dict[str, _Fired] = {}
        self._seen_final: dict[str, float] = {}
        self._ceiling = self.floor
        #: Every call created from ``_low`` up to ``_top`` (the newest call read from the top of
        #: the list) was listed since this cursor began: the floor may rise once ``_low`` is
        #: below :attr:`depth`. Walks that ran out of pages are continued by later rounds.
        self._low = math.inf
        self._top: float | None = None
        self._top_at: float | None = None
        self.abandoned = 0

    @classmethod
    def first_start(
        cls, now: float, start_lookback: float = 0.0, commit_delay: float = DEFAULT_COMMIT_DELAY
    ) -> CallCursor:
        """
        A cursor for a watch with no stored state: calls ending at or after ``now - start_lookback`` fire.

        :param now: The watch's start (epoch seconds).
        :param start_lookback: Seconds before the start whose calls fire too.
        :param commit_delay: See the class.
        """
        cutoff = now - start_lookback
        return cls(cutoff - FIRST_START_DEPTH, cutoff, commit_delay=commit_delay)

    @property
    def caught_up(self) -> bool:
        """Whether the rounds seen so far listed every call down to :attr:`depth`."""
        return self._low <= self.depth

    @property
    def depth(self) -> float:
        """How far down (``created_at``) a walk must go for this cursor: the floor minus the margin."""
        return self.floor - CREATED_AT_MARGIN

    def observe(
        self,
        calls: Iterable[Mapping[str, Any]],
        watch: WatchFilter,
        now: float,
        *,
        reached: bool | None = None,
        covered: tuple[float, float] | None = None,
    ) -> list[tuple[dict[str, Any], bool]]:
        """
        Take one round of listed calls; return the calls to fire now, with their ``analysed`` flag.

        Each returned call is remembered as fired (never returned again by this cursor) and is
        committed once :meth:`yielded` was told and ``commit_delay`` passed.

        :param calls: The records listed this round (any order; duplicates are fine).
        :param watch: The watch's filters.
        :param now: The current time (epoch seconds).
        :param reached: Shorthand for ``covered``: ``True`` for a walk from the top of the list
            down to :attr:`depth` (or the list's end), ``False`` for one that stopped short of it
            (covering the calls it read).
        :param covered: ``(low, high)``: every call created in ``[low, high]`` was on the pages
            read. ``high`` is ``inf`` for a walk from the top of the list, else where the walk it
            continues stopped.
        """
        firing: list[tuple[dict[str, Any], bool]] = []
        newest: float | None = None
        oldest = math.inf
        for call in calls:
            call_id = call.get("id")
            if not isinstance(call_id, str) or not call_id or len(call_id) > MAX_ID_CHARS:
                continue
            created = parse_time(call.get("created_at"))
            created = now if created is None else created
            newest = created if newest is None else max(newest, created)
            oldest = min(oldest, created)
            if created < self.floor or call_id in self.settled or call_id in self.fired:
                continue
            verdict, analysed = self._verdict(call_id, call, watch, now)
            if verdict is Verdict.OPEN and now - created > STALE_OPEN_SECONDS:
                verdict = Verdict.SETTLE
                self.abandoned += 1
            if verdict is Verdict.OPEN:
                self.open[call_id] = created
                continue
            self.open.pop(call_id, None)
            self._seen_final.pop(call_id, None)
            if verdict is Verdict.FIRE:
                self.fired[call_id] = _Fired(created)
                firing.append((dict(call), analysed))
            else:
                self.settled[call_id] = created
        if covered is None:
            covered = (-math.inf if reached else oldest, math.inf)
        self._cover(covered, newest, now)
        if self.caught_up:
            top = self._top if self._top is not None else now
            self._ceiling = max(self._ceiling, top - CREATED_AT_MARGIN)
        self._raise_floor()
        return firing

    def _cover(self, covered: tuple[float, float], newest: float | None, now: float) -> None:
        low, high = covered
        if high == math.inf:
            # Contiguous with what earlier walks from the top saw only if this walk went below
            # both their newest call and their time minus the margin (calls listed late).
            joins = self._top_at is not None and low <= min(
                self._top if self._top is not None else math.inf, self._top_at - CREATED_AT_MARGIN
            )
            self._low = min(self._low, low) if joins else low
            if newest is not None:
                self._top = newest if self._top is None else max(self._top, newest)
            self._top_at = now
        elif high >= self._low:
            self._low = min(self._low, low)

    def _verdict(
        self, call_id: str, call: Mapping[str, Any], watch: WatchFilter, now: float
    ) -> tuple[Verdict, bool]:
        ended = None
        if OneInboxCallStatus.is_terminal(call.get("status")) and call.get("ended_at") is None:
            ended = self._seen_final.setdefault(call_id, now)
        verdict, analysed = classify(call, watch, now, ended=ended)
        if verdict is Verdict.FIRE:
            ended_at = parse_time(call.get("ended_at"))
            when = ended_at if ended_at is not None else parse_time(call.get("created_at"))
            if when is not None and when < self.cutoff:
                return Verdict.SETTLE, analysed
        return verdict, analysed

    def yielded(self, call_id: str, at: float) -> None:
        """
        Record that a fired call's event was yielded at ``at`` (any clock, the one given to :meth:`commit`).

        :param call_id: The call.
        :param at: When its event was yielded.
        """
        fired = self.fired.get(call_id)
        if fired is not None and fired.yielded_at is None:
            fired.yielded_at = at

    def commit(self, at: float) -> bool:
        """
        Commit every fired call yielded ``commit_delay`` or more before ``at``; whether anything changed.

        :param at: Now, on the clock given to :meth:`yielded`.
        """
        done = [
            call_id
            for call_id, fired in self.fired.items()
            if fired.yielded_at is not None and at - fired.yielded_at >= self.commit_delay
        ]
        for call_id in done:
            self.settled[call_id] = self.fired.pop(call_id).created
        before = self.floor
        self._raise_floor()
        return bool(done) or self.floor != before

    def _raise_floor(self) -> None:
        holding = [self._ceiling, *self.open.values(), *(fired.created for fired in self.fired.values())]
        self.floor = max(self.floor, min(holding))
        if len(self.settled) > MAX_SETTLED_IDS:
            # Keep the newest ids; the floor rises to the oldest kept one (documented bound).
            kept = sorted(self.settled.values())[-MAX_SETTLED_IDS]
            self.floor = max(self.floor, kept)
        self.settled = {i: c for i, c in self.settled.items() if c >= self.floor}
        self.open = {i: c for i, c in self.open.items() if c >= self.floor}
        if len(self.open) > MAX_OPEN_IDS:
            self.open = dict(sorted(self.open.items(), key=lambda item: item[1])[:MAX_OPEN_IDS])
        self._seen_final = {i: t for i, t in self._seen_final.items() if i in self.open}

    def snapshot(self) -> dict[str, Any]:
        """What may be stored: the floor (never above an uncommitted call) and the committed ids."""
        floor = min([self.floor, *(fired.created for fired in self.fired.values())])
        return {"floor": floor, "cutoff": self.cutoff, "settled": dict(sorted(self.settled.items()))}

    @classmethod
    def restore(cls, data: Any, commit_delay: float = DEFAULT_COMMIT_DELAY) -> CallCursor | None:
        """
        A cursor from a :meth:`snapshot`, or ``None`` if ``data`` is not one.

        :param data: The stored value.
        :param commit_delay: See the class.
        """
        if not isinstance(data, Mapping):
            return None
        floor, cutoff, settled = data.get("floor"), data.get("cutoff"), data.get("settled")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (floor, cutoff)):
            return None
        if not isinstance(settled, Mapping):
            return None
        ids = {
            str(k): float(v)
            for k, v in settled.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and len(str(k)) <= MAX_ID_CHARS
        }
        return cls(float(floor), float(cutoff), ids, commit_delay)  # type: ignore[arg-type]


def dump_cursors(cursors: Mapping[str, CallCursor]) -> dict[str, Any]:
    """
    The stored form of a watch's cursors (one per agent), with its version.

    :param cursors: By agent id.
    """
    return {"version": CURSOR_VERSION, "agents": {a: c.snapshot() for a, c in sorted(cursors.items())}}


def load_cursors(data: Any, commit_delay: float = DEFAULT_COMMIT_DELAY) -> dict[str, CallCursor]:
    """
    The cursors of a stored value; ``{}`` if it is missing, malformed or of another version.

    :param data: What :func:`dump_cursors` returned (possibly through JSON).
    :param commit_delay: See :class:`CallCursor`.
    """
    if not isinstance(data, Mapping) or data.get("version") != CURSOR_VERSION:
        return {}
    agents = data.get("agents")
    if not isinstance(agents, Mapping):
        return {}
    cursors = {}
    for agent_id, snap in agents.items():
        cursor = CallCursor.restore(snap, commit_delay)
        if cursor is not None:
            cursors[str(agent_id)] = cursor
    return cursors


def merge_cursors(*stored: Mapping[str, CallCursor]) -> dict[str, CallCursor]:
    """
    One view of several stored copies (one per watched asset): per agent the lowest floor, and
    the ids every copy settled at or above it, so that no copy's unsettled call is lost.

    :param stored: Cursors by agent id, one mapping per copy.
    """
    merged: dict[str, CallCursor] = {}
    for copy in stored:
        for agent_id, cursor in copy.items():
            have = merged.get(agent_id)
            if have is None:
                merged[agent_id] = CallCursor(
                    cursor.floor, cursor.cutoff, cursor.settled, cursor.commit_delay
                )
                continue
            floor = min(have.floor, cursor.floor)
            # An id one copy settled below the other's floor counts as settled by that one too.
            settled = {
                i: c
                for i, c in {**have.settled, **cursor.settled}.items()
                if (i in have.settled or c < have.floor) and (i in cursor.settled or c < cursor.floor)
            }
            merged[agent_id] = CallCursor(floor, min(have.cutoff, cursor.cutoff), settled, have.commit_delay)
    return merged
