"""
One model per request body of the OneInbox API: what the hooks send and what the simulator accepts.

Fields follow the reference (``/work/shared/reference/oneinbox-api.md`` in the project's notes):
documented nested objects (``overrides``, ``provider_config``, ``inbound_routing``) have their
documented fields typed and keep any other field, since the reference names those fields but does
not say they are the only ones. Values the reference leaves open (a carrier name, a webhook event)
are any non-empty string here; the simulator's subclasses narrow them to what it models.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.models.base import NestedObject, RequestBody
from airflow_provider_oneinbox.models.fields import (
    AreaCode,
    AwareDateTime,
    CountryCode,
    HttpUrl,
    JsonObject,
    JsonObjectCheck,
    PhoneNumber,
    SecretText,
    StringList,
    Text,
)


def _at_least_one(body: RequestBody, what: str, names: tuple[str, ...]) -> None:
    if all(getattr(body, name) is None for name in names):
        raise OneInboxInputError(what, f"give at least one of {', '.join(names)} to update")


# Credentials / integrations


class CredentialRequest(RequestBody):
    """``POST /v1/credentials`` and ``POST /v1/integrations``: a carrier's key, stored encrypted."""

    name: Text
    provider: Text
    api_key: SecretText


# Phone numbers


class ProviderConfig(NestedObject):
    """SIP trunk settings of a number (``provider_config``); the password is never returned."""

    trunk_address: str | None = None
    auth_username: str | None = None
    auth_password: str | None = Field(default=None, repr=False)


class FallbackRouting(NestedObject):
    """Who answers an inbound call the routing's agent does not."""

    agent_id: Text | None = None


class InboundRouting(RequestBody):
    """``POST /v1/phone-numbers/{id}/inbound-routing``, and a number's ``inbound_routing``."""

    agent_id: Text | None = None
    fallback: Annotated[FallbackRouting | None, JsonObjectCheck] = None
    voicemail_message: Text | None = None


class PhoneNumberRegistration(RequestBody):
    """``POST /v1/phone-numbers``: a carrier number, for an agent."""

    phone_number: PhoneNumber
    agent_id: Text | None = None
    provider: Text | None = None
    credential_id: Text | None = None
    friendly_name: Text | None = None
    provider_config: Annotated[ProviderConfig | None, JsonObjectCheck] = None
    inbound_routing: Annotated[InboundRouting | None, JsonObjectCheck] = None


class PhoneNumberUpdate(RequestBody):
    """``PATCH /v1/phone-numbers/{id}``: the fields given change (the reference documents ``agent_id``)."""

    agent_id: Text | None = None
    friendly_name: Text | None = None


class PhoneNumberPurchase(RequestBody):
    """``POST /v1/phone-numbers/purchase``: leave ``phone_number`` out to be assigned one."""

    phone_number: PhoneNumber | None = None
    country: CountryCode | None = None
    area_code: AreaCode | None = None
    agent_id: Text | None = None
    credential_id: Text | None = None
    friendly_name: Text | None = None


# Calls


class LlmOverrides(NestedObject):
    """``overrides.llm``."""

    model: str | None = None
    temperature: float | None = None
    system_prompt: str | None = None


class TranscriberOverrides(NestedObject):
    """``overrides.transcriber``."""

    model: str | None = None
    language: str | None = None


class TtsOverrides(NestedObject):
    """``overrides.tts``."""

    voice_id: str | None = None
    model: str | None = None
    speed: float | None = None
    stability: float | None = None


class CallOverrides(NestedObject):
    """``overrides`` of a call: per-call settings of the agent's LLM, transcriber and voice."""

    llm: LlmOverrides | None = None
    transcriber: TranscriberOverrides | None = None
    tts: TtsOverrides | None = None
    first_message: str | None = None


Overrides = Annotated[CallOverrides | None, JsonObjectCheck]


class CallRequest(RequestBody):
    """
    ``POST /v1/calls``: place an outbound call.

    Build it once (``build(CallRequest, "call", ...)`` or :func:`~airflow_provider_oneinbox.hooks.api.
    call_request`), checked, and send that: :func:`~airflow_provider_oneinbox.hooks.api.create_call`
    takes its fields.
    """

    agent_id: Text
    to_number: PhoneNumber
    from_number: PhoneNumber
    variables: JsonObject | None = None
    webhook_url: HttpUrl | None = None
    scheduled_at: AwareDateTime | None = None
    metadata: JsonObject | None = None
    overrides: Overrides = None

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``OneInboxHook.create_call`` that send this request."""
        dumped = self.model_dump(exclude_unset=True)
        return {name: dumped.get(name) for name in type(self).model_fields}


class WebCallRequest(RequestBody):
    """``POST /v1/calls/web``: a browser call."""

    agent_id: Text
    variables: JsonObject | None = None
    metadata: JsonObject | None = None
    overrides: Overrides = None


class CallUpdate(RequestBody):
    """``PATCH /v1/calls/{id}``: the outcome is the only field a call lets change."""

    outcome: Text


# The workspace's call outcomes


class CallOutcomeDefinition(RequestBody):
    """``POST /v1/workspace/call-outcomes``: an outcome of the workspace's own."""

    name: Text
    description: Text | None = None


class CallOutcomeDefinitionUpdate(RequestBody):
    """``PATCH /v1/workspace/call-outcomes/{id}``; at least one field must change."""

    name: Text | None = None
    description: Text | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> CallOutcomeDefinitionUpdate:
        _at_least_one(self, "call_outcome", ("name", "description"))
        return self


# Webhooks


class WebhookRequest(RequestBody):
    """``POST /v1/webhooks``."""

    name: Text
    url: HttpUrl
    events: StringList


class WebhookUpdate(RequestBody):
    """``PATCH /v1/webhooks/{id}``; at least one field must change."""

    name: Text | None = None
    url: HttpUrl | None = None
    events: StringList | None = None
    status: Text | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> WebhookUpdate:
        _at_least_one(self, "webhook", ("name", "url", "events", "status"))
        return self
