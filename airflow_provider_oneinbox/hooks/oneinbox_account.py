"""
The account endpoints of :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook`.

Carrier credentials, phone numbers, agents and webhooks. These docstrings are the documentation
of the async hook's agent methods too. Import the hook, not this mixin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from airflow_provider_oneinbox.hooks import api, paging
from airflow_provider_oneinbox.hooks.responses import items_of, next_offset, record_of
from airflow_provider_oneinbox.hooks.sync_endpoints import SyncEndpoints
from airflow_provider_oneinbox.validation import require_e164


class OneInboxAccountMixin(SyncEndpoints):
    """Credential, phone number, agent and webhook methods for ``OneInboxHook``."""

    # Credentials

    def create_credential(self, name: str, provider: str, api_key: str) -> dict[str, Any]:
        """
        Store a telephony provider's credential (``POST /v1/credentials``). Not retried once sent.

        :param name: A label for the credential.
        :param provider: The carrier, e.g. ``"twilio"`` or ``"telnyx"``.
        :param api_key: The carrier's key; stored encrypted by OneInbox and never returned.
        :return: ``{id, name, provider}``.
        """
        return self._record(api.create_credential(name, provider, api_key))

    def list_credentials(self) -> list[dict[str, Any]]:
        """List the stored telephony credentials (``GET /v1/credentials``)."""
        return self._items(api.list_credentials())

    # Phone numbers

    def register_phone_number(
        self,
        phone_number: str,
        agent_id: str | None = None,
        provider: str | None = None,
        credential_id: str | None = None,
        friendly_name: str | None = None,
        provider_config: dict[str, Any] | None = None,
        inbound_routing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Register a number you own with OneInbox (``POST /v1/phone-numbers``). Not retried once sent.

        :param phone_number: The number, E.164 (``"+14155550123"``).
        :param agent_id: Agent answering and placing calls on it.
        :param provider: The carrier, e.g. ``"twilio"``.
        :param credential_id: Stored carrier credential to use.
        :param friendly_name: A label.
        :param provider_config: SIP trunk settings ``{trunk_address, auth_username, auth_password}``.
        :param inbound_routing: ``{agent_id, fallback: {agent_id}, voicemail_message}``.
        :return: ``{id, phone_number, agent_id, status}``.
        """
        return self._record(
            api.register_phone_number(
                phone_number,
                agent_id,
                provider,
                credential_id,
                friendly_name,
                provider_config,
                inbound_routing,
            )
        )

    def update_phone_number(self, phone_number_id: str, agent_id: str) -> dict[str, Any]:
        """
        Assign a registered number to another agent (``PATCH /v1/phone-numbers/{id}``).

        :param phone_number_id: The number's id (``phn_...``), not the number itself.
        :param agent_id: The agent to assign.
        """
        return self._record(api.update_phone_number(phone_number_id, agent_id))

    def list_phone_numbers(self) -> list[dict[str, Any]]:
        """List the registered numbers (``GET /v1/phone-numbers``)."""
        return self._items(api.list_phone_numbers())

    def get_phone_number_by_number(self, phone_number: str) -> dict[str, Any] | None:
        """
        The registered number record for ``phone_number``, or ``None`` if not registered.

        :param phone_number: The number, E.164.
        """
        wanted = require_e164("phone_number", phone_number)
        return next((rec for rec in self.list_phone_numbers() if rec.get("phone_number") == wanted), None)

    def search_phone_numbers(
        self,
        country: str = "US",
        area_code: str | None = None,
        limit: int = 10,
        credential_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """
        Numbers available to buy from the carrier (``GET /v1/phone-numbers/search``).

        :param country: ISO country code.
        :param area_code: Area code to search in, e.g. ``"415"``.
        :param limit: Most numbers to return, 1..100.
        :param credential_id: Carrier credential to search with.
        """
        return self._items(api.search_phone_numbers(country, area_code, limit, credential_id))

    def purchase_phone_number(
        self,
        phone_number: str | None = None,
        country: str | None = None,
        area_code: str | None = None,
        agent_id: str | None = None,
        credential_id: str | None = None,
        friendly_name: str | None = None,
    ) -> dict[str, Any]:
        """
        Buy a number (``POST /v1/phone-numbers/purchase``). Costs money: not retried once sent.

        :param phone_number: The number to buy, E.164; leave out to be assigned one.
        :param country: ISO country code when no number is given.
        :param area_code: Preferred area code when no number is given.
        :param agent_id: Agent to assign the number to.
        :param credential_id: Carrier credential to buy with.
        :param friendly_name: A label.
        """
        return self._record(
            api.purchase_phone_number(
                phone_number, country, area_code, agent_id, credential_id, friendly_name
            )
        )

    # Agents

    def list_agents(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """
        One page of agents (``GET /v1/agents``).

        :param limit: Page size, 1..100.
        :param offset: Agents to skip.
        :return: ``{items, total, limit, offset}``.
        """
        return self._record(api.list_agents(limit, offset))

    def iter_agents(
        self,
        page_size: int = 100,
        max_items: int | None = None,
        *,
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """
        Every agent, walking offset pages; bounded like :meth:`~OneInboxHook.iter_calls`.

        :param page_size: Agents per request, 1..100.
        :param max_items: Stop after this many agents; ``None`` for all.
        :param max_pages: Pages to read at most (default 1000).
        :param max_seconds: Seconds the walk may take, its page requests included (default 600).
        """
        paging.check_walk(page_size, max_items, max_pages, max_seconds)
        return paging.walk(
            lambda offset, deadline: self._agent_page(page_size, offset, deadline),
            next_offset,
            0,
            max_items,
            claims_more=paging.offset_claims_more,
            what="GET /v1/agents",
            max_pages=max_pages,
            max_seconds=max_seconds,
        )

    def _agent_page(self, page_size: int, offset: int, deadline: float | None) -> dict[str, Any]:
        """One page of agents for :meth:`iter_agents`, its ``items`` checked to be a list."""
        request = replace(api.list_agents(page_size, offset), deadline=deadline)
        page = record_of(self._request(request), request)
        if page.get("items") is not None:
            items_of(page, request)
        return page

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """
        The agent record (``GET /v1/agents/{id}``).

        :param agent_id: The agent's id.
        """
        return self._record(api.get_agent(agent_id))

    # Webhooks

    def create_webhook(self, name: str, url: str, events: list[str]) -> dict[str, Any]:
        """
        Subscribe a URL to events (``POST /v1/webhooks``). Not retried once sent.

        :param name: A label.
        :param url: The receiving http(s) URL.
        :param events: E.g. ``["call.ended", "call.analyzed"]``.
        :return: The webhook, including its signing ``secret``.
        """
        return self._record(api.create_webhook(name, url, events))

    def list_webhooks(self) -> list[dict[str, Any]]:
        """List the webhooks (``GET /v1/webhooks``)."""
        return self._items(api.list_webhooks())

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        url: str | None = None,
        events: list[str] | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """
        Change a webhook (``PATCH /v1/webhooks/{id}``); give at least one field.

        :param webhook_id: The webhook's id.
        :param name: New label.
        :param url: New http(s) URL.
        :param events: New list of events.
        :param status: E.g. ``"active"`` or ``"disabled"``.
        """
        return self._record(api.update_webhook(webhook_id, name, url, events, status))

    def delete_webhook(self, webhook_id: str) -> None:
        """
        Delete a webhook (``DELETE /v1/webhooks/{id}``).

        :param webhook_id: The webhook's id.
        """
        self._request(api.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: str) -> dict[str, Any]:
        """
        Have OneInbox send a test event to the webhook (``POST /v1/webhooks/{id}/test``).

        :param webhook_id: The webhook's id.
        """
        return self._record(api.test_webhook(webhook_id))
