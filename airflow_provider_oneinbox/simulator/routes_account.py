"""``/v1/agents``, ``/v1/credentials``, ``/v1/phone-numbers`` and ``/v1/webhooks``."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.models import (
    AgentIn,
    CredentialIn,
    PhoneNumberIn,
    PhoneNumberPatch,
    PurchaseIn,
    WebhookIn,
    WebhookPatch,
)
from airflow_provider_oneinbox.simulator.routes_calls import Limit, Offset
from airflow_provider_oneinbox.simulator.state import new_id, not_found

Json = dict[str, Any]


def build_account_router(sim: Simulation) -> APIRouter:
    """Agents, credentials, phone numbers and webhooks, bound to one simulation."""
    router = APIRouter(prefix="/v1")
    store = sim.store

    # -- agents ---------------------------------------------------------------------------------
    @router.get("/agents", tags=["agents"])
    async def list_agents(limit: Limit = 20, offset: Offset = 0) -> Json:
        agents = list(store.agents.values())
        return {
            "items": agents[offset : offset + limit],
            "total": len(agents),
            "limit": limit,
            "offset": offset,
        }

    @router.get("/agents/{agent_id}", tags=["agents"])
    async def get_agent(agent_id: str) -> Json:
        return store.agent(agent_id)

    @router.post("/agents", status_code=201, tags=["agents"])
    async def create_agent(body: AgentIn) -> Json:
        now = store.now_iso()
        agent = {"id": new_id("agt", 16), **body.model_dump(), "created_at": now, "updated_at": now}
        agent["first_message"] = agent["first_message"] or "Hi {{customer_name}}! This is " + body.name + "."
        with store.lock:
            store.agents[agent["id"]] = agent
        return agent

    # -- credentials ----------------------------------------------------------------------------
    @router.post("/credentials", status_code=201, tags=["credentials"])
    async def create_credential(body: CredentialIn) -> Json:
        record = {"id": new_id("crd", 16), "name": body.name, "provider": body.provider}
        record["created_at"] = store.now_iso()
        with store.lock:
            store.credentials[record["id"]] = record
            store.credential_secrets[record["id"]] = body.api_key  # stored, never returned
        return record

    @router.get("/credentials", tags=["credentials"])
    async def list_credentials() -> Json:
        return {"items": list(store.credentials.values())}

    # -- phone numbers --------------------------------------------------------------------------
    @router.post("/phone-numbers", status_code=201, tags=["phone-numbers"])
    async def register_number(body: PhoneNumberIn) -> Json:
        return store.register_number(body.model_dump())

    @router.get("/phone-numbers", tags=["phone-numbers"])
    async def list_numbers(phone_number: str | None = None) -> Json:
        items = [
            n for n in store.numbers.values() if phone_number is None or n["phone_number"] == phone_number
        ]
        return {"items": items}

    @router.get("/phone-numbers/search", tags=["phone-numbers"])
    async def search_numbers(
        country: Annotated[str, Query(pattern=r"^[A-Za-z]{2}$")] = "US",
        area_code: Annotated[str | None, Query(pattern=r"^\d{1,5}$")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        credential_id: str | None = None,
    ) -> Json:
        store.credential(credential_id)
        return {"items": store.search_numbers(country, area_code, limit)}

    @router.post("/phone-numbers/purchase", status_code=201, tags=["phone-numbers"])
    async def purchase_number(body: PurchaseIn) -> Json:
        with store.lock:
            number = body.phone_number
            if number is None:
                available = store.search_numbers(body.country, body.area_code, 1)
                if not available:
                    raise HTTPException(status_code=404, detail="No phone numbers available")
                number = available[0]["phone_number"]
            fields = body.model_dump(exclude={"country", "area_code"}) | {"phone_number": number}
            fields["friendly_name"] = body.friendly_name or f"Purchased {number}"
            return store.register_number(fields)

    @router.get("/phone-numbers/{number_id}", tags=["phone-numbers"])
    async def get_number(number_id: str) -> Json:
        if number_id not in store.numbers:
            raise not_found("Phone number")
        return store.numbers[number_id]

    @router.patch("/phone-numbers/{number_id}", tags=["phone-numbers"])
    async def update_number(number_id: str, body: PhoneNumberPatch) -> Json:
        with store.lock:
            record = store.numbers.get(number_id)
            if record is None:
                raise not_found("Phone number")
            changes = body.model_dump(exclude_unset=True)
            if changes.get("agent_id") is not None:
                store.agent(changes["agent_id"])
            record.update(changes, updated_at=store.now_iso())
            return record

    # -- webhooks -------------------------------------------------------------------------------
    def webhook(webhook_id: str) -> Json:
        hook = store.webhooks.get(webhook_id)
        if hook is None:
            raise not_found("Webhook")
        return hook

    @router.post("/webhooks", status_code=201, tags=["webhooks"])
    async def create_webhook(body: WebhookIn) -> Json:
        now = store.now_iso()
        hook = {"id": new_id("wh", 16), **body.model_dump(), "secret": "whsec_" + secrets.token_hex(24)}
        hook.update(status="active", created_at=now, updated_at=now)
        with store.lock:
            store.webhooks[hook["id"]] = hook
        return hook

    @router.get("/webhooks", tags=["webhooks"])
    async def list_webhooks() -> Json:
        return {"items": list(store.webhooks.values())}

    @router.patch("/webhooks/{webhook_id}", tags=["webhooks"])
    async def update_webhook(webhook_id: str, body: WebhookPatch) -> Json:
        with store.lock:
            hook = webhook(webhook_id)
            hook.update(body.model_dump(exclude_unset=True), updated_at=store.now_iso())
            return hook

    @router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"])
    async def delete_webhook(webhook_id: str) -> Response:
        with store.lock:
            webhook(webhook_id)
            del store.webhooks[webhook_id]
        return Response(status_code=204)

    @router.post("/webhooks/{webhook_id}/test", tags=["webhooks"])
    async def test_webhook(webhook_id: str) -> Json:
        hook = webhook(webhook_id)
        payload = {"event": "webhook.test", "webhook_id": webhook_id, "timestamp": store.now_iso()}
        code = await sim.webhooks.deliver(hook["url"], payload, hook["secret"])
        delivered = code is not None and 200 <= code < 300
        return {
            "webhook_id": webhook_id,
            "event": "webhook.test",
            "delivered": delivered,
            "status_code": code,
        }

    return router
