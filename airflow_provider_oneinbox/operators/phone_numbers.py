"""Operators that register, reassign and search OneInbox phone numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.exceptions import OneInboxConflictError
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator
from airflow_provider_oneinbox.task_errors import fail_on_oneinbox_errors

if TYPE_CHECKING:
    from airflow.sdk import Context


class OneInboxRegisterPhoneNumberOperator(OneInboxBaseOperator):
    """
    Register a carrier phone number with OneInbox for an agent and return the number's id.

    Idempotent, so a DAG can run on a schedule: when the number is already registered
    (the API answers 409) the existing registration is reused, and reassigned to ``agent_id``
    when it points at another agent.

    :param phone_number: The number in E.164 form, e.g. ``"+14155550123"``. A number that cannot
        exist (checked with ``phonenumbers``) fails the task before any request. (templated)
    :param agent_id: The agent that answers and places calls on this number. (templated)
    :param credential_id: The carrier integration to route through (from
        ``OneInboxCreateCredentialOperator``). (templated)
    :param provider: The carrier, e.g. ``"twilio"`` or ``"telnyx"``. (templated)
    :param friendly_name: A display name, e.g. ``"Sales Line"``. (templated)
    :param oneinbox_conn_id: The OneInbox connection to use.
    """

    template_fields: Sequence[str] = (
        "phone_number",
        "agent_id",
        "credential_id",
        "provider",
        "friendly_name",
    )

    def __init__(
        self,
        *,
        phone_number: str,
        agent_id: str,
        credential_id: str | None = None,
        provider: str | None = None,
        friendly_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.phone_number = phone_number
        self.agent_id = agent_id
        self.credential_id = credential_id
        self.provider = provider
        self.friendly_name = friendly_name

    def execute(self, context: Context) -> str:
        # At run time, not at DAG parse: phonenumbers is imported on first use.
        from airflow_provider_oneinbox.validation import require_e164

        with fail_on_oneinbox_errors(f"Registering {self.phone_number}"):
            # Checked once, before any request: what is registered is what a 409 is looked up by.
            phone_number = require_e164("phone_number", self.phone_number)
            try:
                record = self.hook.register_phone_number(
                    phone_number=phone_number,
                    agent_id=self.agent_id,
                    provider=self.provider,
                    credential_id=self.credential_id,
                    friendly_name=self.friendly_name,
                )
                self.log.info("Registered %s as %s for agent %s", phone_number, record["id"], self.agent_id)
                return str(record["id"])
            except OneInboxConflictError:
                existing = self.hook.get_phone_number_by_number(phone_number)
                if existing is None:
                    raise
            if existing.get("agent_id") != self.agent_id:
                self.hook.update_phone_number(phone_number_id=existing["id"], agent_id=self.agent_id)
                self.log.info(
                    "%s was registered for agent %s; reassigned it to %s",
                    phone_number,
                    existing.get("agent_id"),
                    self.agent_id,
                )
            else:
                self.log.info("%s is already registered for agent %s", phone_number, self.agent_id)
        return str(existing["id"])


class OneInboxUpdatePhoneNumberOperator(OneInboxBaseOperator):
    """
    Reassign a registered phone number to another agent (``PATCH /v1/phone-numbers/{id}``).

    :param phone_number_id: The number's OneInbox id, e.g. the return value of
        :class:`OneInboxRegisterPhoneNumberOperator`. (templated)
    :param agent_id: The agent to route the number to. (templated)
    :param oneinbox_conn_id: The OneInbox connection to use.
    :return: The updated phone number record.
    """

    template_fields: Sequence[str] = ("phone_number_id", "agent_id")

    def __init__(self, *, phone_number_id: str, agent_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone_number_id = phone_number_id
        self.agent_id = agent_id

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_on_oneinbox_errors(f"Reassigning phone number {self.phone_number_id}"):
            record = self.hook.update_phone_number(
                phone_number_id=self.phone_number_id, agent_id=self.agent_id
            )
        self.log.info("Phone number %s now routes to agent %s", self.phone_number_id, self.agent_id)
        return record


class OneInboxSearchPhoneNumbersOperator(OneInboxBaseOperator):
    """
    Search the carrier for phone numbers available to buy, and return them.

    :param country: ISO country code, e.g. ``"US"``. (templated)
    :param area_code: Area code to search in, e.g. ``"415"``. (templated)
    :param limit: At most this many numbers (1 to 100).
    :param credential_id: Search through this carrier integration. (templated)
    :param oneinbox_conn_id: The OneInbox connection to use.
    :return: A list of available numbers, each a dict with at least ``phone_number``.
    """

    template_fields: Sequence[str] = ("country", "area_code", "credential_id")

    def __init__(
        self,
        *,
        country: str = "US",
        area_code: str | None = None,
        limit: int = 10,
        credential_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.country = country
        self.area_code = area_code
        self.limit = limit
        self.credential_id = credential_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        with fail_on_oneinbox_errors(f"Searching numbers in {self.country} {self.area_code or ''}"):
            numbers = self.hook.search_phone_numbers(
                country=self.country,
                area_code=self.area_code,
                limit=self.limit,
                credential_id=self.credential_id,
            )
        self.log.info("Found %d available numbers in %s %s", len(numbers), self.country, self.area_code or "")
        return numbers
