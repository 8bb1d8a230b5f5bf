"""
Request bodies the simulator accepts: the provider's own models (:mod:`airflow_provider_oneinbox.models`).

Client and simulator check a body with the same model, so they cannot disagree. The subclasses
here only narrow what the reference leaves open to what the simulator models (its carriers and
webhook events, the lengths of outcome names), and errors come out as FastAPI's own 422 shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from airflow_provider_oneinbox.models.fields import Text
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
from airflow_provider_oneinbox.simulator.options import SimOptions

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
OutcomeName = Annotated[Text, Field(max_length=100)]
OutcomeDescription = Annotated[Text, Field(max_length=500)]

__all__ = [
    "AdvanceIn",
    "AgentIn",
    "CallIn",
    "CallOutcomeIn",
    "CallOutcomePatch",
    "ConfigureIn",
    "CredentialIn",
    "InboundRouting",
    "OutcomeIn",
    "PhoneNumberIn",
    "PhoneNumberPatch",
    "PurchaseIn",
    "WebCallIn",
    "WebhookIn",
    "WebhookPatch",
]


class CredentialIn(CredentialRequest):
    """``POST /v1/credentials``: the carriers the simulator knows."""

    provider: Provider  # type: ignore[assignment]


class AgentIn(BaseModel):
    """``POST /v1/agents`` (the simulator's own: the provider does not create agents)."""

    name: str = Field(min_length=1)
    first_message: str | None = None
    system_prompt: str | None = None
    max_duration_seconds: int = Field(default=600, ge=10, le=7200)
    enable_recording: bool = True
    language: str = "en-US"
    voice_id: str | None = None


class PhoneNumberIn(PhoneNumberRegistration):
    """``POST /v1/phone-numbers``."""

    provider: Provider | None = None  # type: ignore[assignment]


class PhoneNumberPatch(PhoneNumberUpdate):
    """``PATCH /v1/phone-numbers/{id}``."""


class PurchaseIn(PhoneNumberPurchase):
    """``POST /v1/phone-numbers/purchase``: leave ``phone_number`` out to be assigned one (US by default)."""


class CallIn(CallRequest):
    """``POST /v1/calls``."""


class WebCallIn(WebCallRequest):
    """``POST /v1/calls/web``."""


class CallOutcomeIn(CallOutcomeDefinition):
    """``POST /v1/workspace/call-outcomes``: a workspace's own outcome."""

    name: OutcomeName
    description: OutcomeDescription | None = None


class CallOutcomePatch(CallOutcomeDefinitionUpdate):
    """``PATCH /v1/workspace/call-outcomes/{id}``."""

    name: OutcomeName | None = None
    description: OutcomeDescription | None = None


class OutcomeIn(CallUpdate):
    """``PATCH /v1/calls/{id}``: the outcome is the only mutable field."""

    outcome: OutcomeName


class WebhookIn(WebhookRequest):
    """``POST /v1/webhooks``: the events the simulator sends."""

    events: list[WebhookEvent] = Field(min_length=1)  # type: ignore[assignment]


class WebhookPatch(WebhookUpdate):
    """``PATCH /v1/webhooks/{id}``."""

    events: list[WebhookEvent] | None = Field(default=None, min_length=1)  # type: ignore[assignment]
    status: Literal["active", "disabled"] | None = None  # type: ignore[assignment]


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
