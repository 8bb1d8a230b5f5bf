"""
Typed descriptions of the OneInbox API: request bodies, the call record, phone numbers.

One place per thing: the hooks' request builders (``hooks/api.py``), the operators and the
simulator use these models, so they cannot disagree on what a body may hold.

* :mod:`.phone`: phone numbers (``phonenumbers``), :func:`describe_phone_number`. Imports neither
  pydantic nor ``phonenumbers`` until used, so ``validation.py`` can use it at DAG-parse time.
* :mod:`.requests`: one pydantic model per request body (:class:`CallRequest`, ...).
* :mod:`.call`: :class:`CallRecord`, the call record in every shape the reference allows.
* :mod:`.fields`, :mod:`.base`: the field types and :func:`build`, which turns a pydantic
  ``ValidationError`` into ``OneInboxInputError`` naming the field.

Names are loaded on first access, so ``import airflow_provider_oneinbox.models`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oneinbox.models.base import build, input_error
    from airflow_provider_oneinbox.models.call import (
        CALL_RECORD_FIELDS,
        CallAnalysis,
        CallMessage,
        CallRecord,
        parse_call_record,
    )
    from airflow_provider_oneinbox.models.phone import (
        PhoneNumberInfo,
        describe_phone_number,
        normalize_phone_number,
    )
    from airflow_provider_oneinbox.models.requests import (
        CallOutcomeDefinition,
        CallOutcomeDefinitionUpdate,
        CallOverrides,
        CallRequest,
        CallUpdate,
        CredentialRequest,
        InboundRouting,
        PhoneNumberPurchase,
        PhoneNumberRegistration,
        PhoneNumberUpdate,
        ProviderConfig,
        WebCallRequest,
        WebhookRequest,
        WebhookUpdate,
    )

_WHERE = {
    "build": "base",
    "input_error": "base",
    "CALL_RECORD_FIELDS": "call",
    "CallAnalysis": "call",
    "CallMessage": "call",
    "CallRecord": "call",
    "parse_call_record": "call",
    "PhoneNumberInfo": "phone",
    "describe_phone_number": "phone",
    "normalize_phone_number": "phone",
    **dict.fromkeys(
        [
            "CallOutcomeDefinition",
            "CallOutcomeDefinitionUpdate",
            "CallOverrides",
            "CallRequest",
            "CallUpdate",
            "CredentialRequest",
            "InboundRouting",
            "PhoneNumberPurchase",
            "PhoneNumberRegistration",
            "PhoneNumberUpdate",
            "ProviderConfig",
            "WebCallRequest",
            "WebhookRequest",
            "WebhookUpdate",
        ],
        "requests",
    ),
}

__all__ = [
    "CALL_RECORD_FIELDS",
    "CallAnalysis",
    "CallMessage",
    "CallOutcomeDefinition",
    "CallOutcomeDefinitionUpdate",
    "CallOverrides",
    "CallRecord",
    "CallRequest",
    "CallUpdate",
    "CredentialRequest",
    "InboundRouting",
    "PhoneNumberInfo",
    "PhoneNumberPurchase",
    "PhoneNumberRegistration",
    "PhoneNumberUpdate",
    "ProviderConfig",
    "WebCallRequest",
    "WebhookRequest",
    "WebhookUpdate",
    "build",
    "describe_phone_number",
    "input_error",
    "normalize_phone_number",
    "parse_call_record",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
