"""
Turning what came back (a response, or a failure below HTTP) into results and typed errors.

Shared by both hooks so that a 404 or a dropped connection reads the same whichever client
met it. Every text that could come from outside is redacted of the API key.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_oneinbox.exceptions import (
    MAX_QUOTED_BODY_CHARS,
    OneInboxError,
    OneInboxInvalidIdError,
    OneInboxTransportError,
    error_code_of,
    error_from_response,
    parse_retry_after,
    sanitize_detail,
)
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.status import OneInboxCallStatus

REDACTED = "***"


def redact(text: str, secret: str, *others: str) -> str:
    """
    ``text`` with every occurrence of ``secret`` (and of each of ``others``) replaced by ``***``.

    :param text: Any text that may quote a request (an error body, an exception's message).
    :param secret: The API key.
    :param others: More secrets, e.g. the carrier key a request carries.
    """
    for value in sorted((secret, *others), key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    return text


def redact_parsed(value: Any, secrets: tuple[str, ...]) -> Any:
    """
    ``value`` (parsed JSON) with every secret redacted from its strings.

    Redacting the raw text is not enough: JSON may have escaped a secret (``\\u0041``,
    ``\\/``), which parsing turns back into the secret itself.

    :param value: Parsed JSON.
    :param secrets: The API key and the request's own secrets.
    """
    if isinstance(value, str):
        return redact(value, *secrets) if secrets else value
    if isinstance(value, list):
        return [redact_parsed(item, secrets) for item in value]
    if isinstance(value, dict):
        return {redact_parsed(key, secrets): redact_parsed(item, secrets) for key, item in value.items()}
    return value


def decode_response(
    request: ApiRequest, status: int, body: bytes, retry_after: str | None, secret: str
) -> Any:
    """
    The parsed JSON of a 2xx response (``None`` when empty), or raise the typed error.

    :param request: The request this answers.
    :param status: HTTP status.
    :param body: Raw response body.
    :param retry_after: The ``Retry-After`` header, if any.
    :param secret: The API key, redacted from anything quoted (and so are ``request.secrets``).
    """
    secrets = (secret, *request.secrets)
    text = redact(body.decode("utf-8", errors="replace"), *secrets)
    if 200 <= status < 300:
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            note = "" if request.repeat_safe else f". {request.unsafe_note}"
            raise OneInboxError(
                f"OneInbox API {request.label} answered {status} with a body that is not JSON{note}",
                method=request.method,
                path=request.path,
                status_code=status,
            ) from None
    code = None
    try:
        payload = redact_parsed(json.loads(text), secrets)
    except ValueError:
        detail: Any = text.strip()[:MAX_QUOTED_BODY_CHARS]
    else:
        detail = sanitize_detail(payload.get("detail", payload) if isinstance(payload, dict) else payload)
        code = error_code_of(payload)
    raise error_from_response(
        method=request.method,
        path=request.path,
        status_code=status,
        detail=detail,
        retry_after=parse_retry_after(retry_after),
        note=request.unsafe_note if status >= 500 and not request.repeat_safe else None,
        code=code,
        path_ids=request.path_ids,
    )


def transport_error(
    request: ApiRequest, reason: str, *, request_sent: bool, secret: str, transient: bool = True
) -> OneInboxTransportError:
    """
    The error for an exchange that failed below HTTP.

    :param request: The request that failed.
    :param reason: What happened (exception class and message); redacted here.
    :param request_sent: ``False`` only if the connection was never established.
    :param secret: The API key.
    :param transient: ``False`` for failures that waiting cannot fix (a rejected certificate).
    """
    message = (
        f"OneInbox API {request.label} failed without a response: {redact(reason, secret, *request.secrets)}"
    )
    if not request_sent:
        message += " (no connection was established, so the request was not sent)"
    elif not request.repeat_safe:
        message += f". {request.unsafe_note}"
    error = OneInboxTransportError(
        message, request_sent=request_sent, method=request.method, path=request.path
    )
    if not transient:
        error.transient = False
    return error


def items_of(payload: Any, request: ApiRequest) -> list[dict[str, Any]]:
    """
    The records of a list response: ``{"items": [...]}`` or a bare list.

    :param payload: Parsed response body.
    :param request: The request it answers, named in the error.
    """
    if isinstance(payload, dict) and isinstance(payload.get("items"), list):
        return payload["items"]
    if isinstance(payload, list):
        return payload
    raise OneInboxError(
        f"OneInbox API {request.label} answered with an unexpected shape: expected a list or "
        f"{{'items': [...]}}, got {type(payload).__name__}",
        method=request.method,
        path=request.path,
    )


def record_of(payload: Any, request: ApiRequest) -> dict[str, Any]:
    """
    The JSON object of a single-record response.

    :param payload: Parsed response body.
    :param request: The request it answers, named in the error.
    """
    if isinstance(payload, dict):
        return payload
    raise OneInboxError(
        f"OneInbox API {request.label} answered with an unexpected shape: expected a JSON object, "
        f"got {type(payload).__name__}",
        method=request.method,
        path=request.path,
    )


def next_cursor(page: dict[str, Any]) -> str | None:
    """
    The cursor of the page after ``page`` (cursor pagination), or ``None`` on the last page.

    :param page: A ``GET /v1/calls/cursor`` response.
    """
    cursor = page.get("next_cursor")
    return cursor if page.get("has_more", cursor is not None) and cursor else None


def next_offset(page: dict[str, Any], offset: int) -> int | None:
    """
    The offset of the page after ``page`` (offset pagination), or ``None`` on the last page.

    :param page: A ``GET /v1/calls`` or ``GET /v1/agents`` response.
    :param offset: The offset ``page`` was fetched at.
    """
    count = len(page.get("items") or [])
    total, limit = page.get("total"), page.get("limit")
    if count == 0 or (isinstance(total, int) and offset + count >= total):
        return None
    if not isinstance(total, int) and isinstance(limit, int) and count < limit:
        return None
    return offset + count


def stop_refusal_may_mean_ended(error: OneInboxError) -> bool:
    """
    Whether a refused ``POST /v1/calls/{id}/stop`` may only mean that the call had already ended.

    The API documents stopping an ended call as a no-op; an API that answers 400 or 409
    ("already ended") instead is asked for the call before the refusal counts as an error.

    :param error: What the stop failed with.
    """
    return error.status_code in (400, 409) and not isinstance(error, OneInboxInvalidIdError)


def ended_call(call: dict[str, Any] | None) -> dict[str, Any] | None:
    """
    ``call`` if it has ended (``completed`` or ``failed``), else ``None``.

    :param call: A call record, or ``None`` when it could not be read.
    """
    if call is not None and OneInboxCallStatus.is_terminal(call.get("status")):
        return call
    return None
