"""
Carrier pacing and agent concurrency limits of ``POST /v1/calls``, and the record tests assert on.

The reference documents no rate or concurrency limit; peers (Twilio: 1 call per second per account
by default, and a concurrency cap) refuse with 429 and ``Retry-After``. Assumptions, in the shape of
the daily quota's refusal (``{"detail": ..., "code": ...}``, see :mod:`.usage`):

- ``max_calls_per_second``: outbound creates accepted in any rolling simulated second, workspace-wide
  (a carrier account). Past it: 429 ``code: RATE_LIMITED``, ``Retry-After`` until the oldest create of
  the window leaves it (at least 1 s).
- ``max_concurrent_calls``: live calls (queued, initiated, in progress, any status before the end)
  per agent; inbound and web calls occupy their agent too, but only ``POST /v1/calls`` is refused.
  Past it: 429 ``code: CONCURRENCY_LIMIT_REACHED``, ``Retry-After`` until the agent's earliest live
  call ends, clamped to 1..:data:`CONCURRENCY_RETRY_AFTER_MAX` s.

A refused create creates nothing and consumes no quota. Times are simulated seconds, like every
time the simulator reports. The record (:meth:`LimitTracker.record`, ``limits`` in ``GET
/_sim/stats``) counts accepted calls only: the most live calls ever seen per agent and
workspace-wide, the most outbound creates in any rolling 1 s and 60 s, and refusals by code.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from typing import Any

from airflow_provider_oneinbox.simulator.errors import ApiError
from airflow_provider_oneinbox.simulator.lifecycle import Call
from airflow_provider_oneinbox.simulator.options import SimOptions

RATE_CODE = "RATE_LIMITED"
CONCURRENCY_CODE = "CONCURRENCY_LIMIT_REACHED"
#: Longest ``Retry-After`` of a concurrency refusal: a slot may free sooner (a call stopped).
CONCURRENCY_RETRY_AFTER_MAX = 5
#: Rolling windows of the creates record, in simulated seconds, by the record's key.
WINDOWS = {"peak_creates_per_second": 1.0, "peak_creates_per_minute": 60.0}


def _retry_after(seconds: float, most: float | None = None) -> dict[str, str]:
    wait = max(1, math.ceil(seconds - 1e-9))
    return {"Retry-After": str(wait if most is None else min(wait, int(most)))}


class _Live:
    """Calls not yet ended, as a heap of ``(end, seq, call)``; a stopped call is counted off at once."""

    __slots__ = ("count", "heap", "peak")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Call]] = []
        self.count = 0
        self.peak = 0

    def add(self, call: Call) -> None:
        heapq.heappush(self.heap, (call.end, call.seq, call))
        self.count += 1
        self.peak = max(self.peak, self.count)

    def prune(self, now: float) -> None:
        while self.heap and self.heap[0][0] <= now:
            _, _, call = heapq.heappop(self.heap)
            if not call.stopped:  # a stopped call was counted off when it was stopped
                self.count -= 1

    def earliest_end(self) -> float | None:
        ends = [call.end for _, _, call in self.heap if not call.stopped]
        return min(ends) if ends else None


class LimitTracker:
    """
    Checks the pacing and concurrency limits and keeps the record; guard calls with the store's lock.

    Inbound calls are materialised at their (past) arrival time; calls counted off at a later
    instant are not counted back, so a peak involving inbound calls can read low, never high.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every live call, window and peak."""
        self.live = _Live()
        self.live_by_agent: dict[str, _Live] = {}
        self.windows = {key: deque[float]() for key in WINDOWS}
        self.peaks = dict.fromkeys(WINDOWS, 0)
        self.refusals: Counter[str] = Counter()

    def _agent(self, agent_id: str, now: float) -> _Live:
        live = self.live_by_agent.setdefault(agent_id, _Live())
        live.prune(now)
        return live

    def _window(self, key: str, now: float) -> deque[float]:
        window = self.windows[key]
        while window and window[0] <= now - WINDOWS[key]:
            window.popleft()
        return window

    def refusal(self, options: SimOptions, agent_id: str, now: float) -> ApiError | None:
        """The refusal of one more outbound create from ``agent_id`` at ``now``, or ``None``."""
        cap = options.max_concurrent_calls
        if cap is not None:
            live = self._agent(agent_id, now)
            if live.count >= cap:
                earliest = live.earliest_end()
                wait = CONCURRENCY_RETRY_AFTER_MAX if earliest is None else earliest - now
                detail = f"Agent {agent_id} already has {live.count} live calls (limit {cap})"
                headers = _retry_after(wait, CONCURRENCY_RETRY_AFTER_MAX)
                return ApiError(429, detail, CONCURRENCY_CODE, headers)
        rate = options.max_calls_per_second
        if rate is not None:
            window = self._window("peak_creates_per_second", now)
            if len(window) >= rate:
                detail = f"Call rate limit of {rate} per second reached"
                return ApiError(429, detail, RATE_CODE, _retry_after(window[-rate] + 1.0 - now))
        return None

    def refused(self, error: ApiError) -> None:
        """Count a refused create by its code."""
        self.refusals[error.code or str(error.status)] += 1

    def accepted(self, call: Call, now: float, *, outbound: bool) -> None:
        """Record an accepted call (``outbound``: created by ``POST /v1/calls``, counted in the windows)."""
        self.live.prune(now)
        self.live.add(call)
        self._agent(call.agent_id, now).add(call)
        if outbound:
            for key, window in ((k, self._window(k, now)) for k in WINDOWS):
                window.append(now)
                self.peaks[key] = max(self.peaks[key], len(window))

    def stopped(self, call: Call) -> None:
        """A live call was hung up: it no longer occupies its agent."""
        self.live.count -= 1
        self.live_by_agent[call.agent_id].count -= 1

    def record(self, now: float) -> dict[str, Any]:
        """The record: live calls now and at their peak, creates per rolling window, refusals by code."""
        self.live.prune(now)
        for live in self.live_by_agent.values():
            live.prune(now)
        return {
            "live_calls": self.live.count,
            "peak_live_calls": self.live.peak,
            "peak_live_calls_by_agent": {a: live.peak for a, live in self.live_by_agent.items() if live.peak},
            **self.peaks,
            "refusals_by_code": dict(self.refusals),
        }
