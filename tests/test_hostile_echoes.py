"""What a server sends back never carries the key out, and a huge error body is never rendered whole."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxServerError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.conftest import TEST_API_KEY
from tests.helpers.loopback import Reply, loopback_connection

CALL = "call_echo"
PATH = f"/v1/calls/{CALL}"


def escaped(text: str) -> str:
    """``text`` with every character as a JSON ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(char):04x}" for char in text)


def test_a_successful_answer_echoing_the_key_escaped_returns_it_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    note = escaped(TEST_API_KEY)
    body = f'{{"id": "{CALL}", "status": "completed", "metadata": {{"note": "{note}"}}}}'.encode()
    with loopback_connection(monkeypatch, {("GET", PATH): Reply(200, body)}):
        record = OneInboxHook().get_call(CALL)
    assert TEST_API_KEY not in json.dumps(record)
    assert record["metadata"]["note"] == "***"


def test_a_huge_error_body_is_quoted_cut_not_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    detail = [{"loc": ["body", f"field_{i}"], "msg": "x" * 100, "type": "t"} for i in range(50_000)]
    body = json.dumps({"detail": detail}).encode()  # about 6 MB
    with loopback_connection(monkeypatch, {("GET", PATH): Reply(500, body)}, max_retries=0):
        started = time.monotonic()
        with pytest.raises(OneInboxServerError) as info:
            OneInboxHook().get_call(CALL)
    assert len(str(info.value)) < 2000
    assert time.monotonic() - started < 5
