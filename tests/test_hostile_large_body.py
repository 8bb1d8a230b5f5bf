"""Row 3 of issue 10: a response size cap (``max_response_bytes``); memory stays flat past it."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from airflow_provider_oneinbox.exceptions import OneInboxResponseTooLargeError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.helpers.hostile import Peer, hostile_connection, with_each_hook

CALL = "call_big"
MIB = 1024 * 1024
STREAMED = 200 * MIB


def declares_two_gib(peer: Peer, _index: int) -> None:
    """Declares a 2 GiB body, then sends a few bytes at a time (a client buffering it would wait)."""
    if peer.read_request() is not None:
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n[")
        peer.drip(b"1," * 1000, 0.2)


def streams_200_mb(peer: Peer, _index: int) -> None:
    """A 200 MB JSON array, chunked, as fast as the client reads it."""
    if peer.read_request() is None:
        return
    peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b'"' + b"x" * (MIB - 3) + b'",'
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    while sent < STREAMED and peer.send(chunk):
        sent += len(piece)
    peer.send(b"1\r\n]\r\n0\r\n\r\n")


GETS = with_each_hook(CALL)


@GETS
def test_a_declared_size_past_the_cap_fails_at_once(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    with hostile_connection(monkeypatch, declares_two_gib, lifetime=15, max_retries=3) as server:
        started = time.monotonic()
        with pytest.raises(OneInboxResponseTooLargeError) as info:
            get()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert "declares 2147483648 bytes" in str(info.value)
    assert info.value.limit == 16 * MIB
    assert info.value.transient is False
    assert len(server.requests) == 1  # permanent: not retried


@GETS
def test_a_streamed_body_past_the_cap_fails_with_flat_memory(
    monkeypatch: pytest.MonkeyPatch, get: Any
) -> None:
    process = psutil.Process()
    with hostile_connection(
        monkeypatch, streams_200_mb, lifetime=30, max_retries=3, max_response_bytes=4 * MIB
    ) as server:
        before = process.memory_info().rss
        started = time.monotonic()
        with pytest.raises(OneInboxResponseTooLargeError) as info:
            get()
        elapsed = time.monotonic() - started
        growth = process.memory_info().rss - before
    assert "passed 4194304 bytes" in str(info.value)
    assert growth < 40 * MIB, f"RSS grew by {growth / MIB:.0f} MiB reading a {STREAMED // MIB} MB body"
    assert elapsed < 10
    assert len(server.requests) == 1


def test_the_cap_is_a_validated_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_oneinbox.exceptions import OneInboxConfigError
    from tests.conftest import connection_json

    for bad in (0, -1, "lots", 1.5, True):
        monkeypatch.setenv(
            "AIRFLOW_CONN_ONEINBOX_DEFAULT", connection_json("http://127.0.0.1:9", max_response_bytes=bad)
        )
        with pytest.raises(OneInboxConfigError, match="max_response_bytes"):
            OneInboxHook().get_call(CALL)
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_DEFAULT", connection_json("http://127.0.0.1:9"))
    assert OneInboxHook().settings.max_response_bytes == 16 * MIB
