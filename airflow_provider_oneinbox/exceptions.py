"""Typed errors raised by the OneInbox hooks.

Every error raised for an HTTP exchange names the method, the path, the status and the API's
own detail. None of them ever carries the API key: messages are built from the request line
and the response body only, never from headers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class OneInboxError(Exception):
    """
    Base class of every error the OneInbox provider raises for an API exchange.

    :param message: Human readable description, already free of secrets.
    :param method: HTTP method of the failed request, e.g. ``"GET"``.
    :param path: Request path, e.g. ``"/v1/calls/call_123"``.
    :param status_code: HTTP status of the response, ``None`` when none was received.
    :param detail: The API's ``detail`` field (a string or FastAPI's list of errors).
    """

    #: Whether waiting and asking again may succeed (429, 5xx, transport failures).
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status_code = status_code
        self.detail = detail

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


class OneInboxRateLimitError(OneInboxError):
    """
    429: the API refused the request because of a rate or concurrency limit. Transient.

    :param retry_after: Seconds the API asked the client to wait (``Retry-After``), if given.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


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


def sanitize_detail(detail: Any) -> Any:
    """
    Keep only ``loc``, ``msg`` and ``type`` of FastAPI's validation errors.

    FastAPI echoes the offending ``input`` (and ``ctx``): for a credential or a SIP trunk
    that is a secret of its own, so it is dropped before the detail is kept on an error.

    :param detail: The ``detail`` field of an error body.
    """
    if isinstance(detail, list):
        return [
            {key: item[key] for key in ("loc", "msg", "type") if key in item}
            if isinstance(item, dict)
            else item
            for item in detail
        ]
    return detail


def describe_detail(detail: Any) -> str:
    """
    Render an error ``detail`` for a message: ``"body.to_number: String should match ..."``.

    :param detail: A string, FastAPI's list of ``{loc, msg}``, or anything JSON.
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
    return str(detail)


def error_from_response(
    *,
    method: str,
    path: str,
    status_code: int,
    detail: Any,
    retry_after: float | None = None,
    note: str | None = None,
) -> OneInboxError:
    """
    The typed error for a non-2xx response.

    :param method: HTTP method of the request.
    :param path: Request path without query string.
    :param status_code: HTTP status received.
    :param detail: The API's ``detail`` (already free of secrets).
    :param retry_after: Seconds from ``Retry-After``, for a 429.
    :param note: A sentence appended to the message, e.g. that a call may have been placed.
    """
    message = f"OneInbox API {method} {path} failed with {status_code}: {describe_detail(detail)}"
    if note:
        message = f"{message}. {note}"
    kwargs: dict[str, Any] = {"method": method, "path": path, "status_code": status_code, "detail": detail}
    if status_code in (401, 403):
        return OneInboxAuthError(message, **kwargs)
    if status_code == 404:
        return OneInboxNotFoundError(message, **kwargs)
    if status_code == 409:
        return OneInboxConflictError(message, **kwargs)
    if status_code in (400, 422):
        return OneInboxValidationError(message, **kwargs)
    if status_code == 429:
        return OneInboxRateLimitError(message, retry_after=retry_after, **kwargs)
    if status_code >= 500:
        return OneInboxServerError(message, **kwargs)
    return OneInboxError(message, **kwargs)
