"""Row 2 of issue 10: one total deadline per request (connect + headers + body), in both hooks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxTimeoutError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from tests.conftest import connection_json
from tests.helpers.hostile import Peer, hostile_connection

CALL = "call_slow"
TIMEOUT = 1.0
SLACK = 1.0


def drip_headers(peer: Peer, _index: int) -> None:
    """A byte of the response head every 0.3 s: each read is quick, the whole never ends in time."""
    if peer.read_request() is not None:
        peer.drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 200, 0.3)


def endless_chunks(peer: Peer, _index: int) -> None:
    """Headers at once, then a chunked body that never ends (a chunk every 0.1 s)."""
    if peer.read_request() is None:
        return
    peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    peer.send(b"1\r\n[\r\n")
    while peer.send(b"2\r\n1,\r\n"):
        time.sleep(0.1)


def drip_body(peer: Peer, _index: int) -> None:
    """A declared Content-Length, then the body one byte every 0.3 s."""
    if peer.read_request() is None:
        return
    body = b'{"id": "call_slow", "status": "completed", "padding": "' + b"x" * 100 + b'"}'
    peer.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    peer.drip(body, 0.3)


BEHAVIOURS = {"drip_headers": drip_headers, "endless_chunks": endless_chunks, "drip_body": drip_body}


def _sync_get(_deadline: float | None = None) -> Any:
    return OneInboxHook().get_call(CALL, timeout=_deadline)


def _async_get(deadline: float | None = None) -> Any:
    async def run() -> Any:
        async with OneInboxAsyncHook() as hook:
            return await hook.get_call(CALL, timeout=deadline)

    return asyncio.run(run())


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
@pytest.mark.parametrize("get", [_sync_get, _async_get], ids=["sync", "async"])
def test_a_slow_server_ends_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, behaviour: str, get: Any
) -> None:
    with hostile_connection(
        monkeypatch, BEHAVIOURS[behaviour], lifetime=15, timeout=TIMEOUT, max_retries=0
    ) as server:
        started = time.monotonic()
        with pytest.raises(OneInboxTimeoutError) as info:
            get()
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK, f"took {elapsed:.1f} s for a {TIMEOUT} s timeout"
    assert info.value.transient is True
    assert info.value.request_sent is True
    assert f"did not complete within {TIMEOUT:g} s" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("get", [_sync_get, _async_get], ids=["sync", "async"])
def test_a_caller_deadline_bounds_the_read_and_its_retries(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    """``get_call(timeout=...)``: a trigger bounds one poll, retries included, by its own deadline."""
    with hostile_connection(monkeypatch, drip_headers, lifetime=15, timeout=10, max_retries=5):
        started = time.monotonic()
        with pytest.raises(OneInboxTimeoutError):
            get(0.8)
        elapsed = time.monotonic() - started
    assert elapsed < 0.8 + SLACK, f"took {elapsed:.1f} s for a 0.8 s deadline"


def drip_tls_handshake(peer: Peer, _index: int) -> None:
    """A TLS record announcing a 16 KiB ServerHello, its body one byte every 0.3 s: never ends."""
    if peer.send(b"\x16\x03\x03\x40\x00" + b"\x02\x00\x3f\xfc"):  # record, handshake headers
        peer.drip(b"\x03\x03" + b"\x00" * 200, 0.3)


@pytest.mark.parametrize("get", [_sync_get, _async_get], ids=["sync", "async"])
def test_a_dripped_tls_handshake_ends_within_the_timeout(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    """Before any byte is sent: CPython's ``ssl`` bounds a whole handshake by the socket timeout."""
    with hostile_connection(monkeypatch, drip_tls_handshake, lifetime=15) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ONEINBOX_DEFAULT",
            connection_json(server.base_url.replace("http://", "https://"), timeout=TIMEOUT, max_retries=0),
        )
        started = time.monotonic()
        with pytest.raises(OneInboxTimeoutError) as info:
            get()
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK, f"took {elapsed:.1f} s for a {TIMEOUT} s timeout"
    assert info.value.request_sent is False  # nothing went past the handshake
