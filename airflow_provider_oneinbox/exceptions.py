"""Typed errors raised by the OneInbox hooks.

Every error raised for an HTTP exchange names the method, the path, the status and the API's
own detail. None of them ever carries the API key: messages are built from the request line
and the response body only, never from headers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_oneinbox._compat import UTC


class OneInboxError(Exception):
    """
    Base class of every error the OneInbox provider raises for an API exchange.

    :param message: Human readable description, already free of secrets.
    :param method: HTTP method of the failed request, e.g. ``"GET"``.
    :param path: Request path, e.g. ``"/v1/calls/call_123"``.
    :param status_code: HTTP status of the response, ``None`` when none was received.
    :param detail: The API's ``detail`` field (a string, FastAPI's list of errors, or an object).
    :param code: The API's error code, e.g. ``"VOICE_NOT_FOUND"``; ``None`` when it sent none.
    """

    #: Whether waiting and asking again may succeed (429, 5xx, transport failures).
    transient: bool = False
    #: Class-level default, so errors pickled before ``code`` existed still unpickle with one.
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status_code = status_code
        self.detail = detail
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps keyword-only attributes through pickling (Airflow pickles some exceptions).
        return (_rebuild_error, (type(self), self.message, self.__dict__))


def _rebuild_error(cls: type[OneInboxError], message: str, state: dict[str, Any]) -> OneInboxError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class OneInboxAuthError(OneInboxError):
    """401 or 403: the API key is missing, wrong or lacks permission. Permanent."""


class OneInboxNotFoundError(OneInboxError):
    """404: the call, agent, number or credential does not exist. Permanent."""


class OneInboxConflictError(OneInboxError):
    """409: the resource already exists, e.g. a phone number that is already registered."""


class OneInboxValidationError(OneInboxError):
    """400 or 422: the API rejected the request body; the message lists FastAPI's ``loc``/``msg``."""


class OneInboxInvalidIdError(OneInboxValidationError):
    """
    422 (or 400) on a malformed id in the path, e.g. ``call_id`` ``"abc"`` where the API expects a UUID.

    Permanent: asking again with the same id cannot succeed. It is a validation error the API
    reported (so it keeps ``status_code``, ``detail`` and ``code``), not an
    :class:`OneInboxInputError`, which is raised before anything is sent.

    :param field: The id's argument name, e.g. ``"call_id"``.
    :param value: The id that was sent.
    """

    def __init__(self, message: str, *, field: str, value: str | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.value = value


class OneInboxRateLimitError(OneInboxError):
    """
    429: the API refused the request because of a rate or concurrency limit. Transient.

    :param retry_after: Seconds the API asked the client to wait (``Retry-After``), if given.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


#: The API's code for a create refused because the workspace's daily call quota is used up.
QUOTA_EXCEEDED_CODE = "DAILY_CALL_LIMIT_REACHED"


class OneInboxQuotaExceededError(OneInboxRateLimitError):
    """
    429 (or 403) with code ``DAILY_CALL_LIMIT_REACHED``: the workspace's daily call quota is used up.

    Not retried by the hooks (``transient`` is ``False``): the quota resets at 00:00 UTC, hours
    away, and every create before then is refused again. A subclass of
    :class:`OneInboxRateLimitError`, so code that pauses on any refusal keeps working; it
    created nothing, like any 429.

    :param resets_at: When the quota resets (aware, UTC): now plus ``Retry-After``, else the next
        00:00 UTC, where daily figures reset.
    """

    transient = False

    def __init__(self, message: str, *, resets_at: datetime, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.resets_at = resets_at


def quota_reset_time(retry_after: float | None, now: datetime | None = None) -> datetime:
    """
    When a refused daily quota resets: ``now`` plus ``Retry-After``, else the next 00:00 UTC.

    :param retry_after: Seconds the API asked to wait, ``None`` when it gave none.
    :param now: The current time, aware (tests); defaults to now in UTC.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if retry_after is not None:
        return now + timedelta(seconds=retry_after)
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)


