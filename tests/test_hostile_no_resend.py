"""Row 10 of issue 10: no HTTP client re-sends a request on its own; only the provider's policy retries."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxTransportError
from tests.helpers.hostile import Peer, hostile_connection, with_each_hook

CALL = "call_once"
RECORD = {"id": CALL, "status": "in_progress"}


def close_first_connection_after_headers(peer: Peer, index: int) -> None:
    """The first connection reads the request and closes without a byte; later ones answer."""
    while peer.read_request() is not None:
        if index == 0:
            peer.close()
            return
        peer.respond(200, RECORD)


GETS = with_each_hook(CALL)


@GETS
def test_a_closed_connection_is_not_resent_by_the_client(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    with hostile_connection(
        monkeypatch, close_first_connection_after_headers, lifetime=10, max_retries=0
    ) as server:
        with pytest.raises(OneInboxTransportError) as info:
            get()
        assert len(server.requests) == 1
    assert info.value.request_sent is True


@GETS
def test_the_provider_policy_retries_it(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    with hostile_connection(
        monkeypatch, close_first_connection_after_headers, lifetime=10, max_retries=1
    ) as server:
        assert get() == RECORD
        assert len(server.requests) == 2
