"""
Webhook delivery: ``call.started``, ``call.ended``, ``call.analyzed`` (and ``call.failed``) at the right
simulated times, from one background asyncio task (a heap of wake-ups, never a busy loop).

A delivery that fails (no 2xx) is retried after :data:`RETRY_DELAYS` simulated seconds; every attempt to
an account webhook is logged for ``GET /v1/webhooks/{id}/deliveries``.

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

from airflow_provider_oneinbox._compat import TIMEOUT_ERRORS
from airflow_provider_oneinbox.simulator.deliveries import DeliveryLog
from airflow_provider_oneinbox.simulator.lifecycle import Call
from airflow_provider_oneinbox.simulator.state import Store

log = logging.getLogger(__name__)

#: Real seconds a receiver gets to answer.
DELIVERY_TIMEOUT = 5.0
#: Simulated seconds before the 2nd, 3rd... attempt of a failed delivery (then it is given up).
RETRY_DELAYS = (5.0, 30.0)

#: ``(url, secret, webhook id)``; per-call ``webhook_url`` receivers have neither secret nor id.
Target = tuple[str, str | None, str | None]


def event_payload(store: Store, call: Call, event: str, at: float) -> dict[str, Any]:
    """The flat JSON body of one call event, as of simulated time ``at``."""
    record = store.render(call, at)
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
        self._generation = 0
        self.log = DeliveryLog()
        store.inbound_listeners.append(self.track)

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
        """Forget every scheduled event, pending retry and logged attempt (on reset)."""
        with self.store.lock:
            self._heap.clear()
            self._generation += 1
        self.log.clear()

    # -- scheduling -----------------------------------------------------------------------------
    def targets(self, call: Call, event: str) -> list[Target]:
        """``(url, secret)`` of every receiver of ``event`` for this call."""
        found: list[Target] = [(call.webhook_url, None, None)] if call.webhook_url else []
        for hook in self.store.webhooks.values():
            if hook["status"] == "active" and event in hook["events"]:
                found.append((hook["url"], hook["secret"], hook["id"]))
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
            self.store.materialise_inbound()  # inbound calls are tracked as they are created
            batch = self._due(clock.now())
            if batch:
                self._spawn(self._deliver_batch(batch))
            with self.store.lock:
                wakeups = [self._heap[0][0]] if self._heap else []
                arrival = self.store.inbound.next_arrival(self.store.options.inbound_calls_per_minute)
                next_at = min([*wakeups, arrival]) if arrival is not None else min(wakeups, default=None)
            timeout = None if next_at is None else clock.real_delay(next_at - clock.now()) + 0.001
            with contextlib.suppress(*TIMEOUT_ERRORS):
                await asyncio.wait_for(self._wake_event.wait(), timeout)

    # -- delivery -------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver_batch(self, batch: list[tuple[list[Target], dict[str, Any]]]) -> None:
        for targets, payload in batch:
            for target in targets:
                code = await self.attempt(target, payload, 1)
                if not _delivered(code):
                    self._spawn(self._retry(target, payload))

    async def _retry(self, target: Target, payload: dict[str, Any]) -> None:
        """Attempt 2, 3... of a failed delivery, each after its delay on the simulated clock."""
        generation, clock = self._generation, self.store.clock
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            due = clock.now() + delay
            while clock.now() < due and generation == self._generation:  # polled: clock jumps count
                await asyncio.sleep(min(0.05, clock.real_delay(due - clock.now())))
            if generation != self._generation:
                return
            if _delivered(await self.attempt(target, payload, attempt)):
                return

    async def attempt(self, target: Target, payload: dict[str, Any], attempt: int) -> int | None:
        """One delivery attempt, logged when the target is an account webhook; returns its status code."""
        url, secret, webhook_id = target
        code = await self.deliver(url, payload, secret)
        if webhook_id is not None:
            clock = self.store.clock
            retry = (
                attempt <= len(RETRY_DELAYS) and not _delivered(code) and payload["event"] != "webhook.test"
            )
            next_retry_at = clock.iso(clock.now() + RETRY_DELAYS[attempt - 1]) if retry else None
            delivery_id = self.store.new_id("dlv")
            self.log.record(
                delivery_id, webhook_id, payload, attempt, code, next_retry_at, self.store.now_iso()
            )
        return code

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


def _delivered(code: int | None) -> bool:
    return code is not None and 200 <= code < 300