class OneInboxServerError(OneInboxError):
    """5xx: the API failed. Transient, but the request may have taken effect."""

    transient = True


class OneInboxTransportError(OneInboxError):
    """
    The exchange failed below HTTP: connection refused or reset, timeout, a dropped response.

    :param request_sent: ``False`` only when the request certainly never reached the server
        (a failed connect), so even a non-idempotent request may be sent again.
    """

    transient = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class OneInboxConnectError(OneInboxTransportError):
    """
    No connection could be made (refused, unresolvable, unreachable): nothing was sent. Transient.

    Always ``request_sent=False``; the message names the base URL and asks whether the server runs.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs["request_sent"] = False
        super().__init__(message, **kwargs)


class OneInboxTLSError(OneInboxTransportError):
    """
    The TLS handshake failed (a plain-http server, a certificate not trusted): nothing was sent.

    Permanent (``transient`` is ``False``) and ``request_sent=False``; the message shows the fix.
    """

    transient = False

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs["request_sent"] = False
        super().__init__(message, **kwargs)


class OneInboxTimeoutError(OneInboxTransportError):
    """
    A request did not complete (connect, headers and body) within its deadline. Transient.

    :param timeout: The deadline it had, in seconds.
    """

    def __init__(self, message: str, *, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.timeout = timeout


class OneInboxResponseTooLargeError(OneInboxError):
    """
    A response was larger than the connection's ``max_response_bytes``; reading stopped there.

    Permanent: asking again gets the same answer, so it is not retried. The request itself
    reached the server and may have taken effect.

    :param limit: The cap, in bytes.
    """

    def __init__(self, message: str, *, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class OneInboxMalformedResponseError(OneInboxError):
    """
    A response could not be used: not JSON, nested too deeply, empty where a body was expected,
    or a record whose fields have the wrong types. Permanent.
    """


class OneInboxPaginationError(OneInboxError):
    """
    A page walk stopped before its end: too many pages, too long, a repeated cursor or an empty
    page that claims more. Permanent: the items yielded so far are not the whole list.

    :param pages: Pages read before it stopped.
    :param reason: ``"max_pages"``, ``"max_seconds"``, ``"repeated_cursor"``, ``"empty_page"``
        or ``"no_cursor"``.
    """

    def __init__(self, message: str, *, pages: int = 0, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.pages = pages
        self.reason = reason


class OneInboxInputError(OneInboxError, ValueError):
    """
    An argument failed client-side validation; raised before any request is sent.

    :param field: Name of the offending argument, as the API names it.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Invalid {field!r}: {problem}")
        self.field = field


class OneInboxConfigError(OneInboxError, ValueError):
    """The OneInbox connection is unusable (no key, a key over plain HTTP to a remote host, ...)."""


#: Longest stretch of a non-JSON error body quoted in a message.
MAX_QUOTED_BODY_CHARS = 300


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    :param value: The header value, ``None`` when absent.
    :param now: The current time for an HTTP-date (tests); defaults to now in UTC.
    :return: A non-negative number of seconds, or ``None`` if absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


#: Keys of an error object that may echo what was sent (FastAPI's ``input`` and ``ctx``).
_ECHO_KEYS = frozenset({"input", "ctx"})

#: Longest error code kept from a response.
MAX_CODE_CHARS = 100

#: What the API's validation ``type`` of a path parameter says the id should look like.
_EXPECTED_ID = {
    "uuid_parsing": "a UUID",
    "uuid_type": "a UUID",
    "uuid_version": "a UUID",
    "int_parsing": "an integer",
    "int_type": "an integer",
}


