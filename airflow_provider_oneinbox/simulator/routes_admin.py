"""``/_sim/``: control endpoints for tests and benchmarks (no auth, never faulted, not counted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.models import AdvanceIn, ConfigureIn

Json = dict[str, Any]


def build_admin_router(sim: Simulation) -> APIRouter:
    """The admin routes, bound to one simulation."""
    router = APIRouter(prefix="/_sim", tags=["simulator"])

    @router.get("/health")
    async def health() -> Json:
        return {"status": "ok"}

    @router.get("/faults")
    async def get_faults() -> Json:
        return sim.faults.settings.model_dump()

    @router.post("/faults")
    async def set_faults(changes: dict[str, Any] = Body(default_factory=dict)) -> Json:  # noqa: B008
        try:
            return sim.faults.update(**changes).model_dump()
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None

    @router.delete("/faults")
    async def clear_faults() -> Json:
        sim.faults.clear()
        return sim.faults.settings.model_dump()

    @router.get("/stats")
    async def stats() -> Json:
        return sim.stats()

    @router.post("/reset")
    async def reset() -> Json:
        sim.reset()
        return {"status": "reset"}

    @router.get("/requests")
    async def requests(method: str | None = None, path_prefix: str | None = None) -> Json:
        return {"items": sim.traffic.query(method, path_prefix)}

    @router.post("/advance")
    async def advance(body: AdvanceIn) -> Json:
        sim.clock.advance(body.seconds)
        return {"sim_time": sim.clock.iso(sim.clock.now())}

    def settings() -> Json:
        return {"speed": sim.clock.speed, "analysis_delay": sim.store.analysis_delay}

    @router.get("/configure")
    async def get_configuration() -> Json:
        return settings() | sim.store.options.model_dump()

    @router.post("/configure")
    async def configure(body: ConfigureIn) -> Json:
        """Change the speed, the analysis delay and/or any option; returns them all."""
        options = sim.configure(speed=body.speed, analysis_delay=body.analysis_delay, **body.option_changes())
        return settings() | options.model_dump()

    return router
