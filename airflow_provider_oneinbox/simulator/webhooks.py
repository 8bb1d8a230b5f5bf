"""
Webhook delivery: ``call.started``, ``call.ended``, ``call.analyzed`` (and ``call.failed``) at the right
simulated times, from one background asyncio task (a heap of wake-ups, never a busy loop).

Signing is an **assumption** (OneInbox does not document it): account webhooks get
``X-OneInbox-Timestamp`` and ``X-OneInbox-Signature: sha256=HMAC(secret, "{timestamp}.{body}")``,
like peers do. Per-call ``webhook_url`` deliveries are not signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import time
from typing import Any

import httpx

from airflow_provider_oneinbox.simulator.lifecycle import Call
from airflow_provider_oneinbox.simulator.state import Store

log = logging.getLogger(__name__)

#: Real seconds a receiver gets to answer.
DELIVERY_TIMEOUT = 5.0

Target = tuple[str, str | None]


def event_payload(store: Store, call: Call, event: str, at: float) -> dict[str, Any]:
    """The flat JSON body of one call event, as of simulated time ``at``."""
    record = call.render(store.clock, at)
    payload: dict[str, Any] = {
        "event": event,
        "call_id": call.id,
        "agent_id": call.agent_id,
        "to_number": call.to_number,
        "from_number": call.from_number,
        "status": record["status"],
        "duration_seconds": None if event == "call.started" else call.duration,
        "created_at": record["created_at"],
        "timestamp": store.clock.iso(at),
        "type": call.type,
        "metadata": call.metadata,
    }
    if event != "call.started":
        payload["ended_at"] = store.clock.iso(call.end)
        payload["end_reason"] = "api_stop" if call.stopped else call.scenario.end_reason
    if event == "call.analyzed":
        for key in ("outcome", "analysis", "ai_summary", "recording_url"):
            payload[key] = record[key]
    return payload


class WebhookDispatcher:
    """
    Schedules and sends webhook events for calls that have a receiver.

    :param store: Where calls and account webhooks live.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    # -- lifecycle (called from the app's lifespan, inside the server's loop) ---------------------
    async def start(self) -> None:
        """Start the scheduler task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, trust_env=False)
        self._task = asyncio.create_task(self._run(), name="oneinbox-sim-webhooks")

    async def stop(self) -> None:
        """Cancel the scheduler and pending deliveries; close the HTTP client."""
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._task = self._client = self._wake_event = None

    def wake(self) -> None:
        """Re-plan now (thread-safe): the clock jumped, the speed changed or a call was stopped."""
        loop, event = self._loop, self._wake_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def clear(self) -> None:
        """Forget every scheduled event (on reset)."""
        with self.store.lock:
            self._heap.clear()

    # -- scheduling -----------------------------------------------------------------------------
    def targets(self, call: Call, event: str) -> list[Target]:
        """``(url, secret)`` of every receiver of ``event`` for this call."""
        found: list[Target] = [(call.webhook_url, None)] if call.webhook_url else []
        for hook in self.store.webhooks.values():
            if hook["status"] == "active" and event in hook["events"]:
                found.append((hook["url"], hook["secret"]))
        return found

    def track(self, call: Call) -> None:
        """Schedule the call's pending events, if anybody listens to them."""
        if not any(self.targets(call, event) for event, _ in call.webhook_events()):
            return
        pending = [t for event, t in call.webhook_events() if event not in call.sent_events]
        if pending:
            with self.store.lock:
                heapq.heappush(self._heap, (min(pending), next(self._order), call.id))
            self.wake()

    def _due(self, now: float) -> list[tuple[list[Target], dict[str, Any]]]:
        """Pop every due wake-up; returns the deliveries to make, re-schedules the rest."""
        out: list[tuple[list[Target], dict[str, Any]]] = []
        with self.store.lock:
            while self._heap and self._heap[0][0] <= now:
                _, _, call_id = heapq.heappop(self._heap)
                call = self.store.calls.get(call_id)
                if call is None:
                    continue
                later: list[float] = []
                for event, at in call.webhook_events():
                    if event in call.sent_events:
                        continue
                    if at > now:
                        later.append(at)
                        continue
                    call.sent_events.add(event)
                    out.append((self.targets(call, event), event_payload(self.store, call, event, at)))
                if later:
                    heapq.heappush(self._heap, (min(later), next(self._order), call.id))
        return out

    async def _run(self) -> None:
        assert self._wake_event is not None
        clock = self.store.clock
        while True:
            self._wake_event.clear()
            batch = self._due(clock.now())
            if batch:
                self._spawn(self._deliver_batch(batch))
            with self.store.lock:
                next_at = self._heap[0][0] if self._heap else None
            timeout = None if next_at is None else clock.real_delay(next_at - clock.now()) + 0.001
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), timeout)

    # -- delivery -------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver_batch(self, batch: list[tuple[list[Target], dict[str, Any]]]) -> None:
        for targets, payload in batch:
            for url, secret in targets:
                await self.deliver(url, payload, secret)

    async def deliver(self, url: str, payload: dict[str, Any], secret: str | None = None) -> int | None:
        """POST one event; returns the receiver's status code, ``None`` if delivery failed (logged)."""
        client = self._client
        if client is None:
            return None
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-OneInbox-Event": str(payload.get("event"))}
        if secret:
            timestamp = str(int(time.time()))
            digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            headers.update({"X-OneInbox-Timestamp": timestamp, "X-OneInbox-Signature": f"sha256={digest}"})
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("Webhook %s to %s failed: %s", payload.get("event"), url, exc)
            return None
        if response.status_code >= 300:
            log.warning("Webhook %s to %s answered %s", payload.get("event"), url, response.status_code)
        return response.status_code