def sanitize_detail(detail: Any) -> Any:
    """
    Keep only ``loc``, ``msg`` and ``type`` of FastAPI's validation errors; drop echoes elsewhere.

    FastAPI echoes the offending ``input`` (and ``ctx``): for a credential or a SIP trunk
    that is a secret of its own, so it is dropped before the detail is kept on an error, except
    for a path parameter, whose input is a segment of the URL. An object detail
    (``{"code": ..., "message": ...}``) loses the same keys.

    :param detail: The ``detail`` field of an error body.
    """
    if isinstance(detail, list):
        return [_sanitize_item(item) if isinstance(item, dict) else item for item in detail]
    if isinstance(detail, dict):
        return {key: value for key, value in detail.items() if key not in _ECHO_KEYS}
    return detail


def _sanitize_item(item: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {key: item[key] for key in ("loc", "msg", "type") if key in item}
    if _is_path_error(item) and isinstance(item.get("input"), str):
        # A path parameter's input is a segment of the URL, which every message quotes anyway.
        kept["input"] = item["input"]
    return kept


def _is_path_error(item: Any) -> bool:
    """Whether ``item`` is FastAPI's error about a path parameter (``loc`` ``["path", name]``)."""
    if not isinstance(item, dict):
        return False
    loc = item.get("loc")
    return isinstance(loc, list | tuple) and len(loc) >= 2 and loc[0] == "path"


def error_code_of(payload: Any) -> str | None:
    """
    The error code an error body carries, wherever the API put it; ``None`` if it has none.

    Accepted: ``{"detail": "...", "code": "VOICE_NOT_FOUND"}``, ``{"detail": {"code": ...,
    "message": ...}}``, ``{"error": {"code": ..., "message": ...}}`` and ``{"code": ...,
    "message": ...}``. Only a non-empty string counts.

    :param payload: The parsed error body.
    """
    if not isinstance(payload, dict):
        return None
    candidates = [payload.get("code")]
    candidates += [
        inner.get("code")
        for inner in (payload.get("detail"), payload.get("error"))
        if isinstance(inner, dict)
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:MAX_CODE_CHARS]
    return None


def describe_detail(detail: Any) -> str:
    """
    Render an error ``detail`` for a message: ``"body.to_number: String should match ..."``.

    :param detail: A string, FastAPI's list of ``{loc, msg}``, an object such as
        ``{"code": ..., "message": ...}``, or anything JSON.
    """
    if detail is None or detail == "":
        return "no detail given"
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(part) for part in item.get("loc") or ())
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        for key in ("message", "msg", "detail", "error", "description"):
            if detail.get(key) not in (None, "", [], {}):
                return describe_detail(detail[key])
        rest = {key: value for key, value in detail.items() if key != "code"}
        return str(rest)[:MAX_QUOTED_BODY_CHARS] if rest else "no detail given"
    return str(detail)


def _path_id_errors(detail: Any) -> list[dict[str, Any]]:
    """FastAPI's errors about path parameters (``loc`` ``["path", name]``) in ``detail``."""
    return [item for item in detail if _is_path_error(item)] if isinstance(detail, list) else []


def _describe_invalid_id(item: dict[str, Any], path_ids: Mapping[str, str]) -> tuple[str, str, str | None]:
    """``(field, sentence, value)`` for one path-parameter error; ``field`` is our argument's name."""
    api_name = str(item["loc"][1])
    field = api_name
    if api_name not in path_ids and len(path_ids) == 1:
        # The API may name it otherwise (``phone_id`` for our ``phone_number_id``).
        (field,) = path_ids
    value = path_ids.get(field)
    if value is None and isinstance(item.get("input"), str):
        value = item["input"]
    expected = _EXPECTED_ID.get(str(item.get("type")))
    why = f"it expects {expected}" if expected else f"the API says: {item.get('msg') or 'invalid'}"
    shown = f" {value!r}" if value is not None else ""
    return field, f"{field}{shown} is not a valid id for OneInbox ({why})", value


