"""Client-side validation, settings parsing and response decoding: pure functions, no server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxConflictError,
    OneInboxError,
    OneInboxInputError,
    OneInboxNotFoundError,
    OneInboxRateLimitError,
    OneInboxServerError,
    OneInboxValidationError,
    error_from_response,
    parse_retry_after,
)
from airflow_provider_oneinbox.hooks import api
from airflow_provider_oneinbox.hooks.responses import decode_response, next_cursor, next_offset
from airflow_provider_oneinbox.hooks.settings import (
    DEFAULT_BASE_URL,
    build_base_url,
    is_loopback_host,
    settings_from_connection,
)
from airflow_provider_oneinbox.models.phone import normalize_phone_number
from airflow_provider_oneinbox.validation import (
    MAX_JSON_OBJECT_BYTES,
    require_e164,
    require_iso_datetime,
    require_json_object,
    require_page_size,
    require_positive_number,
)
from tests.conftest import TEST_API_KEY


@pytest.mark.parametrize("number", ["+14155550123", "+442071838750", "+61491570006", "+80012345678"])
def test_validation_accepts_e164(number: str) -> None:
    assert require_e164("to_number", number) == number


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("+1 415 555 0123", "+14155550123"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("+44 20.7183.8750", "+442071838750"),
    ],
)
def test_normalize_phone_number_drops_separators_but_requests_take_e164_as_written(
    given: str, e164: str
) -> None:
    assert normalize_phone_number("to_number", given) == e164
    with pytest.raises(OneInboxInputError, match="to_number"):
        require_e164("to_number", given)


@pytest.mark.parametrize(
    "number",
    [
        "14155550123",
        "+04155550123",
        "+1 415 555 0123",
        "+1234567890123456",
        "+1",
        "",
        None,
        14155550123,
        "+1-800-FLOWERS",  # letters: libphonenumber would read them as digits; a typo is likelier
        "+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663",  # Arabic-Indic digits
        "+14155550123 ext. 5",
    ],
)
def test_validation_rejects_non_e164_and_shows_the_form(number: object) -> None:
    with pytest.raises(OneInboxInputError, match=r"\+14155550123") as info:
        require_e164("to_number", number)
    assert info.value.field == "to_number"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+10", "too short"),
        ("+12", "too short"),
        ("+123456789012345", "too long for country code +1 (US)"),
        ("+15550001000", "not in the numbering plan of country code +1 (US)"),  # area code 555
        ("+4420718387", "country code +44 (GB)"),
        ("+999123456789", "no country code"),
    ],
)
def test_validation_refuses_numbers_that_cannot_exist_naming_the_field(number: str, why: str) -> None:
    with pytest.raises(OneInboxInputError, match=r"\+14155550123") as info:
        require_e164("from_number", number)
    assert info.value.field == "from_number"
    assert "cannot exist" in str(info.value)
    assert why in str(info.value)


def test_validation_json_objects() -> None:
    assert require_json_object("variables", {"name": "Ada", "n": [1, 2]}) == {"name": "Ada", "n": [1, 2]}
    with pytest.raises(OneInboxInputError, match="dict"):
        require_json_object("variables", ["not", "a", "dict"])
    with pytest.raises(OneInboxInputError, match="JSON-serializable"):
        require_json_object("metadata", {"when": datetime.now(UTC)})
    with pytest.raises(OneInboxInputError, match="JSON-serializable"):
        require_json_object("metadata", {"x": float("nan")})
    with pytest.raises(OneInboxInputError, match=str(MAX_JSON_OBJECT_BYTES)):
        require_json_object("metadata", {"blob": "x" * MAX_JSON_OBJECT_BYTES})


def test_validation_numbers_and_dates() -> None:
    assert require_page_size("limit", 100) == 100
    for bad in (0, 101, -1, True, 1.5, "10"):
        with pytest.raises(OneInboxInputError, match="limit"):
            require_page_size("limit", bad)
    assert require_positive_number("timeout", 0.5) == 0.5
    with pytest.raises(OneInboxInputError):
        require_positive_number("timeout", 0)
    aware = datetime(2030, 1, 31, 15, 0, tzinfo=timezone(timedelta(hours=1)))
    assert require_iso_datetime("scheduled_at", aware) == "2030-01-31T15:00:00+01:00"
    assert require_iso_datetime("scheduled_at", "2030-01-31T15:00:00Z") == "2030-01-31T15:00:00+00:00"
    with pytest.raises(OneInboxInputError, match="timezone-aware"):
        require_iso_datetime("scheduled_at", datetime(2030, 1, 31, 15, 0))
    with pytest.raises(OneInboxInputError, match="ISO 8601"):
        require_iso_datetime("scheduled_at", "next tuesday")


def test_validation_in_builders() -> None:
    with pytest.raises(OneInboxInputError, match="call_id"):
        api.get_call("  ")
    with pytest.raises(OneInboxInputError, match="webhook_url"):
        api.create_call("agt_sales", "+14155550123", "+14155550100", webhook_url="ftp://x")
    with pytest.raises(OneInboxInputError, match="provider"):
        api.create_credential("main", "", "key")
    with pytest.raises(OneInboxInputError, match="at least one"):
        api.update_webhook("wh_1")
    with pytest.raises(OneInboxInputError, match="events"):
        api.create_webhook("w", "https://example.com/h", [])


def test_validation_builders_mark_what_may_be_repeated() -> None:
    call = api.create_call("agt_sales", "+14155550123", "+14155550100", idempotency_key="k-1")
    assert (call.method, call.path, call.repeat_safe) == ("POST", "/v1/calls", False)
    assert call.headers == {"Idempotency-Key": "k-1"}
    assert "may have been placed" in call.unsafe_note
    assert "variables" not in (call.json or {})
    not_repeatable = [
        api.create_web_call("agt_sales"),
        api.create_credential("main", "twilio", "secret"),
        api.register_phone_number("+14155550123"),
        api.purchase_phone_number(),
        api.create_webhook("w", "https://example.com/h", ["call.ended"]),
    ]
    assert not any(request.repeat_safe for request in not_repeatable)
    repeatable = [
        api.get_call("c"),
        api.stop_call("c"),
        api.update_call_outcome("c", "Interested"),
        api.delete_webhook("w"),
        api.test_webhook("w"),
        api.update_phone_number("p", "a"),
        api.list_calls(),
    ]
    assert all(request.repeat_safe for request in repeatable)
    assert api.get_call("../agents/x").path == "/v1/calls/..%2Fagents%2Fx"


def _conn(host: str | None = None, password: str | None = TEST_API_KEY, **fields: Any) -> Connection:
    return Connection(conn_id="oneinbox_test", conn_type="oneinbox", host=host, password=password, **fields)


def test_validation_settings_defaults_and_repr() -> None:
    settings = settings_from_connection(_conn(), {})
    assert settings.base_url == DEFAULT_BASE_URL
    assert (settings.timeout, settings.max_retries, settings.retry_wait_min, settings.retry_wait_max) == (
        30.0,
        5,
        1.0,
        60.0,
    )
    assert settings.verify is True
    assert TEST_API_KEY not in repr(settings)
    assert "Bearer" not in repr(settings)
    overridden = settings_from_connection(
        _conn(), {"timeout": "7", "max_retries": 2, "verify": "false"}, timeout=3, max_retries=0
    )
    assert (overridden.timeout, overridden.max_retries, overridden.verify) == (3.0, 0, False)


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("http://127.0.0.1:8123", None, None, "http://127.0.0.1:8123"),
        ("http://localhost:8123/", None, None, "http://localhost:8123"),
        ("http://[::1]:8123", None, None, "http://[::1]:8123"),
        ("api.oneinbox.ai", None, None, "https://api.oneinbox.ai"),
        ("127.0.0.5", 9000, "http", "http://127.0.0.5:9000"),
        ("https://proxy.example.com/oneinbox/", None, None, "https://proxy.example.com/oneinbox"),
    ],
)
def test_validation_base_url(host: str, port: int | None, schema: str | None, expected: str) -> None:
    assert build_base_url("c", host, port, schema) == expected


@pytest.mark.parametrize("host", ["http://api.oneinbox.ai", "http://10.0.0.1:8123", "http://127.example.com"])
def test_validation_plain_http_refused_off_loopback(host: str) -> None:
    with pytest.raises(OneInboxConfigError, match="plain http"):
        build_base_url("oneinbox_test", host, None, None)
    assert not is_loopback_host(host.split("//")[1].split(":")[0])


def test_validation_settings_errors_name_the_connection() -> None:
    with pytest.raises(OneInboxConfigError, match=r"oneinbox_test.*API key"):
        settings_from_connection(_conn(password=""), {})
    with pytest.raises(OneInboxConfigError, match="timeout"):
        settings_from_connection(_conn(), {"timeout": "soon"})
    with pytest.raises(OneInboxConfigError, match="retry_wait_max"):
        settings_from_connection(_conn(), {"retry_wait_min": 5, "retry_wait_max": 1})
    with pytest.raises(OneInboxConfigError, match="call_url_template"):
        settings_from_connection(_conn(), {"call_url_template": "https://x/{call}"})
    with pytest.raises(OneInboxConfigError, match="ftp"):
        settings_from_connection(_conn(host="ftp://files.example.com"), {})


def test_validation_retry_after_both_forms() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, OneInboxAuthError),
        (403, OneInboxAuthError),
        (404, OneInboxNotFoundError),
        (409, OneInboxConflictError),
        (400, OneInboxValidationError),
        (422, OneInboxValidationError),
        (429, OneInboxRateLimitError),
        (503, OneInboxServerError),
        (418, OneInboxError),
    ],
)
def test_validation_error_classes(status: int, cls: type[OneInboxError]) -> None:
    error = error_from_response(method="GET", path="/v1/calls/x", status_code=status, detail="nope")
    assert type(error) is cls
    assert str(error) == f"OneInbox API GET /v1/calls/x failed with {status}: nope"


def test_validation_decode_drops_echoed_input_and_redacts_key() -> None:
    request = api.create_credential("main", "twilio", "carrier-secret")
    body = (
        b'{"detail": [{"loc": ["body", "api_key"], "msg": "bad ' + TEST_API_KEY.encode() + b'", '
        b'"type": "value_error", "input": "carrier-secret"}]}'
    )
    with pytest.raises(OneInboxValidationError) as info:
        decode_response(request, 422, body, None, TEST_API_KEY)
    assert "body.api_key: bad ***" in str(info.value)
    assert "carrier-secret" not in repr(info.value.detail)
    assert TEST_API_KEY not in str(info.value)


def test_validation_page_walkers() -> None:
    assert next_cursor({"items": [{}], "next_cursor": "c2", "has_more": True}) == "c2"
    assert next_cursor({"items": [{}], "next_cursor": "c2", "has_more": False}) is None
    assert next_offset({"items": [{}] * 20, "total": 45}, 20) == 40
    assert next_offset({"items": [{}] * 5, "total": 45}, 40) is None
    assert next_offset({"items": [], "total": 45}, 45) is None
