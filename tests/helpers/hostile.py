"""
A raw-socket server on 127.0.0.1 for misbehaviour ``http.server`` cannot script.

Each accepted connection is handed to a behaviour ``(peer, index)`` in a thread of its own:
``peer`` reads requests and writes whatever bytes the test wants (a slow drip, an endless
chunked body, a status line and nothing else, a Content-Length it never honours). Every
request read is recorded. The server lives at most ``lifetime`` seconds: then it closes every
connection, so a client that would otherwise wait forever is cut off and the test ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import connection_json


@dataclass(frozen=True)
class RawRequest:
    """
    One request as received.

    :param method: HTTP method.
    :param target: Request target (path and query).
    :param headers: Header names lower-cased.
    :param body: The body (by Content-Length).
    """

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.split("?", 1)[0]


class Peer:
    """One accepted connection, as the behaviour sees it."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self._server = server
        self._buffer = b""

    def read_request(self) -> RawRequest | None:
        """The next request on this connection, or ``None`` if the client closed it."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self._recv()
            if not chunk:
                return None
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(self._buffer) < length:
            chunk = self._recv()
            if not chunk:
                break
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        request = RawRequest(method, target, headers, body)
        self._server.record(request)
        return request

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def send(self, data: bytes) -> bool:
        """Write ``data``; ``False`` once the client has gone (or the server is stopping)."""
        if self._server.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def respond(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> bool:
        """A whole, well-formed response: JSON ``body`` (or raw ``bytes``) with its Content-Length."""
        payload = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        return self.send(head.encode() + b"\r\n" + payload)

    def drip(self, data: bytes, every: float) -> bool:
        """Write ``data`` one byte at a time, ``every`` seconds apart, until done or the client left."""
        for index in range(len(data)):
            if not self.send(data[index : index + 1]) or self._server.stopping.wait(every):
                return False
        return True

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds``, or until the server stops."""
        self._server.stopping.wait(seconds)

    def close(self) -> None:
        """Close the connection (no shutdown handshake beyond the FIN)."""
        with contextlib.suppress(OSError):
            self.sock.close()


Behaviour = Callable[[Peer, int], None]


class HostileServer:
    """
    Raw TCP server on an ephemeral loopback port, misbehaving as ``behaviour`` says.

    :param behaviour: Called with each connection and its index (0 for the first).
    :param lifetime: Seconds after which every connection is closed and the server stops.
    """

    def __init__(self, behaviour: Behaviour, lifetime: float = 20.0) -> None:
        self.behaviour = behaviour
        self.lifetime = lifetime
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._peers: list[Peer] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, name="hostile", daemon=True)
        self._started = 0.0

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._listener.getsockname()[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def record(self, request: RawRequest) -> None:
        """Keep a request read by a peer."""
        with self._lock:
            self.requests.append(request)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            if time.monotonic() - self._started > self.lifetime:
                self.stopping.set()
                break
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self._lock:
                index = self.connections
                self.connections += 1
                peer = Peer(sock, self)
                self._peers.append(peer)
            threading.Thread(target=self._run, args=(peer, index), daemon=True).start()
        self._close_all()

    def _run(self, peer: Peer, index: int) -> None:
        with contextlib.suppress(OSError):
            self.behaviour(peer, index)

    def _close_all(self) -> None:
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
            peer.close()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> HostileServer:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)
        self._close_all()


def serve_forever(peer: Peer, answer: Callable[[RawRequest], bool]) -> None:
    """Answer every request on the connection with ``answer`` until it returns ``False``."""
    while (request := peer.read_request()) is not None:
        if not answer(request):
            return


@contextmanager
def hostile_connection(
    monkeypatch: Any,
    behaviour: Behaviour,
    conn_id: str = "oneinbox_default",
    lifetime: float = 20.0,
    **extra: Any,
) -> Iterator[HostileServer]:
    """
    A :class:`HostileServer` with the Airflow connection ``conn_id`` pointing at it.

    :param monkeypatch: pytest's ``monkeypatch``.
    :param behaviour: The server's behaviour.
    :param conn_id: Connection id to set.
    :param lifetime: Seconds the server lives at most.
    :param extra: Connection extras over the tests' fast defaults.
    """
    with HostileServer(behaviour, lifetime=lifetime) as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(server.base_url, **extra))
        yield server


def _read_call_sync(call_id: str) -> Any:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    return OneInboxHook().get_call(call_id)


def _read_call_async(call_id: str) -> Any:
    import asyncio

    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    async def run() -> Any:
        async with OneInboxAsyncHook() as hook:
            return await hook.get_call(call_id)

    return asyncio.run(run())


def with_each_hook(call_id: str) -> Any:
    """
    ``@pytest.mark.parametrize("get", ...)``: a test runs once with ``get()`` reading ``call_id``
    through the sync hook, once through the async hook (``oneinbox_default``).

    :param call_id: The call every ``get()`` reads.
    """
    import functools

    import pytest

    readers = [functools.partial(_read_call_sync, call_id), functools.partial(_read_call_async, call_id)]
    return pytest.mark.parametrize("get", readers, ids=["sync", "async"])
