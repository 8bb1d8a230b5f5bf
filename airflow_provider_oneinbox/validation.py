"""
Client-side checks of the arguments sent to the OneInbox API: the one rule for each kind of value.

The request models (:mod:`airflow_provider_oneinbox.models`) validate their fields with these
functions, and phone numbers with :mod:`airflow_provider_oneinbox.models.phone`. Every check
raises :class:`~airflow_provider_oneinbox.exceptions.OneInboxInputError` naming the argument and
the fix, before anything is sent: a number that cannot exist never reaches a carrier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.models.phone import E164_EXAMPLE, E164_PATTERN, require_phone_number

__all__ = [
    "E164_EXAMPLE",
    "E164_PATTERN",
    "MAX_JSON_OBJECT_BYTES",
    "MAX_PAGE_SIZE",
    "MAX_URL_LENGTH",
    "MIN_PAGE_SIZE",
    "optional_json_object",
    "optional_text",
    "require_e164",
    "require_http_url",
    "require_int_between",
    "require_iso_datetime",
    "require_json_object",
    "require_page_size",
    "require_positive_number",
    "require_string_list",
    "require_text",
]

#: Largest serialized size (UTF-8 bytes of compact JSON) accepted for ``variables``,
#: ``metadata`` and ``overrides``. The API documents no bound; this keeps requests modest.
MAX_JSON_OBJECT_BYTES = 32 * 1024

#: Longest URL accepted (``webhook_url``, a webhook's ``url``): what browsers and most servers take.
MAX_URL_LENGTH = 2048

#: Bounds of ``limit`` on every list endpoint, as documented.
MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 100


def require_e164(field: str, value: Any) -> str:
    """
    Return ``value`` if it is an E.164 phone number that can exist (checked with ``phonenumbers``).

    See :func:`~airflow_provider_oneinbox.models.phone.require_phone_number`, the one rule for numbers.

    :param field: Argument name, used in the error.
    :param value: The number to check, e.g. ``"+14155550123"``.
    """
    return require_phone_number(field, value)


def require_text(field: str, value: Any) -> str:
    """
    Return ``value`` stripped if it is a non-empty string (ids, names, providers, ...).

    :param field: Argument name, used in the error.
    :param value: The string to check.
    """
    if not isinstance(value, str) or not value.strip():
        raise OneInboxInputError(field, f"expected a non-empty string, got {value!r}")
    return value.strip()


def optional_text(field: str, value: Any) -> str | None:
    """
    Like :func:`require_text`, but ``None`` passes through.

    :param field: Argument name, used in the error.
    :param value: The string to check, or ``None``.
    """
    return None if value is None else require_text(field, value)


def require_json_object(field: str, value: Any, max_bytes: int = MAX_JSON_OBJECT_BYTES) -> dict[str, Any]:
    """
    Return ``value`` if it is a dict that serializes to JSON within ``max_bytes``.

    :param field: Argument name, used in the error.
    :param value: The mapping to check.
    :param max_bytes: Largest accepted size of its compact JSON form, in bytes.
    """
    if not isinstance(value, dict):
        raise OneInboxInputError(field, f"expected a dict (a JSON object), got {type(value).__name__}")
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise OneInboxInputError(
            field, f"must be JSON-serializable (str, int, float, bool, None, list, dict): {exc}"
        ) from None
    if len(encoded) > max_bytes:
        raise OneInboxInputError(
            field, f"is {len(encoded)} bytes as JSON, more than the {max_bytes} allowed; send less data"
        )
    return value


def optional_json_object(field: str, value: Any) -> dict[str, Any] | None:
    """
    Like :func:`require_json_object`, but ``None`` passes through.

    :param field: Argument name, used in the error.
    :param value: The mapping to check, or ``None``.
    """
    return None if value is None else require_json_object(field, value)


def require_int_between(field: str, value: Any, low: int, high: int | None = None) -> int:
    """
    Return ``value`` if it is an int (not a bool) with ``low <= value <= high``.

    :param field: Argument name, used in the error.
    :param value: The number to check.
    :param low: Smallest accepted value.
    :param high: Largest accepted value, ``None`` for no upper bound.
    """
    in_range = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not in_range or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise OneInboxInputError(field, f"expected an integer {bound}, got {value!r}")
    return int(value)


def require_page_size(field: str, value: Any) -> int:
    """
    Return ``value`` if it is a valid ``limit`` for a list endpoint (1..100).

    :param field: Argument name, used in the error.
    :param value: The page size to check.
    """
    return require_int_between(field, value, MIN_PAGE_SIZE, MAX_PAGE_SIZE)


def require_positive_number(field: str, value: Any, allow_zero: bool = False) -> float:
    """
    Return ``value`` as a float if it is a finite number above zero (or zero when allowed).

    :param field: Argument name, used in the error.
    :param value: The number to check.
    :param allow_zero: Whether ``0`` is accepted.
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        raise OneInboxInputError(field, f"expected {expected}, got {value!r}")
    return float(value)


def require_http_url(field: str, value: Any) -> str:
    """
    Return ``value`` if it is an absolute ``http://`` or ``https://`` URL with a host, at most
    :data:`MAX_URL_LENGTH` characters.

    :param field: Argument name, used in the error.
    :param value: The URL to check.
    """
    parts = urlsplit(value) if isinstance(value, str) else None
    try:
        bad_port = parts is not None and parts.port == 0
    except ValueError:  # ``.port`` raises for a port out of range, e.g. ":99999"
        bad_port = True
    # A bad port or whitespace in the host would only be refused by the API, after the request.
    if (
        parts is None
        or len(value) > MAX_URL_LENGTH
        or bad_port
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in parts.netloc)
    ):
        raise OneInboxInputError(
            field, f"expected an absolute http(s) URL such as 'https://example.com/hook', got {value!r}"
        )
    return value


def require_string_list(field: str, value: Any) -> list[str]:
    """
    Return ``value`` as a list if it is a non-empty list (or tuple) of non-empty strings.

    :param field: Argument name, used in the error.
    :param value: The sequence to check, e.g. ``["call.ended"]``.
    """
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, dict):
        raise OneInboxInputError(field, f"expected a list of strings, got {type(value).__name__}")
    items = list(value)
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise OneInboxInputError(field, f"expected a non-empty list of non-empty strings, got {items!r}")
    return items


def require_iso_datetime(field: str, value: Any) -> str:
    """
    Return ``value`` as an ISO 8601 string; it must carry a UTC offset.

    A naive time is refused rather than guessed: a call placed at the wrong hour rings a real
    person at the wrong hour.

    :param field: Argument name, used in the error.
    :param value: A timezone-aware ``datetime`` or an ISO 8601 string such as
        ``"2030-01-31T15:00:00+00:00"``.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime_fromisoformat(value.strip())
        except ValueError:
            raise OneInboxInputError(
                field, f"expected an ISO 8601 date-time such as '2030-01-31T15:00:00+00:00', got {value!r}"
            ) from None
    else:
        raise OneInboxInputError(field, f"expected a datetime or an ISO 8601 string, got {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise OneInboxInputError(
            field, "give a timezone-aware date-time (e.g. '+00:00' or 'Z'), not a naive one"
        )
    return moment.isoformat()
