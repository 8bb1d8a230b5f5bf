"""``/v1/webhooks``: create, list, update, delete, test, and the log of delivery attempts."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Response

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.errors import not_found
from airflow_provider_oneinbox.simulator.models import WebhookIn, WebhookPatch

Json = dict[str, Any]


def build_webhooks_router(sim: Simulation) -> APIRouter:
    """The webhook routes, bound to one simulation."""
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
    store = sim.store

    def webhook(webhook_id: str) -> Json:
        hook = store.webhooks.get(webhook_id)
        if hook is None:
            store.check_id("webhook_id", webhook_id)
            raise not_found("Webhook")
        return hook

    @router.post("", status_code=201)
    async def create_webhook(body: WebhookIn) -> Json:
        now = store.now_iso()
        hook = {"id": store.new_id("wh"), **body.model_dump(), "secret": "whsec_" + secrets.token_hex(24)}
        hook.update(status="active", created_at=now, updated_at=now)
        with store.lock:
            store.webhooks[hook["id"]] = hook
        return hook

    @router.get("")
    async def list_webhooks() -> Json:
        return {"items": list(store.webhooks.values())}

    @router.patch("/{webhook_id}")
    async def update_webhook(webhook_id: str, body: WebhookPatch) -> Json:
        with store.lock:
            hook = webhook(webhook_id)
            hook.update(body.model_dump(exclude_unset=True), updated_at=store.now_iso())
            return hook

    @router.delete("/{webhook_id}", status_code=204)
    async def delete_webhook(webhook_id: str) -> Response:
        with store.lock:
            webhook(webhook_id)
            del store.webhooks[webhook_id]
        return Response(status_code=204)

    @router.post("/{webhook_id}/test")
    async def test_webhook(webhook_id: str) -> Json:
        hook = webhook(webhook_id)
        payload = {"event": "webhook.test", "webhook_id": webhook_id, "timestamp": store.now_iso()}
        code = await sim.webhooks.attempt((hook["url"], hook["secret"], webhook_id), payload, 1)
        delivered = code is not None and 200 <= code < 300
        return {
            "webhook_id": webhook_id,
            "event": "webhook.test",
            "delivered": delivered,
            "status_code": code,
        }

    @router.get("/{webhook_id}/deliveries")
    async def list_deliveries(webhook_id: str) -> Json:
        """Delivery attempts to this webhook, newest first: ``status`` delivered, retrying or failed."""
        webhook(webhook_id)
        return {"items": sim.webhooks.log.list(webhook_id)}

    return router
