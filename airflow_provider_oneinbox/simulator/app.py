"""The ASGI application: FastAPI routes wrapped in the simulator middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.errors import ApiError, api_error_handler
from airflow_provider_oneinbox.simulator.middleware import SimulatorMiddleware
from airflow_provider_oneinbox.simulator.recordings import build_recordings_router
from airflow_provider_oneinbox.simulator.route_table import RouteTable
from airflow_provider_oneinbox.simulator.routes_account import build_account_router
from airflow_provider_oneinbox.simulator.routes_admin import build_admin_router
from airflow_provider_oneinbox.simulator.routes_calls import build_calls_router
from airflow_provider_oneinbox.simulator.routes_webhooks import build_webhooks_router
from airflow_provider_oneinbox.simulator.routes_workspace import build_workspace_router


def create_app(sim: Simulation) -> SimulatorMiddleware:
    """
    The simulator's ASGI app for ``sim``; its lifespan runs the webhook scheduler.

    Interactive docs are served at ``/_sim/docs``.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sim.webhooks.start()
        try:
            yield
        finally:
            await sim.webhooks.stop()

    api = FastAPI(
        title="OneInbox API simulator",
        lifespan=lifespan,
        docs_url="/_sim/docs",
        openapi_url="/_sim/openapi.json",
        redoc_url=None,
    )
    api.add_exception_handler(ApiError, api_error_handler)
    api.include_router(build_calls_router(sim))
    api.include_router(build_account_router(sim))
    api.include_router(build_webhooks_router(sim))
    api.include_router(build_workspace_router(sim))
    api.include_router(build_admin_router(sim))
    api.include_router(build_recordings_router(sim))
    return SimulatorMiddleware(api, sim, RouteTable.of_app(api))
