"""Stopping a call that already ended is not an error, whichever way the API says so."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxConflictError,
    OneInboxError,
    OneInboxInvalidIdError,
    OneInboxValidationError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from tests.helpers.loopback import Reply, loopback_connection

CALL = "6f1c1d9e-8a57-4a8e-9a39-0c8f3f2f6b11"
STOP = ("POST", f"/v1/calls/{CALL}/stop")
READ = ("GET", f"/v1/calls/{CALL}")


def _stop_sync() -> dict[str, Any]:
    return OneInboxHook().stop_call(CALL)


def _stop_async() -> dict[str, Any]:
    return asyncio.run(OneInboxAsyncHook().stop_call(CALL))


BOTH = pytest.mark.parametrize("stop", [_stop_sync, _stop_async], ids=["sync", "async"])


@BOTH
@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (Reply(409, {"detail": "Call already ended"}), "completed"),
        (Reply(400, {"detail": "Call has already ended", "code": "CALL_ALREADY_ENDED"}), "failed"),
    ],
)
def test_refused_stop_of_an_ended_call_returns_its_record(
    monkeypatch: pytest.MonkeyPatch, stop: Callable[[], dict[str, Any]], refusal: Reply, status: str
) -> None:
    record = {"id": CALL, "status": status, "end_reason": "customer_hangup"}
    with loopback_connection(monkeypatch, {STOP: refusal, READ: Reply(200, record)}) as server:
        assert stop() == record
    assert [(seen.method, seen.path) for seen in server.requests()] == [STOP, READ]


@BOTH
def test_refused_stop_of_a_live_call_still_raises(
    monkeypatch: pytest.MonkeyPatch, stop: Callable[[], dict[str, Any]]
) -> None:
    script = {
        STOP: Reply(409, {"detail": "Call is being transferred"}),
        READ: Reply(200, {"id": CALL, "status": "in_progress"}),
    }
    with (
        loopback_connection(monkeypatch, script),
        pytest.raises(OneInboxConflictError, match="Call is being transferred"),
    ):
        stop()


@BOTH
def test_refused_stop_raises_the_refusal_when_the_call_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, stop: Callable[[], dict[str, Any]]
) -> None:
    script = {STOP: Reply(400, {"detail": "Cannot stop"}), READ: Reply(503, {"detail": "down"})}
    with (
        loopback_connection(monkeypatch, script, max_retries=1) as server,
        pytest.raises(OneInboxValidationError, match="Cannot stop"),
    ):
        stop()
    assert len(server.requests(*READ)) == 2  # the read is retried like any read, then given up


@BOTH
def test_malformed_id_on_stop_is_not_mistaken_for_an_ended_call(
    monkeypatch: pytest.MonkeyPatch, stop: Callable[[], dict[str, Any]]
) -> None:
    body = {
        "detail": [
            {"loc": ["path", "call_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}
        ]
    }
    with (
        loopback_connection(monkeypatch, {STOP: Reply(422, body)}) as server,
        pytest.raises(OneInboxInvalidIdError),
    ):
        stop()
    assert server.requests(*READ) == []


@BOTH
def test_other_stop_errors_do_not_read_the_call(
    monkeypatch: pytest.MonkeyPatch, stop: Callable[[], dict[str, Any]]
) -> None:
    with (
        loopback_connection(monkeypatch, {STOP: Reply(404, {"detail": "Call not found"})}) as server,
        pytest.raises(OneInboxError, match="404"),
    ):
        stop()
    assert server.requests(*READ) == []
