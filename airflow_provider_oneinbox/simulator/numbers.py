"""Phone numbers of the store: registration, and who answers their inbound calls."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import HTTPException

from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.inbound import InboundSchedule
from airflow_provider_oneinbox.simulator.inventory import available_numbers


class NumberRegistry:
    """The phone-number half of :class:`~.state.Store` (which provides the attributes declared here)."""

    clock: SimClock
    lock: threading.RLock
    inbound: InboundSchedule
    numbers: dict[str, dict[str, Any]]
    number_ids: dict[str, str]

    def agent(self, agent_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def credential(self, credential_id: str | None) -> dict[str, Any] | None:
        raise NotImplementedError

    def new_id(self, prefix: str) -> str:
        raise NotImplementedError

    def now_iso(self) -> str:
        raise NotImplementedError

    def materialise_inbound(self, now: float | None = None) -> list[Any]:
        raise NotImplementedError

    def register_number(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Register a number: 409 if already registered, 404 for an unknown agent or credential."""
        with self.lock:
            number = fields["phone_number"]
            if number in self.number_ids:
                raise HTTPException(status_code=409, detail=f"Phone number {number} is already registered")
            if fields.get("agent_id") is not None:
                self.agent(fields["agent_id"])
            credential = self.credential(fields.get("credential_id"))
            routing = fields.get("inbound_routing")
            if routing:
                self._check_routing(routing)
            config = fields.get("provider_config") or None
            now = self.now_iso()
            record = {
                "id": self.new_id("phn"),
                "phone_number": number,
                "friendly_name": fields.get("friendly_name"),
                "agent_id": fields.get("agent_id"),
                "provider": fields.get("provider") or (credential or {}).get("provider") or "twilio",
                "credential_id": fields.get("credential_id"),
                "provider_config": {k: v for k, v in config.items() if k != "auth_password"}
                if config
                else None,
                "inbound_routing": routing,
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            self.materialise_inbound()
            self.numbers[record["id"]] = record
            self.number_ids[number] = record["id"]
            self.inbound.add(record["id"], self.clock.now())
            return record

    def routing(self, record: dict[str, Any]) -> dict[str, Any]:
        """A number's effective inbound routing: by default, to the number's own agent."""
        stored = record.get("inbound_routing") or {}
        fallback = stored.get("fallback") or {}
        return {
            "agent_id": stored.get("agent_id") or record.get("agent_id"),
            "fallback": {"agent_id": fallback.get("agent_id")},
            "voicemail_message": stored.get("voicemail_message"),
        }

    def _check_routing(self, routing: dict[str, Any]) -> None:
        for agent_id in (routing.get("agent_id"), (routing.get("fallback") or {}).get("agent_id")):
            if agent_id is not None:
                self.agent(agent_id)

    def set_routing(self, record: dict[str, Any], routing: dict[str, Any]) -> dict[str, Any]:
        """Store a number's inbound routing (404 for an unknown agent); returns the effective one."""
        with self.lock:
            self._check_routing(routing)
            record.update(inbound_routing=routing, updated_at=self.now_iso())
            return self.routing(record)

    def search_numbers(self, country: str, area_code: str | None, limit: int) -> list[dict[str, Any]]:
        """Numbers available to buy, deterministic per (country, area code), excluding registered ones."""
        return available_numbers(country, area_code, limit, exclude=self.number_ids.keys())
