"""
The workspace endpoints of :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook`.

Quota, the workspace's call outcomes, carrier integrations, a number's inbound routing and
webhook deliveries: kept here so the hook's own module stays readable. Import the hook, not
this mixin.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_oneinbox.hooks import api
from airflow_provider_oneinbox.hooks.sync_endpoints import SyncEndpoints


class OneInboxWorkspaceMixin(SyncEndpoints):
    """
    Methods for ``OneInboxHook``; they send through the hook's ``_record`` and ``_items``.

    ``GET`` methods are retried like every read. ``POST`` methods are not repeated once the
    request may have reached the server (a 5xx, a timeout, a dropped reply): they are raised
    with a note that the request may have taken effect.
    """

    # Quota

    def get_usage(self) -> dict[str, Any]:
        """
        The workspace's quota and usage (``GET /v1/usage``); daily figures reset at 00:00 UTC.

        :return: ``{calls_made_today, max_calls_per_day, calls_remaining_today,
            calls_this_month, minutes_used_this_month, cost_cents_this_month, period_start, ...}``.
        """
        return self._record(api.get_usage())

    # Call outcomes of the workspace (``update_call_outcome`` sets one call's outcome instead)

    def list_call_outcomes(self) -> list[dict[str, Any]]:
        """
        The outcomes a call may take (``GET /v1/workspace/call-outcomes``): built-in and custom.

        :return: One record per outcome; an outcome the API lists as a bare name becomes
            ``{"name": name}``.
        """
        return [
            item if isinstance(item, dict) else {"name": item}
            for item in self._items(api.list_call_outcomes())
        ]

    def create_call_outcome(self, name: str, description: str | None = None) -> dict[str, Any]:
        """
        Define a custom outcome (``POST /v1/workspace/call-outcomes``). Not retried once sent.

        :param name: The outcome's name, e.g. ``"Callback Requested"``.
        :param description: When the outcome applies, for the people (and the model) choosing it.
        :return: The outcome record.
        """
        return self._record(api.create_call_outcome(name, description))

    def update_call_outcome_definition(
        self, outcome_id: str, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """
        Change a custom outcome (``PATCH /v1/workspace/call-outcomes/{id}``); give at least one field.

        Not to be confused with :meth:`~OneInboxHook.update_call_outcome`, which sets the outcome
        of one call.

        :param outcome_id: The outcome's id.
        :param name: New name.
        :param description: New description.
        :return: The outcome record.
        """
        return self._record(api.update_call_outcome_definition(outcome_id, name, description))

    # Integrations: the newer name of credentials

    def create_integration(self, name: str, provider: str, api_key: str) -> dict[str, Any]:
        """
        Store a carrier integration (``POST /v1/integrations``). Not retried once sent.

        The newer name of :meth:`~OneInboxHook.create_credential`. The carrier key never shows
        in an error, a log or a repr, whatever the API echoes.

        :param name: A label for the integration.
        :param provider: The carrier, e.g. ``"twilio"`` or ``"telnyx"``.
        :param api_key: The carrier's key; stored encrypted by OneInbox and never returned.
        :return: The integration record.
        """
        return self._record(api.create_integration(name, provider, api_key))

    def list_integrations(self) -> list[dict[str, Any]]:
        """List the carrier integrations (``GET /v1/integrations``)."""
        return self._items(api.list_integrations())

    def get_integration(self, integration_id: str) -> dict[str, Any]:
        """
        One carrier integration (``GET /v1/integrations/{id}``), its key shown as ``masked_key``.

        :param integration_id: The integration's id (the ``credential_id`` of a phone number).
        """
        return self._record(api.get_integration(integration_id))

    # Inbound routing of a number

    def get_inbound_routing(self, phone_number_id: str) -> dict[str, Any]:
        """
        Where calls to a number go (``GET /v1/phone-numbers/{id}/inbound-routing``).

        :param phone_number_id: The number's id, not the number itself.
        :return: ``{agent_id, fallback: {agent_id}, voicemail_message}``.
        """
        return self._record(api.get_inbound_routing(phone_number_id))

    def set_inbound_routing(
        self,
        phone_number_id: str,
        agent_id: str,
        fallback_agent_id: str | None = None,
        voicemail_message: str | None = None,
    ) -> dict[str, Any]:
        """
        Route calls to a number (``POST /v1/phone-numbers/{id}/inbound-routing``). Not retried once sent.

        :param phone_number_id: The number's id, not the number itself.
        :param agent_id: The agent that answers.
        :param fallback_agent_id: The agent that answers when the first cannot.
        :param voicemail_message: What callers hear when no agent answers.
        :return: The routing, ``{agent_id, fallback: {agent_id}, voicemail_message}``.
        """
        return self._record(
            api.set_inbound_routing(phone_number_id, agent_id, fallback_agent_id, voicemail_message)
        )

    # Webhook deliveries

    def list_webhook_deliveries(
        self, webhook_id: str, limit: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """
        The delivery attempts of a webhook (``GET /v1/webhooks/{id}/deliveries``).

        :param webhook_id: The webhook's id.
        :param limit: Most attempts to return, 1..100; the API's default when ``None``.
        :param status: Only attempts in this status (sent only when given).
        :return: ``[{status, attempt, response_status, next_retry_at, ...}]``.
        """
        return self._items(api.list_webhook_deliveries(webhook_id, limit, status))
