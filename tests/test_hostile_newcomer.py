"""A newcomer's first day (issue 10), hook side: failures that say what is wrong and how to fix it."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxConnectError,
    OneInboxNotFoundError,
    OneInboxTLSError,
)
from tests.conftest import TEST_API_KEY, connection_json
from tests.helpers.hostile import Peer, hostile_connection, with_each_hook
from tests.helpers.loopback import Reply, loopback_connection
from tests.helpers.sockets import free_port

CALL = "call_newcomer"


GETS = with_each_hook(CALL)


@GETS
def test_nothing_listening_fails_fast_and_says_so(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    """5 retries with backoff up to 60 s took 79 s; a refused loopback connect waits 1 s at most."""
    base_url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_DEFAULT",
        connection_json(base_url, max_retries=5, retry_wait_min=1, retry_wait_max=60),
    )
    started = time.monotonic()
    with pytest.raises(OneInboxConnectError) as info:
        get()
    assert time.monotonic() - started < 7
    assert f"could not connect to {base_url}: is the server running?" in str(info.value)
    assert info.value.request_sent is False
    assert info.value.transient is True


def plain_http(peer: Peer, _index: int) -> None:
    """A plain-http server: whatever arrives (a TLS ClientHello) gets an HTTP 400."""
    peer.sock.recv(4096)
    peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    peer.close()


@GETS
def test_tls_against_plain_http_says_so_and_shows_the_fix(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    """The URI form without ``/http`` as its path defaults to https."""
    with hostile_connection(monkeypatch, plain_http, lifetime=10) as server:
        uri = f"oneinbox://:{quote(TEST_API_KEY, safe='')}@127.0.0.1:{server.port}?max_retries=3"
        monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_DEFAULT", uri)
        with pytest.raises(OneInboxTLSError) as info:
            get()
        assert server.connections == 1  # permanent: not retried
    message = str(info.value)
    assert "TLS handshake" in message
    assert "no scheme, so https was assumed" in message
    assert "/http" in message
    assert "http://127.0.0.1:8123" in message
    assert info.value.request_sent is False
    assert info.value.transient is False
    assert TEST_API_KEY not in message


@GETS
def test_a_404_names_the_id_that_was_not_found(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    script = {("GET", f"/v1/calls/{CALL}"): Reply(404, {"detail": "Not Found"})}
    with loopback_connection(monkeypatch, script), pytest.raises(OneInboxNotFoundError) as info:
        get()
    assert str(info.value) == f"OneInbox API GET /v1/calls/{CALL} failed with 404: call {CALL!r} not found"
