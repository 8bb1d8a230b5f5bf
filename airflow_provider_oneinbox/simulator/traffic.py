"""What clients did: request log, per-route counts and TCP/TLS connections opened."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from typing import Any

#: The request log keeps this many most recent entries (benchmarks send millions of requests).
REQUEST_LOG_SIZE = 100_000

Peer = tuple[str, int]


class ConnectionRegistry:
    """
    Open client connections by peer address, so the app can abort one (uvicorn gives it no transport).

    Filled in by the HTTP protocol subclass in :mod:`.server`.
    """

    def __init__(self) -> None:
        self.transports: dict[Peer, asyncio.BaseTransport] = {}
        self.opened = 0

    def connection_made(self, peer: Peer | None, transport: asyncio.BaseTransport) -> None:
        """Register a new connection and count it."""
        self.opened += 1
        if peer is not None:
            self.transports[peer] = transport

    def connection_lost(self, peer: Peer | None, transport: asyncio.BaseTransport) -> None:
        """Forget a closed connection."""
        if peer is not None and self.transports.get(peer) is transport:
            del self.transports[peer]

    def abort(self, peer: Any) -> bool:
        """Close the connection from ``peer`` (``scope["client"]``) at once, writing nothing."""
        transport = self.transports.pop(tuple(peer), None) if peer else None  # type: ignore[arg-type]
        if transport is None:
            return False
        transport.abort()  # type: ignore[attr-defined]
        return True

    def abort_all(self) -> int:
        """Close every open connection (an outage); returns how many."""
        transports = list(self.transports.values())
        self.transports.clear()
        for transport in transports:
            transport.abort()  # type: ignore[attr-defined]
        return len(transports)


class TrafficLog:
    """Counts and logs every non-admin request (never its headers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_route: Counter[str] = Counter()
        self.entries: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self.total = 0
            self.by_route = Counter()
            self.entries = deque(maxlen=REQUEST_LOG_SIZE)

    def record(
        self,
        method: str,
        path: str,
        route: str | None,
        status: int | None,
        fault: str | None,
        idempotency_key: str | None,
    ) -> None:
        """Log one finished (or dropped) request."""
        key = f"{method} {route}" if route else "unmatched"
        entry = {
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "fault": fault,
            "idempotency_key": idempotency_key,
            "time": time.time(),
        }
        with self._lock:
            self.total += 1
            self.by_route[key] += 1
            self.entries.append(entry)

    def query(self, method: str | None = None, path_prefix: str | None = None) -> list[dict[str, Any]]:
        """Log entries, oldest first, filtered by method and path prefix."""
        with self._lock:
            entries = list(self.entries)
        return [
            dict(e)
            for e in entries
            if (method is None or e["method"] == method.upper())
            and (path_prefix is None or e["path"].startswith(path_prefix))
        ]
