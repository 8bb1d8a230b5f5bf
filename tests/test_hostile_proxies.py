"""Row 8 of issue 10: environment proxies are never used; a proxy is an explicit, validated extra."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxConfigError, OneInboxError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.conftest import TEST_API_KEY
from tests.helpers.hostile import HostileServer, Peer, with_each_hook
from tests.helpers.loopback import Reply, loopback_connection

CALL = "call_proxy"
RECORD = {"id": CALL, "status": "completed"}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def refuse_tunnel(peer: Peer, _index: int) -> None:
    """A proxy that records what it is asked and answers 502."""
    if peer.read_request() is not None:
        peer.respond(502, {"detail": "no tunnel today"})
        peer.close()


GETS = with_each_hook(CALL)


@GETS
def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    with HostileServer(refuse_tunnel, lifetime=10) as proxy:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, proxy.base_url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        with loopback_connection(monkeypatch, {("GET", f"/v1/calls/{CALL}"): Reply(200, RECORD)}) as api:
            assert get() == RECORD
            assert len(api.requests()) == 1
        assert proxy.requests == []


def _set_connection(monkeypatch: pytest.MonkeyPatch, host: str, **extra: Any) -> None:
    connection = {"conn_type": "oneinbox", "host": host, "password": TEST_API_KEY, "extra": extra}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_DEFAULT", json.dumps({**connection, "extra": {"max_retries": 0, **extra}})
    )


@GETS
def test_a_configured_proxy_tunnels_and_never_sees_the_key(monkeypatch: pytest.MonkeyPatch, get: Any) -> None:
    with HostileServer(refuse_tunnel, lifetime=10) as proxy:
        _set_connection(monkeypatch, "https://api.oneinbox.invalid", proxy=proxy.base_url)
        with pytest.raises(OneInboxError) as info:
            get()
    (request,) = proxy.requests
    assert request.method == "CONNECT"
    assert request.target == "api.oneinbox.invalid:443"
    assert "authorization" not in request.headers
    assert TEST_API_KEY not in repr(request)
    assert getattr(info.value, "request_sent", True) is False


@pytest.mark.parametrize(
    ("host", "proxy", "problem"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:3128", "only used for an https:// API"),
        ("https://api.oneinbox.ai", "socks5://proxy:1080", "http:// or https:// proxy URL"),
        ("https://api.oneinbox.ai", "proxy-without-scheme", "http:// or https:// proxy URL"),
        ("https://api.oneinbox.ai", 3128, "http:// or https:// proxy URL"),
    ],
)
def test_a_proxy_extra_is_validated(
    monkeypatch: pytest.MonkeyPatch, host: str, proxy: Any, problem: str
) -> None:
    _set_connection(monkeypatch, host, proxy=proxy)
    with pytest.raises(OneInboxConfigError, match=problem) as info:
        OneInboxHook().get_call(CALL)
    assert "proxy-without-scheme" not in str(info.value)  # a proxy URL may hold a password: not quoted


def test_verify_still_works_without_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """``trust_env=False`` drops REQUESTS_CA_BUNDLE; the ``verify`` extra is what sets trust."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nowhere.pem"))
    with loopback_connection(monkeypatch, {("GET", f"/v1/calls/{CALL}"): Reply(200, RECORD)}):
        assert OneInboxHook().get_call(CALL) == RECORD
