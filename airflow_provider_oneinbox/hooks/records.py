"""
Shape checks of the call records and call pages both hooks return.

Waits, the shared poller and the operators read a call's ``status``, ``messages``,
``transcript`` and ``analysis``; a record where one of them has another type (``status`` a
list, ``messages`` a number) would crash them far from the request. It is refused here
instead, as an :class:`~airflow_provider_oneinbox.exceptions.OneInboxMalformedResponseError`
naming the field. Fields the provider does not read are not checked.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_oneinbox.exceptions import OneInboxMalformedResponseError
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.responses import record_of

_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object", bool: "a boolean", int: "an integer"}

#: Field of a call record -> the types it may have besides ``null``.
CALL_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "status": (str,),
    "agent_id": (str,),
    "end_reason": (str,),
    "messages": (list,),
    "transcript": (str, list),
    "analysis": (dict,),
    "metadata": (dict,),
    "variables": (dict,),
}

#: Fields of a cursor page.
_CURSOR_PAGE_FIELDS: dict[str, tuple[type, ...]] = {"next_cursor": (str,), "has_more": (bool,)}
#: Fields of an offset page.
_OFFSET_PAGE_FIELDS: dict[str, tuple[type, ...]] = {"total": (int,), "limit": (int,), "offset": (int,)}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _check_fields(
    record: dict[str, Any], fields: dict[str, tuple[type, ...]], request: ApiRequest, what: str
) -> None:
    for name, types in fields.items():
        value = record.get(name)
        if value is None:
            continue
        allowed = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
        if not allowed:
            expected = " or ".join(_TYPE_NAMES[kind] for kind in types)
            raise OneInboxMalformedResponseError(
                f"OneInbox API {request.label} answered with a malformed {what}: field {name!r} is "
                f"{_type_name(value)}, expected {expected} or null",
                method=request.method,
                path=request.path,
            )


def call_record_of(payload: Any, request: ApiRequest) -> dict[str, Any]:
    """
    The call record of a response, its fields checked (:data:`CALL_FIELDS`).

    :param payload: Parsed response body.
    :param request: The request it answers, named in the error.
    """
    record = record_of(payload, request)
    _check_fields(record, CALL_FIELDS, request, "call record")
    return record


def call_page_of(payload: Any, request: ApiRequest, *, cursor: bool) -> dict[str, Any]:
    """
    A page of calls (``{items, ...}``), every item a checked call record.

    :param payload: Parsed response body.
    :param request: The request it answers.
    :param cursor: Whether it is a cursor page (``next_cursor``, ``has_more``) or an offset page.
    """
    page = record_of(payload, request)
    items = page.get("items")
    if items is not None and not isinstance(items, list):
        raise OneInboxMalformedResponseError(
            f"OneInbox API {request.label} answered with a malformed page: 'items' is "
            f"{_type_name(items)}, expected a list",
            method=request.method,
            path=request.path,
        )
    _check_fields(page, _CURSOR_PAGE_FIELDS if cursor else _OFFSET_PAGE_FIELDS, request, "page")
    for item in items or []:
        if not isinstance(item, dict):
            raise OneInboxMalformedResponseError(
                f"OneInbox API {request.label} answered with a malformed page: an item is "
                f"{_type_name(item)}, expected a call record",
                method=request.method,
                path=request.path,
            )
        _check_fields(item, CALL_FIELDS, request, "call record in a page")
    return page
