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


def test_a_proxy_password_quoted_in_another_spelling_is_redacted() -> None:
    from dataclasses import replace

    from airflow_provider_oneinbox.hooks import api, failures
    from airflow_provider_oneinbox.hooks.settings import settings_from_connection

    class Conn:
        conn_id, host, port, schema, password = (
            "oneinbox_default",
            "https://api.oneinbox.ai",
            None,
            None,
            TEST_API_KEY,
        )

    settings = replace(
        settings_from_connection(Conn(), {}),  # type: ignore[arg-type]
        proxy="https://bob:S3cret%21Pass@Proxy.Example.com:8443/",
    )
    # aiohttp quotes the proxy URL as it normalised it: host lower-cased, password unquoted.
    reason = (
        "407, message='Proxy Authentication Required', url='https://bob:S3cret!Pass@proxy.example.com:8443'"
    )
    error = failures.connect_failure(settings, api.get_call(CALL), reason)
    assert "S3cret" not in str(error)
    assert "S3cret" not in repr(error.args)
