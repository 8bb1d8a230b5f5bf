"""
``max_retries=0`` on either hook's constructor turns request-level retries off: a wait that owns
its backoff gets a 503 or a 429 after exactly one request, however the connection's extra is set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxRateLimitError,
    OneInboxServerError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from tests.helpers.hostile import Peer, hostile_connection, serve_forever

CALL = "call_busy"

ANSWERS: dict[int, tuple[dict[str, Any], dict[str, str]]] = {
    503: ({"detail": "Service Unavailable"}, {}),
    429: ({"detail": "Too Many Requests"}, {"Retry-After": "0"}),
}
ERRORS: dict[int, type[OneInboxError]] = {503: OneInboxServerError, 429: OneInboxRateLimitError}


def always(status: int) -> Callable[[Peer, int], None]:
    """Answer every request with ``status`` (a 429 asks for no wait, so a retry would be quick)."""
    body, headers = ANSWERS[status]
    return lambda peer, _index: serve_forever(peer, lambda _request: peer.respond(status, body, headers))


def read_sync(max_retries: int | None) -> Any:
    with OneInboxHook(max_retries=max_retries) as hook:
        return hook.get_call(CALL)


def read_async(max_retries: int | None) -> Any:
    async def run() -> Any:
        async with OneInboxAsyncHook(max_retries=max_retries) as hook:
            return await hook.get_call(CALL)

    return asyncio.run(run())


FACES = pytest.mark.parametrize("read", [read_sync, read_async], ids=["sync", "async"])
STATUSES = pytest.mark.parametrize("status", [503, 429])


@FACES
@STATUSES
def test_max_retries_zero_sends_exactly_one_request(
    monkeypatch: pytest.MonkeyPatch, read: Callable[[int | None], Any], status: int
) -> None:
    with hostile_connection(monkeypatch, always(status), lifetime=10, max_retries=5) as server:
        started = time.monotonic()
        with pytest.raises(ERRORS[status]) as info:
            read(0)
        assert len(server.requests) == 1
    assert info.value.status_code == status
    assert time.monotonic() - started < 2


@FACES
@STATUSES
def test_without_the_override_the_connection_extra_retries(
    monkeypatch: pytest.MonkeyPatch, read: Callable[[int | None], Any], status: int
) -> None:
    """The control: the same server and hook, the extra's ``max_retries=2`` in force."""
    with hostile_connection(monkeypatch, always(status), lifetime=10, max_retries=2) as server:
        with pytest.raises(ERRORS[status]):
            read(None)
        assert len(server.requests) == 3
