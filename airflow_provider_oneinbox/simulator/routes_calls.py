"""
``/v1/calls``: create, read, list (offset and cursor), stop, PATCH outcome, web calls.

``POST /v1/calls`` may be refused with the daily quota's status and ``code: DAILY_CALL_LIMIT_REACHED``
(see :mod:`.usage`), 429 ``code: CONCURRENCY_LIMIT_REACHED`` or ``RATE_LIMITED`` (see :mod:`.limits`),
or 400 ``code: VOICE_NOT_FOUND`` for an unknown ``overrides.tts.voice_id``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.models import CallIn, OutcomeIn, WebCallIn
from airflow_provider_oneinbox.validation import MAX_PAGE_SIZE, MIN_PAGE_SIZE

#: ``limit`` of every list: the bounds the client checks too.
Limit = Annotated[int, Query(ge=MIN_PAGE_SIZE, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0)]


def build_calls_router(sim: Simulation) -> APIRouter:
    """The call routes, bound to one simulation."""
    router = APIRouter(prefix="/v1/calls", tags=["calls"])
    store = sim.store

    def record(call_id: str) -> JSONResponse:
        return JSONResponse(store.render(store.call(call_id)))

    @router.post("", status_code=201)
    async def create_call(body: CallIn) -> JSONResponse:
        fields = body.body()
        call = store.create_call(
            body.agent_id,
            body.to_number,
            body.from_number,
            variables=body.variables,
            metadata=body.metadata,
            overrides=fields.get("overrides"),
            webhook_url=body.webhook_url,
            scheduled_at=None if body.scheduled_at is None else datetime_fromisoformat(body.scheduled_at),
        )
        sim.webhooks.track(call)
        return JSONResponse(store.render(call), status_code=201)

    @router.get("")
    async def list_calls(
        agent_id: str | None = None, status: str | None = None, limit: Limit = 20, offset: Offset = 0
    ) -> JSONResponse:
        return JSONResponse(store.list_calls(agent_id, status, limit, offset))

    @router.get("/cursor")
    async def list_calls_cursor(
        agent_id: str | None = None, status: str | None = None, limit: Limit = 20, cursor: str | None = None
    ) -> JSONResponse:
        return JSONResponse(store.cursor_calls(agent_id, status, limit, cursor))

    @router.post("/web", status_code=201)
    async def create_web_call(body: WebCallIn) -> JSONResponse:
        call = store.create_call(
            body.agent_id, None, None, variables=body.variables, metadata=body.metadata, call_type="web"
        )
        sim.webhooks.track(call)
        token = secrets.token_urlsafe(32)
        content = {"id": call.id, "server_url": "wss://rtc.oneinbox.ai", "participant_token": token}
        return JSONResponse(content, status_code=201)

    @router.get("/{call_id}")
    async def get_call(call_id: str) -> JSONResponse:
        return record(call_id)

    @router.post("/{call_id}/stop")
    async def stop_call(call_id: str) -> JSONResponse:
        """Hang up a live call; on a call that already ended: 200, the record unchanged (a no-op)."""
        call = store.call(call_id)
        if store.stop_call(call):
            sim.webhooks.track(call)
        return record(call_id)

    @router.patch("/{call_id}")
    async def patch_call(call_id: str, body: OutcomeIn) -> JSONResponse:
        store.set_outcome(store.call(call_id), body.outcome)
        return record(call_id)

    return router
