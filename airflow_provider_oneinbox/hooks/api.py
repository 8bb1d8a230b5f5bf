"""
One builder per OneInbox endpoint, shared by the sync and the async hook.

A builder validates its arguments (raising ``OneInboxInputError`` before anything is sent)
and returns an :class:`ApiRequest`: what to send, and whether sending it again is safe once it
may have reached the server. Bodies are checked by their model in
:mod:`airflow_provider_oneinbox.models.requests`, the same the simulator receives them with;
query parameters (built on every poll of a wait) by the plain functions of
:mod:`airflow_provider_oneinbox.validation`, the rules those models use too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.hooks.headers import header_value_problem
from airflow_provider_oneinbox.models.base import RequestBody, build
from airflow_provider_oneinbox.models.fields import require_area_code, require_country_code
from airflow_provider_oneinbox.models.requests import (
    CallOutcomeDefinition,
    CallOutcomeDefinitionUpdate,
    CallRequest,
    CallUpdate,
    CredentialRequest,
    InboundRouting,
    PhoneNumberPurchase,
    PhoneNumberRegistration,
    PhoneNumberUpdate,
    WebCallRequest,
    WebhookRequest,
    WebhookUpdate,
)
from airflow_provider_oneinbox.validation import (
    optional_text,
    require_int_between,
    require_page_size,
    require_text,
)

#: Said of any non-idempotent request that failed after it may have reached the server.
MAY_HAVE_TAKEN_EFFECT = (
    "The request may have taken effect, so it was not retried; check its result before sending it again"
)
#: Said of ``POST /v1/calls``: a second attempt could ring the same phone twice.
CALL_MAY_HAVE_BEEN_PLACED = (
    "The call may have been placed (a phone may be ringing), so it was not retried and must not be "
    "blindly retried: look for it with list_calls (e.g. by its metadata) before placing it again"
)

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class ApiRequest:
    """
    One request to the OneInbox API, independent of the HTTP client that sends it.

    :param method: HTTP method.
    :param path: Path below the base URL, ids already percent-encoded.
    :param params: Query parameters, as strings.
    :param json: JSON body.
    :param headers: Extra headers besides the connection's (e.g. ``Idempotency-Key``).
    :param repeat_safe: Whether sending it twice has the effect of sending it once, so it may be
        retried even after it may have reached the server (5xx, read timeout, dropped reply).
    :param unsafe_note: Appended to an error when a non-repeatable request may have taken effect.
    :param path_ids: The ids in the path, by argument name, as given (not encoded): an error
        about a malformed id names its field and value from here.
    :param secrets: Values of the body that must never be quoted (a carrier key, a SIP
        password): redacted from any error like the API key.
    :param expects_body: Whether a 2xx answer must carry JSON; ``False`` where the endpoint may
        answer with nothing (``DELETE``).
    :param deadline: ``time.monotonic()`` by which the whole exchange, retries included, must
        be over; ``None`` for the connection's ``timeout`` per attempt only.
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    # Bodies carry carrier keys and SIP passwords: never in a repr (e.g. a retry state's).
    json: Mapping[str, Any] | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    repeat_safe: bool = True
    unsafe_note: str = MAY_HAVE_TAKEN_EFFECT
    path_ids: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    expects_body: bool = True
    deadline: float | None = None

    @property
    def label(self) -> str:
        """``"GET /v1/calls/call_1"``: how logs and errors name the request."""
        return f"{self.method} {self.path}"