def error_from_response(
    *,
    method: str,
    path: str,
    status_code: int,
    detail: Any,
    retry_after: float | None = None,
    note: str | None = None,
    code: str | None = None,
    path_ids: Mapping[str, str] | None = None,
) -> OneInboxError:
    """
    The typed error for a non-2xx response.

    A 400 or 422 whose FastAPI detail points at a path parameter (``loc`` ``["path",
    "call_id"]``) gives :class:`OneInboxInvalidIdError` naming the id's field.

    :param method: HTTP method of the request.
    :param path: Request path without query string.
    :param status_code: HTTP status received.
    :param detail: The API's ``detail`` (already free of secrets).
    :param retry_after: Seconds from ``Retry-After``, for a 429.
    :param note: A sentence appended to the message, e.g. that a call may have been placed.
    :param code: The API's error code (``"VOICE_NOT_FOUND"``), shown in the message and kept.
    :param path_ids: The ids the request put in its path, by argument name (``{"call_id": ...}``).
    """
    coded = f" (code {code})" if code else ""
    head = f"OneInbox API {method} {path} failed with {status_code}{coded}"
    kwargs: dict[str, Any] = {
        "method": method,
        "path": path,
        "status_code": status_code,
        "detail": detail,
        "code": code,
    }
    bad_ids = _path_id_errors(detail) if status_code in (400, 422) else []
    if bad_ids:
        described = [_describe_invalid_id(item, path_ids or {}) for item in bad_ids]
        others = [item for item in detail if item not in bad_ids]
        message = f"{head}: " + "; ".join(sentence for _, sentence, _ in described)
        if others:
            message += f"; {describe_detail(others)}"
        message += ". Pass the id exactly as OneInbox returned it"
        if note:
            message = f"{message}. {note}"
        field, _, value = described[0]
        return OneInboxInvalidIdError(message, field=field, value=value, **kwargs)
    message = f"{head}: {describe_detail(detail)}"
    if note:
        message = f"{message}. {note}"
    if code == QUOTA_EXCEEDED_CODE and status_code in (403, 429):
        resets_at = quota_reset_time(retry_after)
        message = f"{message}. The daily call quota resets at {resets_at:%Y-%m-%d %H:%M} UTC"
        return OneInboxQuotaExceededError(message, retry_after=retry_after, resets_at=resets_at, **kwargs)
    if status_code in (401, 403):
        return OneInboxAuthError(message, **kwargs)
    if status_code == 404:
        return OneInboxNotFoundError(_not_found_message(head, detail, note, path_ids), **kwargs)
    if status_code == 409:
        return OneInboxConflictError(message, **kwargs)
    if status_code in (400, 422):
        return OneInboxValidationError(message, **kwargs)
    if status_code == 429:
        return OneInboxRateLimitError(message, retry_after=retry_after, **kwargs)
    if status_code >= 500:
        return OneInboxServerError(message, **kwargs)
    return OneInboxError(message, **kwargs)


#: What an id argument names, for "call 'X' not found".
_RESOURCE_OF_ID = {
    "call_id": "call",
    "agent_id": "agent",
    "phone_number_id": "phone number",
    "webhook_id": "webhook",
    "integration_id": "integration",
    "outcome_id": "call outcome",
}


def _not_found_message(head: str, detail: Any, note: str | None, path_ids: Mapping[str, str] | None) -> str:
    """``"... failed with 404: call 'X' not found (Call not found)"`` when the path held an id."""
    if not path_ids:
        return f"{head}: {describe_detail(detail)}" + (f". {note}" if note else "")
    field, value = list(path_ids.items())[-1]
    what = _RESOURCE_OF_ID.get(field, field.removesuffix("_id").replace("_", " "))
    said = describe_detail(detail)
    lowered = said.lower().strip(" .")
    generic = lowered in ("no detail given", "not found") or (what in lowered and "not found" in lowered)
    message = f"{head}: {what} {value!r} not found" if generic else f"{head}: {said} ({what} {value!r})"
    return message + (f". {note}" if note else "")
