"""Row 9 of issue 10: deep JSON, wrong-typed fields, cut and empty responses give typed errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxInputError,
    OneInboxMalformedResponseError,
    OneInboxTransportError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.helpers.hostile import Peer, hostile_connection, with_each_hook
from tests.helpers.loopback import Reply, loopback_connection

CALL = "call_broken"
WEBHOOK = "wh_1"


GETS = with_each_hook(CALL)


def raw(answer: bytes) -> Callable[[Peer, int], None]:
    """Answer every request with ``answer``'s bytes, then close the connection."""

    def behaviour(peer: Peer, _index: int) -> None:
        if peer.read_request() is not None:
            peer.send(answer)
            peer.close()

    return behaviour


@GETS
def test_deeply_nested_json_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    script = {("GET", f"/v1/calls/{CALL}"): Reply(200, deep)}
    with loopback_connection(monkeypatch, script), pytest.raises(OneInboxMalformedResponseError) as info:
        get()
    assert "nested deeper than 64 levels" in str(info.value)


@GETS
def test_moderately_deep_json_too(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    """Deep enough to parse, deep enough to break whatever reads it next."""
    deep = b'{"id": "call_broken", "variables": ' + b'{"a": ' * 900 + b"1" + b"}" * 901
    script = {("GET", f"/v1/calls/{CALL}"): Reply(200, deep)}
    with loopback_connection(monkeypatch, script), pytest.raises(OneInboxMalformedResponseError):
        get()


@GETS
@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"id": CALL, "status": ["completed"]}, "status"),
        ({"id": CALL, "status": "completed", "messages": 5}, "messages"),
        ({"id": CALL, "status": "completed", "analysis": "great"}, "analysis"),
        ({"id": CALL, "status": "completed", "transcript": 7}, "transcript"),
    ],
)
def test_a_wrong_typed_field_is_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, get: Any, record: dict[str, Any], field: str
) -> None:
    script = {("GET", f"/v1/calls/{CALL}"): Reply(200, record)}
    with loopback_connection(monkeypatch, script), pytest.raises(OneInboxMalformedResponseError) as info:
        get()
    assert f"field {field!r}" in str(info.value)


def test_a_wrong_typed_page_item_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    page = {"items": [{"id": "c1", "status": 3}], "has_more": False, "next_cursor": None}
    script = {("GET", "/v1/calls/cursor"): Reply(200, page)}
    with (
        loopback_connection(monkeypatch, script),
        pytest.raises(OneInboxMalformedResponseError, match="status"),
    ):
        OneInboxHook().list_calls_cursor()


def test_a_response_cut_after_its_status_line_is_a_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read as an empty 200 before, so ``delete_webhook`` "succeeded"."""
    with (
        hostile_connection(monkeypatch, raw(b"HTTP/1.1 200 OK\r\n"), lifetime=10, max_retries=0),
        pytest.raises(OneInboxTransportError, match="cut off after its status line") as info,
    ):
        OneInboxHook().delete_webhook(WEBHOOK)
    assert info.value.transient is True
    assert info.value.request_sent is True


@GETS
def test_a_get_cut_after_its_status_line_is_a_transport_error(
    monkeypatch: pytest.MonkeyPatch, get: Any
) -> None:
    with (
        hostile_connection(monkeypatch, raw(b"HTTP/1.1 200 OK\r\n"), lifetime=10, max_retries=0),
        pytest.raises(OneInboxTransportError) as info,
    ):
        get()
    assert info.value.transient is True


@GETS
def test_a_short_body_is_a_transient_transport_error(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    answer = (
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"id": "call_br'
    )
    with (
        hostile_connection(monkeypatch, raw(answer), lifetime=10, max_retries=0),
        pytest.raises(OneInboxTransportError, match="cut off") as info,
    ):
        get()
    assert info.value.transient is True
    assert info.value.request_sent is True


@GETS
def test_an_empty_2xx_where_json_is_expected_is_an_error(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    script = {("GET", f"/v1/calls/{CALL}"): Reply(200, b"")}
    with (
        loopback_connection(monkeypatch, script),
        pytest.raises(OneInboxMalformedResponseError, match="empty body"),
    ):
        get()


def test_an_empty_answer_to_a_delete_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    script = {("DELETE", f"/v1/webhooks/{WEBHOOK}"): [Reply(204, b""), Reply(200, b"")]}
    with loopback_connection(monkeypatch, script) as server:
        OneInboxHook().delete_webhook(WEBHOOK)  # 204
        OneInboxHook().delete_webhook(WEBHOOK)  # 200, framed and empty
        assert len(server.requests()) == 2


@pytest.mark.parametrize("key", ["line\nbreak", "caf\u00e9-key", "emoji-\U0001f600", "tab\there"])
def test_an_idempotency_key_a_header_cannot_carry_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    with loopback_connection(monkeypatch, {}) as server:
        with pytest.raises(OneInboxInputError, match="idempotency_key") as info:
            OneInboxHook().create_call("agt_1", "+14155550101", "+14155550100", idempotency_key=key)
        assert server.requests() == []
    assert key not in str(info.value)
    assert not isinstance(info.value.__context__, UnicodeError)


def test_a_client_that_cannot_encode_a_header_never_leaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: should a value slip past the checks, the client's error is not passed on."""
    from dataclasses import replace

    from airflow_provider_oneinbox.hooks import api

    secret = "s\u20acret-value"
    with loopback_connection(monkeypatch, {}) as server:
        request = replace(api.get_call(CALL), headers={"X-Thing": secret})
        with pytest.raises(OneInboxError) as info:
            OneInboxHook()._request(request)
        assert server.requests() == []
    assert secret not in repr(info.value.__dict__) + str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
