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
    OneInboxMalformedResponseError,
    OneInboxTransportError,
    error_code_of,
    error_from_response,
    parse_retry_after,
    sanitize_detail,
)
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.redaction import REDACTED, redact, redact_parsed
from airflow_provider_oneinbox.status import OneInboxCallStatus

#: Deepest nesting of arrays and objects accepted in a response; OneInbox's records nest a few levels.
MAX_JSON_DEPTH = 64


def malformed(request: ApiRequest, status: int | None, problem: str) -> OneInboxMalformedResponseError:
    """
    The error for a response that cannot be used (``problem`` says why, never quoting the body).

    :param request: The request it answers.
    :param status: Its HTTP status.
    :param problem: E.g. ``"a body that is not JSON"``.
    """
    note = "" if request.repeat_safe else f". {request.unsafe_note}"
    return OneInboxMalformedResponseError(
        f"OneInbox API {request.label} answered {status} with {problem}{note}",
        method=request.method,
        path=request.path,
        status_code=status,
    )


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests arrays and objects deeper than :data:`MAX_JSON_DEPTH`; iterative."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    return True
                pending.append((child, depth + 1))
    return False


def parse_json(text: str) -> Any:
    """
    ``json.loads(text)``, refusing JSON nested deeper than :data:`MAX_JSON_DEPTH`.

    :param text: The body.
    :raises ValueError: Not JSON.
    :raises RecursionError: Nested too deeply.
    """
    value = json.loads(text)
    if _too_deep(value):
        raise RecursionError("nested too deeply")
    return value


#: An error body longer than this is quoted (redacted, then cut), not parsed and rendered whole.
MAX_ERROR_BODY_CHARS = 64 * 1024


def decode_response(
    request: ApiRequest, status: int, body: bytes, retry_after: str | None, secret: str
) -> Any:
    """
    The parsed JSON of a 2xx response, or raise the typed error.

    A 2xx without a body is ``None`` for a 204 or an endpoint that may answer with nothing
    (``request.expects_body`` false, e.g. ``DELETE``), and an error everywhere else.

    :param request: The request this answers.
    :param status: HTTP status.
    :param body: Raw response body.
    :param retry_after: The ``Retry-After`` header, if any.
    :param secret: The API key, redacted from anything quoted (and so are ``request.secrets``).
    """
    secrets = (secret, *request.secrets)
    text = body.decode("utf-8", errors="replace")
    if 200 <= status < 300:
        if not text.strip():
            if status == 204 or not request.expects_body:
                return None
            raise malformed(request, status, "an empty body where JSON was expected")
        for value in sorted(secrets, key=len, reverse=True):
            if value:
                text = text.replace(value, REDACTED)
        try:
            parsed = parse_json(text)
            # A JSON escape decodes back into the secret itself: redact after decoding too.
            return redact_parsed(parsed, secrets) if "\\u" in text else parsed
        except RecursionError:
            raise malformed(request, status, f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:
            raise malformed(request, status, "a body that is not JSON") from None
    code = None
    try:
        if len(text) > MAX_ERROR_BODY_CHARS:
            raise ValueError("an error body too large to render")  # quoted (redacted, cut) below
        # Parsed before redacting: parsing turns JSON escapes back into the secret itself.
        payload = redact_parsed(parse_json(text), secrets)
    except (ValueError, RecursionError):
        detail: Any = redact(text, *secrets).strip()[:MAX_QUOTED_BODY_CHARS]
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
    raise OneInboxMalformedResponseError(
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
    raise OneInboxMalformedResponseError(
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
