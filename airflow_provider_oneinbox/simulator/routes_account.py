"""
``/v1/agents``, ``/v1/credentials`` and ``/v1/integrations`` (one store), ``/v1/phone-numbers``.

Path ids of credentials/integrations and phone numbers get FastAPI's 422 when they are not UUIDs (in the
``uuid`` id style); agent ids are opaque (the seeded ones are ``agt_...`` in both styles).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from airflow_provider_oneinbox.models.fields import AREA_CODE_PATTERN, COUNTRY_CODE_PATTERN
from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.errors import not_found
from airflow_provider_oneinbox.simulator.models import (
    AgentIn,
    CredentialIn,
    InboundRouting,
    PhoneNumberIn,
    PhoneNumberPatch,
    PurchaseIn,
)
from airflow_provider_oneinbox.simulator.routes_calls import Limit, Offset

Json = dict[str, Any]


def masked_key(key: str) -> str:
    """What ``GET /v1/integrations/{id}`` shows of a stored key: its last four characters at most."""
    return "****" + (key[-4:] if len(key) >= 12 else "")


def build_account_router(sim: Simulation) -> APIRouter:
    """Agents, credentials/integrations and phone numbers, bound to one simulation."""
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
        store.check_voice(body.voice_id)
        now = store.now_iso()
        agent = {"id": store.new_id("agt"), **body.model_dump(), "created_at": now, "updated_at": now}
        agent["first_message"] = agent["first_message"] or "Hi {{customer_name}}! This is " + body.name + "."
        with store.lock:
            store.agents[agent["id"]] = agent
        return agent

    # -- credentials, a.k.a. integrations -------------------------------------------------------
    async def create_credential(body: CredentialIn) -> Json:
        record = {"id": store.new_id("crd"), "name": body.name, "provider": body.provider}
        record["created_at"] = store.now_iso()
        with store.lock:
            store.credentials[record["id"]] = record
            store.credential_secrets[record["id"]] = body.api_key  # stored, never returned
        return record

    async def list_credentials() -> Json:
        return {"items": list(store.credentials.values())}

    async def get_credential(credential_id: str) -> Json:
        record = store.credentials.get(credential_id)
        if record is None:
            store.check_id("credential_id", credential_id)
            raise not_found("Integration")
        return {**record, "masked_key": masked_key(store.credential_secrets[credential_id])}

    for prefix in ("/credentials", "/integrations"):
        tag = prefix.strip("/")
        router.add_api_route(prefix, create_credential, methods=["POST"], status_code=201, tags=[tag])
        router.add_api_route(prefix, list_credentials, methods=["GET"], tags=[tag])
        router.add_api_route(prefix + "/{credential_id}", get_credential, methods=["GET"], tags=[tag])

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
        country: Annotated[str, Query(pattern=COUNTRY_CODE_PATTERN)] = "US",
        area_code: Annotated[str | None, Query(pattern=AREA_CODE_PATTERN)] = None,
        limit: Limit = 10,
        credential_id: str | None = None,
    ) -> Json:
        store.credential(credential_id)
        return {"items": store.search_numbers(country, area_code, limit)}

    @router.post("/phone-numbers/purchase", status_code=201, tags=["phone-numbers"])
    async def purchase_number(body: PurchaseIn) -> Json:
        with store.lock:
            number = body.phone_number
            if number is None:
                available = store.search_numbers(body.country or "US", body.area_code, 1)
                if not available:
                    raise HTTPException(status_code=404, detail="No phone numbers available")
                number = available[0]["phone_number"]
            fields = body.model_dump(exclude={"country", "area_code"}) | {"phone_number": number}
            fields["friendly_name"] = body.friendly_name or f"Purchased {number}"
            return store.register_number(fields)

    @router.get("/phone-numbers/{phone_id}", tags=["phone-numbers"])
    async def get_number(phone_id: str) -> Json:
        return store.number(phone_id)

    @router.patch("/phone-numbers/{phone_id}", tags=["phone-numbers"])
    async def update_number(phone_id: str, body: PhoneNumberPatch) -> Json:
        with store.lock:
            record = store.number(phone_id)
            changes = body.model_dump(exclude_unset=True)
            if changes.get("agent_id") is not None:
                store.agent(changes["agent_id"])
            record.update(changes, updated_at=store.now_iso())
            return record

    @router.get("/phone-numbers/{phone_id}/inbound-routing", tags=["phone-numbers"])
    async def get_inbound_routing(phone_id: str) -> Json:
        return store.routing(store.number(phone_id))

    @router.post("/phone-numbers/{phone_id}/inbound-routing", tags=["phone-numbers"])
    async def set_inbound_routing(phone_id: str, body: InboundRouting) -> Json:
        return store.set_routing(store.number(phone_id), body.model_dump())

    return router
