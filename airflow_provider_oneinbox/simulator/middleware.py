"""
Pure-ASGI front door of the simulator (cheap enough for thousands of concurrent pollers).

For every request outside ``/_sim/``: count and log it, inject faults, check the API key.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.faults import Fault
from airflow_provider_oneinbox.simulator.ids import path_id_errors
from airflow_provider_oneinbox.simulator.route_table import RouteTable
from airflow_provider_oneinbox.simulator.traffic import TrafficLog

ADMIN_PREFIX = "/_sim"
_CALL_PREFIX = "/v1/calls/"
_CALL_ROUTE = "/v1/calls/{call_id}"
_CALL_SUBPATHS = frozenset({"cursor", "web"})
_DETAILS = {429: "Rate limit exceeded", 500: "Internal server error", 503: "Service temporarily unavailable"}


class _Exchange:
    """One request as the log will show it; :meth:`log` writes the entry once."""

    __slots__ = (
        "fault",
        "idempotency_key",
        "logged",
        "route",
        "routed",
        "routes",
        "scope",
        "status",
        "traffic",
    )

    def __init__(
        self, traffic: TrafficLog, routes: RouteTable, scope: Scope, idempotency_key: str | None
    ) -> None:
        self.traffic = traffic
        self.routes = routes
        self.scope = scope
        self.idempotency_key = idempotency_key
        self.status: int | None = None
        self.fault: Fault | None = None
        self.route: str | None = None
        self.routed = False  # handed to FastAPI, which names the route of a 405 (wrong method) too
        self.logged = False

    def log(self) -> None:
        if self.logged:
            return
        self.logged = True
        scope = self.scope
        method, path = scope["method"], scope["path"]
        route = self.route
        if route is None and self.routed:
            route = self.routes.match(method, path, any_method=True)
        fault = self.fault.value if self.fault else None
        self.traffic.record(method, path, route, self.status, fault, self.idempotency_key)


class SimulatorMiddleware:
    """
    Wraps the FastAPI app: request log, faults, then auth (faults act like a gateway in front of the API).

    :param app: The FastAPI application.
    :param sim: The simulation state.
    :param routes: The app's route templates (what the log and ``only_routes`` name).
    """

    def __init__(self, app: ASGIApp, sim: Simulation, routes: RouteTable) -> None:
        self.app = app
        self.sim = sim
        self.routes = routes
        self._token = sim.api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        auth, idempotency_key = b"", None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
        ex = _Exchange(self.sim.traffic, self.routes, scope, idempotency_key)

        async def send_logged(message: Message) -> None:
            # Logged before the last byte leaves, so a client that got its answer always finds the entry.
            if message["type"] == "http.response.start":
                ex.status = message["status"]
            elif not message.get("more_body"):
                ex.log()
            await send(message)

        try:
            faults = self.sim.faults
            route = self.routes.match(method, path) if faults.settings.only_routes else None
            if faults.active and faults.settings.latency and faults.applies(method, path, route):
                await asyncio.sleep(faults.settings.latency)
            injection = faults.decide(method, path, route)
            if injection is not None:
                ex.fault, ex.route = injection.fault, self.routes.match(method, path)
                if injection.status is None:
                    await self._drop(ex, receive)
                else:
                    await self._error(send_logged, injection.status, _DETAILS[injection.status])
                return
            if path.startswith("/v1/") and not self._authorized(auth):
                ex.route = self.routes.match(method, path)
                await self._error(send_logged, 401, "Invalid API key")
                return
            if method == "GET" and path.startswith(_CALL_PREFIX):
                call_id = path[len(_CALL_PREFIX) :]
                if call_id and "/" not in call_id and call_id not in _CALL_SUBPATHS:
                    ex.route = _CALL_ROUTE
                    await self._get_call(send_logged, call_id)
                    return
            ex.routed = True
            if not faults.may_lose_create(method, path, route):
                await self.app(scope, receive, send_logged)
                return
            held: list[Message] = []

            async def hold(message: Message) -> None:
                if message["type"] == "http.response.start":
                    ex.status = message["status"]
                held.append(message)

            await self.app(scope, receive, hold)
            if ex.status == 201 and faults.take_lost_create():
                ex.fault = Fault.LOST_CREATE
                await self._drop(ex, receive, drain=False)
                return
            for message in held:
                await send_logged(message)
        finally:
            ex.log()

    def _authorized(self, auth: bytes) -> bool:
        scheme, _, token = auth.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token)

    async def _get_call(self, send: Send, call_id: str) -> None:
        """Fast path for the hot ``GET /v1/calls/{call_id}`` (what pollers hammer): skips FastAPI routing."""
        store = self.sim.store
        call = store.calls.get(call_id)
        content: Any
        if call is not None:
            status, content = 200, store.render(call)
        elif (errors := path_id_errors("call_id", call_id, store.options.id_style)) is not None:
            status, content = 422, {"detail": errors}
        else:
            status, content = 404, {"detail": "Call not found"}
        body = json.dumps(content).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 429:
            headers.append((b"retry-after", self.sim.faults.retry_after_header.encode()))
        elif status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, ex: _Exchange, receive: Receive, drain: bool = True) -> None:
        """Close the client's TCP connection without writing a byte."""
        ex.status = None
        if drain:  # read the body first: unread bytes would make the kernel send a RST
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
        ex.log()
        self.sim.connections.abort(ex.scope.get("client"))
        for _ in range(3):  # let uvicorn process connection_lost, so it never answers for us
            await asyncio.sleep(0)