def deadline_in(timeout: float | None) -> float | None:
    """
    The ``ApiRequest.deadline`` for a call that may take ``timeout`` seconds in all, if any.

    :param timeout: Seconds, > 0; ``None`` for no overall bound.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise OneInboxInputError("timeout", f"expected a number of seconds > 0, got {timeout!r}")
    return time.monotonic() + timeout


class _Path(str):
    """A request path that remembers the ids it was built from (``ApiRequest.path_ids``)."""

    ids: dict[str, str]


def _path(template: str, **ids: Any) -> _Path:
    checked = {name: _path_id(name, value) for name, value in ids.items()}
    path = _Path(template.format(**{name: quote(value, safe="") for name, value in checked.items()}))
    path.ids = checked
    return path


def _path_id(name: str, value: Any) -> str:
    text = require_text(name, value)
    # Percent-encoding leaves dots alone, and clients (aiohttp) resolve "." and ".." segments:
    # GET /v1/calls/.. would become GET /v1/.
    if text in (".", ".."):
        raise OneInboxInputError(name, f"expected an id, got {text!r}")
    return text


def _request(method: str, path: str, **kwargs: Any) -> ApiRequest:
    return ApiRequest(method, str(path), path_ids=getattr(path, "ids", {}), **kwargs)


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def _get(path: str, params: Mapping[str, Any] | None = None) -> ApiRequest:
    return _request("GET", path, params=_query(params) if params else None)


def _create(path: str, body: Mapping[str, Any] | RequestBody, **kwargs: Any) -> ApiRequest:
    json = body.body() if isinstance(body, RequestBody) else _compact(body)
    return _request("POST", path, json=json, repeat_safe=False, **kwargs)


def _secret_values(*values: Any) -> tuple[str, ...]:
    """The non-empty strings among ``values``, for ``ApiRequest.secrets``."""
    return tuple(value for value in values if isinstance(value, str) and value)


# Credentials (the older name) and integrations (the newer one) of a telephony carrier


def _carrier_key(path: str, name: str, provider: str, api_key: str) -> ApiRequest:
    body = build(CredentialRequest, "credential", name=name, provider=provider, api_key=api_key)
    return _create(path, body, secrets=_secret_values(api_key, body.api_key))


def create_credential(name: str, provider: str, api_key: str) -> ApiRequest:
    """``POST /v1/credentials``; see ``OneInboxHook.create_credential``."""
    return _carrier_key("/v1/credentials", name, provider, api_key)


def list_credentials() -> ApiRequest:
    """``GET /v1/credentials``."""
    return _get("/v1/credentials")


def create_integration(name: str, provider: str, api_key: str) -> ApiRequest:
    """``POST /v1/integrations``; see ``OneInboxHook.create_integration``."""
    return _carrier_key("/v1/integrations", name, provider, api_key)


def list_integrations() -> ApiRequest:
    """``GET /v1/integrations``."""
    return _get("/v1/integrations")


def get_integration(integration_id: str) -> ApiRequest:
    """``GET /v1/integrations/{id}``: the record with a ``masked_key``."""
    return _get(_path("/v1/integrations/{integration_id}", integration_id=integration_id))


# Phone numbers

_INBOUND_ROUTING = "/v1/phone-numbers/{phone_number_id}/inbound-routing"


def register_phone_number(
    phone_number: str,
    agent_id: str | None = None,
    provider: str | None = None,
    credential_id: str | None = None,
    friendly_name: str | None = None,
    provider_config: dict[str, Any] | None = None,
    inbound_routing: dict[str, Any] | None = None,
) -> ApiRequest:
    """``POST /v1/phone-numbers``; see ``OneInboxHook.register_phone_number``."""
    body = build(
        PhoneNumberRegistration,
        "phone_number",
        phone_number=phone_number,
        agent_id=agent_id,
        provider=provider,
        credential_id=credential_id,
        friendly_name=friendly_name,
        provider_config=provider_config,
        inbound_routing=inbound_routing,
    )
    # From the checked body: ``provider_config`` may be given as a dict or as a ProviderConfig.
    config = body.provider_config
    sip_password = (
        config.get("auth_password") if isinstance(config, dict) else getattr(config, "auth_password", None)
    )
    return _create("/v1/phone-numbers", body, secrets=_secret_values(sip_password))


def update_phone_number(phone_number_id: str, agent_id: str) -> ApiRequest:
    """``PATCH /v1/phone-numbers/{id}``."""
    path = _path("/v1/phone-numbers/{phone_number_id}", phone_number_id=phone_number_id)
    # Reassigning is what the hook offers: the agent is required here, not by the body's model.
    body = build(PhoneNumberUpdate, "phone_number", agent_id=require_text("agent_id", agent_id))
    return _request("PATCH", path, json=body.body())


def list_phone_numbers() -> ApiRequest:
    """``GET /v1/phone-numbers``."""
    return _get("/v1/phone-numbers")


def get_inbound_routing(phone_number_id: str) -> ApiRequest:
    """``GET /v1/phone-numbers/{id}/inbound-routing``."""
    return _get(_path(_INBOUND_ROUTING, phone_number_id=phone_number_id))


def set_inbound_routing(
    phone_number_id: str,
    agent_id: str,
    fallback_agent_id: str | None = None,
    voicemail_message: str | None = None,
) -> ApiRequest:
    """
    ``POST /v1/phone-numbers/{id}/inbound-routing``.

    Not repeated once it may have been received: the API does not say whether a POST here
    replaces the routing or adds to it, so it is treated like any other POST that changes state.
    """
    path = _path(_INBOUND_ROUTING, phone_number_id=phone_number_id)
    fallback = optional_text("fallback_agent_id", fallback_agent_id)
    body = build(
        InboundRouting,
        "inbound_routing",
        agent_id=require_text("agent_id", agent_id),
        fallback=None if fallback is None else {"agent_id": fallback},
        voicemail_message=voicemail_message,
    )
    return _create(path, body)


def search_phone_numbers(
    country: str = "US", area_code: str | None = None, limit: int = 10, credential_id: str | None = None
) -> ApiRequest:
    """``GET /v1/phone-numbers/search``."""
    params = {
        "country": require_country_code("country", country),
        "area_code": None if area_code is None else require_area_code("area_code", area_code),
        "limit": require_page_size("limit", limit),
        "credential_id": optional_text("credential_id", credential_id),
    }
    return _get("/v1/phone-numbers/search", params)


def purchase_phone_number(
    phone_number: str | None = None,
    country: str | None = None,
    area_code: str | None = None,
    agent_id: str | None = None,
    credential_id: str | None = None,
    friendly_name: str | None = None,
) -> ApiRequest:
    """``POST /v1/phone-numbers/purchase``: buys a number, so never repeated blindly."""
    body = build(
        PhoneNumberPurchase,
        "purchase",
        phone_number=phone_number,
        country=country,
        area_code=area_code,
        agent_id=agent_id,
        credential_id=credential_id,
        friendly_name=friendly_name,
    )
    return _create("/v1/phone-numbers/purchase", body)


# Calls


def call_request(
    agent_id: str,
    to_number: str,
    from_number: str,
    variables: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    scheduled_at: str | datetime | None = None,
    metadata: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> CallRequest:
    """
    The body of ``POST /v1/calls``, checked (numbers that can exist, ``scheduled_at`` an ISO 8601
    string with its offset). Build it once and send its :meth:`~CallRequest.arguments` with
    :func:`create_call` (or ``OneInboxHook.create_call``).

    :param agent_id: The agent that speaks.
    :param to_number: Number to call.
    :param from_number: Caller number.
    :param variables: Values for the agent's first message and prompt.
    :param webhook_url: URL receiving this call's events.
    :param scheduled_at: When to place the call, timezone-aware.
    :param metadata: Data stored with the call.
    :param overrides: Per-call settings of the agent.
    :raises OneInboxInputError: Naming the first field that is wrong.
    """
    return build(
        CallRequest,
        "call",
        agent_id=agent_id,
        to_number=to_number,
        from_number=from_number,
        variables=variables,
        webhook_url=webhook_url,
        scheduled_at=scheduled_at,
        metadata=metadata,
        overrides=overrides,
    )


def create_call(
    agent_id: str,
    to_number: str,
    from_number: str,
    variables: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    scheduled_at: str | datetime | None = None,
    metadata: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> ApiRequest:
    """``POST /v1/calls``: rings a phone, so never repeated once it may have been received."""
    headers = {}
    if idempotency_key is not None:
        key = require_text("idempotency_key", idempotency_key)
        problem = header_value_problem(key)
        if problem is not None:
            # Sent as a header: a line break or a non-latin-1 character would fail in the client.
            raise OneInboxInputError("idempotency_key", problem)
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise OneInboxInputError("idempotency_key", f"at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        headers["Idempotency-Key"] = key
    body = call_request(
        agent_id, to_number, from_number, variables, webhook_url, scheduled_at, metadata, overrides
    )
    return _create("/v1/calls", body, headers=headers, unsafe_note=CALL_MAY_HAVE_BEEN_PLACED)


def get_call(call_id: str) -> ApiRequest:
    """``GET /v1/calls/{id}``."""
    return _get(_path("/v1/calls/{call_id}", call_id=call_id))


def stop_call(call_id: str) -> ApiRequest:
    """``POST /v1/calls/{id}/stop``: hanging up twice is hanging up once, so it may be repeated."""
    return _request("POST", _path("/v1/calls/{call_id}/stop", call_id=call_id))


def get_usage() -> ApiRequest:
    """``GET /v1/usage``: the daily quota and this month's figures."""
    return _get("/v1/usage")


