"""The log behind ``GET /v1/webhooks/{id}/deliveries``: one entry per delivery attempt, newest first."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

#: Entries kept per webhook (the oldest are forgotten).
DELIVERIES_KEPT = 1000


class DeliveryLog:
    """Delivery attempts of account webhooks (per-call ``webhook_url`` deliveries have no webhook id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_webhook: dict[str, deque[dict[str, Any]]] = {}

    def clear(self) -> None:
        """Forget every attempt (on reset)."""
        with self._lock:
            self._by_webhook.clear()

    def record(
        self,
        delivery_id: str,
        webhook_id: str,
        payload: dict[str, Any],
        attempt: int,
        response_status: int | None,
        next_retry_at: str | None,
        created_at: str | None,
    ) -> dict[str, Any]:
        """Log one attempt; ``status`` is ``delivered`` (2xx), ``retrying`` or ``failed`` (given up)."""
        if response_status is not None and 200 <= response_status < 300:
            status = "delivered"
        else:
            status = "retrying" if next_retry_at is not None else "failed"
        entry = {
            "id": delivery_id,
            "webhook_id": webhook_id,
            "event": payload.get("event"),
            "call_id": payload.get("call_id"),
            "status": status,
            "attempt": attempt,
            "response_status": response_status,
            "next_retry_at": next_retry_at,
            "created_at": created_at,
        }
        with self._lock:
            self._by_webhook.setdefault(webhook_id, deque(maxlen=DELIVERIES_KEPT)).appendleft(entry)
        return entry

    def list(self, webhook_id: str) -> list[dict[str, Any]]:
        """Every attempt logged for a webhook, newest first."""
        with self._lock:
            return list(self._by_webhook.get(webhook_id, ()))
