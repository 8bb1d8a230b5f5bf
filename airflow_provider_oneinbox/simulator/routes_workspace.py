"""``/v1/workspace/call-outcomes`` (built-in names plus the workspace's own) and ``/v1/usage``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.errors import ApiError, not_found
from airflow_provider_oneinbox.simulator.ids import stable_id
from airflow_provider_oneinbox.simulator.models import CallOutcomeIn, CallOutcomePatch
from airflow_provider_oneinbox.simulator.seed import BUILT_IN_OUTCOMES

Json = dict[str, Any]


def build_workspace_router(sim: Simulation) -> APIRouter:
    """Call outcomes and usage, bound to one simulation."""
    router = APIRouter(prefix="/v1")
    store = sim.store

    def built_ins() -> list[Json]:
        style = store.options.id_style
        return [
            {"id": stable_id("out", name, style), "name": name, "description": None, "is_builtin": True}
            for name in BUILT_IN_OUTCOMES
        ]

    def check_name_free(name: str, keep: str | None = None) -> None:
        taken = [o for o in [*built_ins(), *store.call_outcomes.values()] if o["id"] != keep]
        if any(o["name"].casefold() == name.casefold() for o in taken):
            raise HTTPException(status_code=409, detail=f"Call outcome {name!r} already exists")

    @router.get("/workspace/call-outcomes", tags=["workspace"])
    async def list_call_outcomes() -> Json:
        return {"items": [*built_ins(), *store.call_outcomes.values()]}

    @router.post("/workspace/call-outcomes", status_code=201, tags=["workspace"])
    async def create_call_outcome(body: CallOutcomeIn) -> Json:
        with store.lock:
            check_name_free(body.name)
            now = store.now_iso()
            outcome = {"id": store.new_id("out"), **body.model_dump(), "is_builtin": False}
            outcome.update(created_at=now, updated_at=now)
            store.call_outcomes[outcome["id"]] = outcome
            return outcome

    @router.patch("/workspace/call-outcomes/{outcome_id}", tags=["workspace"])
    async def update_call_outcome(outcome_id: str, body: CallOutcomePatch) -> Json:
        with store.lock:
            outcome = store.call_outcomes.get(outcome_id)
            if outcome is None:
                if any(o["id"] == outcome_id for o in built_ins()):
                    raise ApiError(400, "Built-in call outcomes cannot be changed", "BUILTIN_OUTCOME")
                store.check_id("outcome_id", outcome_id)
                raise not_found("Call outcome")
            changes = body.model_dump(exclude_unset=True)
            if changes.get("name") is not None:
                check_name_free(changes["name"], keep=outcome_id)
            outcome.update(changes, updated_at=store.now_iso())
            return outcome

    @router.get("/usage", tags=["usage"])
    async def usage() -> Json:
        return store.usage()

    return router
