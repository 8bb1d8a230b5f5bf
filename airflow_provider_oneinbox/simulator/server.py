"""
uvicorn in a background thread: a pre-bound port, connection counting, aborting connections, TLS,
and "going dark" (stop listening for a while, then listen again on the same port with the same state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_oneinbox.simulator.certs import TlsFiles
from airflow_provider_oneinbox.simulator.traffic import ConnectionRegistry

try:  # the C parser: much faster with thousands of concurrent pollers
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _FastestProtocol
except ImportError:  # pragma: no cover - httptools is optional in uvicorn
    _FastestProtocol = H11Protocol  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

#: Idle keep-alive connections stay open this long (real seconds), longer than typical client pools.
KEEP_ALIVE_SECONDS = 65
#: Listen backlog (capped by the kernel's somaxconn): benchmarks open thousands of connections at once.
BACKLOG = 8192
#: Real seconds open connections get to finish when the simulator stops.
SHUTDOWN_GRACE = 0.5


class CountingHttpProtocol(_FastestProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, registering each transport by peer address (``scope["client"]``)."""

    registry: ConnectionRegistry

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.registry.connection_made(self.client, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.connection_lost(self.client, self.transport)
        super().connection_lost(exc)


def protocol_class(registry: ConnectionRegistry) -> type[asyncio.Protocol]:
    """A protocol class bound to one simulator's connection registry."""
    return type("SimulatorHttpProtocol", (CountingHttpProtocol,), {"registry": registry})


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket; ``port`` 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def raise_fd_limit() -> None:
    """Raise this process's open-file soft limit to the hard limit (thousands of sockets), if allowed."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _Server(uvicorn.Server):
    loop: asyncio.AbstractEventLoop | None = None
    registry: ConnectionRegistry | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Connections still open shortly after shutdown begins (a TLS close waiting for the peer's
        # close_notify, a slow client) are cut, so stop() stays fast.
        if self.registry is not None:
            asyncio.get_running_loop().call_later(SHUTDOWN_GRACE, self.registry.abort_all)
        await super().shutdown(sockets)


class ServerThread:
    """
    Runs an ASGI app with uvicorn in a daemon thread.

    :param app: The ASGI application.
    :param registry: Where the protocol registers connections.
    :param host: Interface to listen on.
    :param port: Port, 0 for a free one.
    :param tls: Certificate files, or ``None`` for plain HTTP.
    """

    def __init__(
        self, app: Any, registry: ConnectionRegistry, host: str, port: int, tls: TlsFiles | None
    ) -> None:
        self.host = host
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._config = uvicorn.Config(
            app,
            http=protocol_class(registry),
            lifespan="on",
            log_level="warning",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=2,
            backlog=BACKLOG,
            ssl_certfile=tls.cert if tls else None,
            ssl_keyfile=tls.key if tls else None,
        )
        self._server = _Server(self._config)
        self._server.registry = registry
        self._registry = registry
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"oneinbox-sim:{self.port}",
            daemon=True,
        )
        self._reopen: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; returns once the port accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("The OneInbox simulator failed to start (see the uvicorn log)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The OneInbox simulator did not start within {timeout} s")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down and join the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread.is_alive()

    # -- going dark -----------------------------------------------------------------------------
    def refuse_connections(self, seconds: float) -> None:
        """Stop listening now (new connections get ECONNREFUSED, open ones are cut) for ``seconds``."""
        loop = self._server.loop
        if loop is None or not self.running:
            raise RuntimeError("The simulator is not running")
        asyncio.run_coroutine_threadsafe(self._go_dark(seconds), loop).result(timeout=10)

    async def _go_dark(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if self._reopen is not None:
            self._reopen.cancel()
        for listener in self._server.servers:
            listener.close()
        self._server.servers = []
        self._registry.abort_all()
        self._reopen = loop.call_later(seconds, self._spawn_listen_again)

    def _spawn_listen_again(self) -> None:
        task = asyncio.get_running_loop().create_task(self._listen_again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen_again(self) -> None:
        self._reopen = None
        for _ in range(100):
            if self._server.should_exit:
                return
            try:
                sock = bind_socket(self.host, self.port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            log.error("OneInbox simulator: could not listen again on port %s", self.port)
            return
        server = self._server
        listener = await asyncio.get_running_loop().create_server(
            lambda: self._config.http_protocol_class(  # type: ignore[call-arg]
                config=self._config, server_state=server.server_state, app_state=server.lifespan.state
            ),
            sock=sock,
            ssl=self._config.ssl,
            backlog=self._config.backlog,
        )
        if server.should_exit:
            listener.close()
        else:
            server.servers.append(listener)