def update_call_outcome(call_id: str, outcome: str) -> ApiRequest:
    """``PATCH /v1/calls/{id}``."""
    path = _path("/v1/calls/{call_id}", call_id=call_id)
    return _request("PATCH", path, json=build(CallUpdate, "call", outcome=outcome).body())


def list_calls(
    agent_id: str | None = None, status: str | None = None, limit: int = 20, offset: int = 0
) -> ApiRequest:
    """``GET /v1/calls`` (offset pages)."""
    params = {
        "agent_id": optional_text("agent_id", agent_id),
        "status": optional_text("status", status),
        "limit": require_page_size("limit", limit),
        "offset": require_int_between("offset", offset, 0),
    }
    return _get("/v1/calls", params)


def list_calls_cursor(
    agent_id: str | None = None, status: str | None = None, limit: int = 20, cursor: str | None = None
) -> ApiRequest:
    """``GET /v1/calls/cursor`` (cursor pages)."""
    params = {
        "agent_id": optional_text("agent_id", agent_id),
        "status": optional_text("status", status),
        "limit": require_page_size("limit", limit),
        "cursor": optional_text("cursor", cursor),
    }
    return _get("/v1/calls/cursor", params)


def create_web_call(
    agent_id: str,
    variables: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> ApiRequest:
    """``POST /v1/calls/web``."""
    body = build(
        WebCallRequest,
        "web_call",
        agent_id=agent_id,
        variables=variables,
        metadata=metadata,
        overrides=overrides,
    )
    return _create("/v1/calls/web", body)


# The workspace's call outcomes (the names a call's outcome may take)

_CALL_OUTCOMES = "/v1/workspace/call-outcomes"


def list_call_outcomes() -> ApiRequest:
    """``GET /v1/workspace/call-outcomes``: the built-in outcomes and the workspace's own."""
    return _get(_CALL_OUTCOMES)


def create_call_outcome(name: str, description: str | None = None) -> ApiRequest:
    """``POST /v1/workspace/call-outcomes``."""
    return _create(
        _CALL_OUTCOMES, build(CallOutcomeDefinition, "call_outcome", name=name, description=description)
    )


def update_call_outcome_definition(
    outcome_id: str, name: str | None = None, description: str | None = None
) -> ApiRequest:
    """``PATCH /v1/workspace/call-outcomes/{id}``; at least one field must change."""
    path = _path(_CALL_OUTCOMES + "/{outcome_id}", outcome_id=outcome_id)
    body = build(CallOutcomeDefinitionUpdate, "call_outcome", name=name, description=description)
    return _request("PATCH", path, json=body.body())


# Agents


def list_agents(limit: int = 20, offset: int = 0) -> ApiRequest:
    """``GET /v1/agents``."""
    params = {"limit": require_page_size("limit", limit), "offset": require_int_between("offset", offset, 0)}
    return _get("/v1/agents", params)


def get_agent(agent_id: str) -> ApiRequest:
    """``GET /v1/agents/{id}``."""
    return _get(_path("/v1/agents/{agent_id}", agent_id=agent_id))


# Webhooks


def create_webhook(name: str, url: str, events: list[str]) -> ApiRequest:
    """``POST /v1/webhooks``."""
    return _create("/v1/webhooks", build(WebhookRequest, "webhook", name=name, url=url, events=events))


def list_webhooks() -> ApiRequest:
    """``GET /v1/webhooks``."""
    return _get("/v1/webhooks")


def update_webhook(
    webhook_id: str,
    name: str | None = None,
    url: str | None = None,
    events: list[str] | None = None,
    status: str | None = None,
) -> ApiRequest:
    """``PATCH /v1/webhooks/{id}``; at least one field must change."""
    path = _path("/v1/webhooks/{webhook_id}", webhook_id=webhook_id)
    body = build(WebhookUpdate, "webhook", name=name, url=url, events=events, status=status)
    return _request("PATCH", path, json=body.body())


def delete_webhook(webhook_id: str) -> ApiRequest:
    """``DELETE /v1/webhooks/{id}``."""
    path = _path("/v1/webhooks/{webhook_id}", webhook_id=webhook_id)
    return _request("DELETE", path, expects_body=False)


def list_webhook_deliveries(
    webhook_id: str, limit: int | None = None, status: str | None = None
) -> ApiRequest:
    """``GET /v1/webhooks/{id}/deliveries``: the delivery attempts of one webhook."""
    params = {
        "limit": None if limit is None else require_page_size("limit", limit),
        "status": optional_text("status", status),
    }
    return _get(_path("/v1/webhooks/{webhook_id}/deliveries", webhook_id=webhook_id), params)


def test_webhook(webhook_id: str) -> ApiRequest:
    """``POST /v1/webhooks/{id}/test``: sends a test event; a duplicate test event is harmless."""
    return _request("POST", _path("/v1/webhooks/{webhook_id}/test", webhook_id=webhook_id))


# pytest would otherwise collect the builder above as a test when a test module imports it.
test_webhook.__test__ = False  # type: ignore[attr-defined]
