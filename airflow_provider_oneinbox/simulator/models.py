"""Request bodies, validated by pydantic so errors come out as FastAPI's own 422 shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from airflow_provider_oneinbox.simulator.options import SimOptions

E164_PATTERN = r"^\+[1-9]\d{1,14}$"
PhoneNumber = Annotated[str, Field(pattern=E164_PATTERN)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]
Provider = Literal["twilio", "telnyx", "plivo", "vonage", "sip"]
WebhookEvent = Literal[
    "call.started",
    "call.ended",
    "call.analyzed",
    "call.failed",
    "call.recording.available",
    "transcript.partial",
    "transcript.final",
]


class CredentialIn(BaseModel):
    """``POST /v1/credentials``."""

    name: str = Field(min_length=1)
    provider: Provider
    api_key: str = Field(min_length=1)


class AgentIn(BaseModel):
    """``POST /v1/agents``."""

    name: str = Field(min_length=1)
    first_message: str | None = None
    system_prompt: str | None = None
    max_duration_seconds: int = Field(default=600, ge=10, le=7200)
    enable_recording: bool = True
    language: str = "en-US"
    voice_id: str | None = None


class ProviderConfig(BaseModel):
    """SIP trunk settings of a phone number (the password is never returned)."""

    trunk_address: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None


class FallbackRouting(BaseModel):
    """Who answers an inbound call when the number's routing names no agent."""

    agent_id: str | None = None


class InboundRouting(BaseModel):
    """Who answers inbound calls to a number (``POST /v1/phone-numbers/{id}/inbound-routing``)."""

    agent_id: str | None = None
    fallback: FallbackRouting | None = None
    voicemail_message: str | None = None


class PhoneNumberIn(BaseModel):
    """``POST /v1/phone-numbers``."""

    phone_number: PhoneNumber
    friendly_name: str | None = None
    provider: Provider | None = None
    agent_id: str | None = None
    credential_id: str | None = None
    provider_config: ProviderConfig | None = None
    inbound_routing: InboundRouting | None = None


class PhoneNumberPatch(BaseModel):
    """``PATCH /v1/phone-numbers/{id}``."""

    agent_id: str | None = None
    friendly_name: str | None = None


class PurchaseIn(BaseModel):
    """``POST /v1/phone-numbers/purchase``: leave ``phone_number`` out to be assigned one."""

    phone_number: PhoneNumber | None = None
    country: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    area_code: str | None = Field(default=None, pattern=r"^\d{1,5}$")
    agent_id: str | None = None
    credential_id: str | None = None
    friendly_name: str | None = None


class CallIn(BaseModel):
    """``POST /v1/calls``."""

    agent_id: str = Field(min_length=1)
    to_number: PhoneNumber
    from_number: PhoneNumber
    variables: dict[str, Any] | None = None
    webhook_url: HttpUrl | None = None
    scheduled_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None


class WebCallIn(BaseModel):
    """``POST /v1/calls/web``."""

    agent_id: str = Field(min_length=1)
    variables: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class CallOutcomeIn(BaseModel):
    """``POST /v1/workspace/call-outcomes``: a workspace's own outcome."""

    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)


class CallOutcomePatch(BaseModel):
    """``PATCH /v1/workspace/call-outcomes/{id}``."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)


class OutcomeIn(BaseModel):
    """``PATCH /v1/calls/{id}``: the outcome is the only mutable field."""

    outcome: str = Field(min_length=1, max_length=100)


class WebhookIn(BaseModel):
    """``POST /v1/webhooks``."""

    name: str = Field(min_length=1)
    url: HttpUrl
    events: list[WebhookEvent] = Field(min_length=1)


class WebhookPatch(BaseModel):
    """``PATCH /v1/webhooks/{id}``."""

    name: str | None = None
    url: HttpUrl | None = None
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)
    status: Literal["active", "disabled"] | None = None


class AdvanceIn(BaseModel):
    """``POST /_sim/advance``."""

    seconds: float = Field(ge=0)


class ConfigureIn(SimOptions):
    """``POST /_sim/configure``: the fields sent are changed (``null`` is a value for the options)."""

    speed: float | None = Field(default=None, gt=0)
    analysis_delay: float | None = Field(default=None, ge=0)

    def option_changes(self) -> dict[str, Any]:
        """The :class:`SimOptions` fields the request sent."""
        return {
            name: getattr(self, name) for name in self.model_fields_set if name in SimOptions.model_fields
        }
