"""
A tiny scripted HTTP server on 127.0.0.1, for answers the simulator does not give.

``LoopbackServer`` answers each request from a script: ``(method, path)`` mapped to a reply, a
list of replies (one per request, the last one repeated) or a function of the request. Every
request is recorded. The server runs in a daemon thread and is shut down when the ``with``
block ends; each connection times out so a stuck client cannot hold the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import connection_json


@dataclass(frozen=True)
class Reply:
    """
    One scripted answer.

    :param status: HTTP status.
    :param body: A JSON value (serialized) or raw ``bytes`` (sent as they are).
    :param headers: Extra response headers.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body's bytes."""
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True)
class Seen:
    """A request the server received: method, path (no query), query string and parsed JSON body."""

    method: str
    path: str
    query: str
    body: Any


Script = Reply | list[Reply] | Callable[[Seen], Reply]


class LoopbackServer:
    """
    Scripted HTTP/1.1 server on an ephemeral loopback port.

    :param script: ``{(method, path): reply}``; anything else answers 404 ``{"detail": "Not Found"}``.
    :param timeout: Seconds a connection may stay idle before the server drops it.
    """

    def __init__(self, script: Mapping[tuple[str, str], Script], timeout: float = 5.0) -> None:
        self.script = dict(script)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._served: dict[tuple[str, str], int] = {}
        server = self
        idle_timeout = timeout

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``seen`` instead."""

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                seen = Seen(self.command, url.path, url.query, json.loads(raw) if raw else None)
                reply = server._reply_for(seen)
                payload = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="loopback", daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _reply_for(self, seen: Seen) -> Reply:
        key = (seen.method, seen.path)
        with self._lock:
            self.seen.append(seen)
            count = self._served.get(key, 0)
            self._served[key] = count + 1
        scripted = self.script.get(key)
        if scripted is None:
            return Reply(404, {"detail": "Not Found"})
        if isinstance(scripted, list):
            return scripted[min(count, len(scripted) - 1)]
        if callable(scripted):
            return scripted(seen)
        return scripted

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests received, optionally only those of one method and path."""
        with self._lock:
            return [s for s in self.seen if method in (None, s.method) and path in (None, s.path)]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def loopback_connection(
    monkeypatch: Any,
    script: Mapping[tuple[str, str], Script],
    conn_id: str = "oneinbox_default",
    **extra: Any,
) -> Iterator[LoopbackServer]:
    """
    A :class:`LoopbackServer` with the Airflow connection ``conn_id`` pointing at it.

    :param monkeypatch: pytest's ``monkeypatch``; the connection is set in the environment.
    :param script: The server's script.
    :param conn_id: Connection id to set.
    :param extra: Connection extras (e.g. ``max_retries``), over the tests' fast defaults.
    """
    with LoopbackServer(script) as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(server.base_url, **extra))
        yield server
