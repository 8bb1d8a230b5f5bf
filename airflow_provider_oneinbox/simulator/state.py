"""The in-memory store: agents, credentials, phone numbers, webhooks and calls (indexed for cheap reads)."""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException

from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.inventory import available_numbers
from airflow_provider_oneinbox.simulator.lifecycle import TERMINAL, Call
from airflow_provider_oneinbox.simulator.scenarios import scenario_for

_SEED_AGENTS: tuple[dict[str, Any], ...] = (
    {
        "id": "agt_sales",
        "name": "Aria (sales)",
        "first_message": "Hi {{customer_name}}! This is Aria from Acme.",
        "system_prompt": "You book product demos for Acme.",
        "max_duration_seconds": 600,
        "enable_recording": True,
        "language": "en-US",
    },
    {
        "id": "agt_support",
        "name": "Sam (support)",
        "first_message": "Hello {{customer_name}}, this is Sam from Acme support about {{order_id}}.",
        "system_prompt": "You follow up on support tickets.",
        "max_duration_seconds": 900,
        "enable_recording": True,
        "language": "en-US",
    },
    {
        "id": "agt_survey",
        "name": "Maya (survey)",
        "first_message": "Hi {{customer_name}}, do you have two minutes for a short survey?",
        "system_prompt": "You run a two-question satisfaction survey.",
        "max_duration_seconds": 300,
        "enable_recording": False,
        "language": "en-GB",
    },
)
#: The agents every fresh (or reset) simulator has.
SEED_AGENT_IDS: tuple[str, ...] = tuple(agent["id"] for agent in _SEED_AGENTS)


def new_id(prefix: str, length: int = 24) -> str:
    """An opaque prefixed id, e.g. ``call_3f2a...``."""
    return f"{prefix}_{uuid.uuid4().hex[:length]}"


def not_found(what: str) -> HTTPException:
    """FastAPI-shaped 404."""
    return HTTPException(status_code=404, detail=f"{what} not found")


def encode_cursor(seq: int) -> str:
    """An opaque cursor pointing just past the call with sequence number ``seq``."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number in a cursor; 400 if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "seq":
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(status_code=400, detail="Invalid cursor") from None


class Store:
    """
    Everything the fake account holds. Guard compound operations with :attr:`lock`.

    :param clock: The simulated clock.
    :param analysis_delay: Simulated seconds between a call's end and its post-call data.
    """

    def __init__(self, clock: SimClock, analysis_delay: float = 3.0) -> None:
        self.clock = clock
        self.analysis_delay = analysis_delay
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget everything and re-seed the agents."""
        with self.lock:
            now = self.clock.iso(self.clock.now())
            self.agents: dict[str, dict[str, Any]] = {
                a["id"]: {**a, "created_at": now, "updated_at": now} for a in _SEED_AGENTS
            }
            self.credentials: dict[str, dict[str, Any]] = {}
            self.credential_secrets: dict[str, str] = {}
            self.numbers: dict[str, dict[str, Any]] = {}
            self.number_ids: dict[str, str] = {}
            self.webhooks: dict[str, dict[str, Any]] = {}
            self.calls: dict[str, Call] = {}
            self.call_list: list[Call] = []
            self.calls_by_agent: dict[str, list[Call]] = {}
            self.calls_created_by_to: Counter[str] = Counter()
            self._seq = 0

    def now_iso(self) -> str:
        """Simulated now, ISO-8601."""
        return self.clock.iso(self.clock.now()) or ""

    # -- lookups --------------------------------------------------------------------------------
    def agent(self, agent_id: str) -> dict[str, Any]:
        """The agent, or 404."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise not_found("Agent")
        return agent

    def credential(self, credential_id: str | None) -> dict[str, Any] | None:
        """The credential (``None`` for ``None``), or 404."""
        if credential_id is None:
            return None
        credential = self.credentials.get(credential_id)
        if credential is None:
            raise not_found("Credential")
        return credential

    def call(self, call_id: str) -> Call:
        """The call, or 404."""
        call = self.calls.get(call_id)
        if call is None:
            raise not_found("Call")
        return call

    # -- phone numbers --------------------------------------------------------------------------
    def register_number(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Register a number: 409 if already registered, 404 for an unknown agent or credential."""
        with self.lock:
            number = fields["phone_number"]
            if number in self.number_ids:
                raise HTTPException(status_code=409, detail=f"Phone number {number} is already registered")
            if fields.get("agent_id") is not None:
                self.agent(fields["agent_id"])
            credential = self.credential(fields.get("credential_id"))
            config = fields.get("provider_config") or None
            now = self.now_iso()
            record = {
                "id": new_id("phn"),
                "phone_number": number,
                "friendly_name": fields.get("friendly_name"),
                "agent_id": fields.get("agent_id"),
                "provider": fields.get("provider") or (credential or {}).get("provider") or "twilio",
                "credential_id": fields.get("credential_id"),
                "provider_config": {k: v for k, v in config.items() if k != "auth_password"}
                if config
                else None,
                "inbound_routing": fields.get("inbound_routing"),
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            self.numbers[record["id"]] = record
            self.number_ids[number] = record["id"]
            return record

    def search_numbers(self, country: str, area_code: str | None, limit: int) -> list[dict[str, Any]]:
        """Numbers available to buy, deterministic per (country, area code), excluding registered ones."""
        return available_numbers(country, area_code, limit, exclude=self.number_ids.keys())

    # -- calls ----------------------------------------------------------------------------------
    def create_call(
        self,
        agent_id: str,
        to_number: str | None,
        from_number: str | None,
        *,
        variables: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        scheduled_at: datetime | None = None,
        call_type: str = "outbound",
    ) -> Call:
        """Create a call (404 for an unknown agent); its whole future is fixed by its scenario."""
        with self.lock:
            agent = self.agent(agent_id)
            now = self.clock.now()
            start, scheduled_iso = now, None
            if scheduled_at is not None:
                if scheduled_at.tzinfo is None:
                    scheduled_at = scheduled_at.replace(tzinfo=UTC)
                scheduled_iso = scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
                start = max(now, self.clock.to_sim(scheduled_at))
            self._seq += 1
            call = Call(
                id=new_id("call", 32),
                seq=self._seq,
                agent_id=agent_id,
                scenario=scenario_for(to_number),
                created=now,
                start=start,
                analysis_delay=self.analysis_delay,
                first_message=(overrides or {}).get("first_message") or agent["first_message"],
                enable_recording=bool(agent.get("enable_recording", True)),
                type=call_type,
                direction="inbound" if call_type == "web" else "outbound",
                from_number=from_number,
                to_number=to_number,
                scheduled_at=scheduled_iso,
                variables=dict(variables or {}),
                metadata=dict(metadata or {}),
                overrides=overrides,
                webhook_url=webhook_url,
                twilio_call_sid=None if call_type == "web" else "CA" + uuid.uuid4().hex,
            )
            self.calls[call.id] = call
            self.call_list.append(call)
            self.calls_by_agent.setdefault(agent_id, []).append(call)
            if call_type != "web" and to_number:
                self.calls_created_by_to[to_number] += 1
            return call

    def stop_call(self, call: Call) -> bool:
        """Hang up a live (or queued) call now; returns whether anything changed."""
        with self.lock:
            now = self.clock.now()
            if now >= call.end:
                return False
            call.stopped_at = now
            return True

    def set_outcome(self, call: Call, outcome: str) -> None:
        """Store a PATCHed outcome, Title Case."""
        with self.lock:
            call.outcome_override = outcome.strip().title()
            call.patched_at = self.clock.now()

    def active_calls(self) -> int:
        """Calls not yet completed or failed."""
        now = self.clock.now()
        with self.lock:
            return sum(1 for call in self.call_list if now < call.end)

    def _source(self, agent_id: str | None) -> list[Call]:
        return self.call_list if agent_id is None else self.calls_by_agent.get(agent_id, [])

    def _matching(self, calls: Iterable[Call], status: str | None, now: float) -> Iterator[Call]:
        return (c for c in calls if status is None or c.status_at(now) == status)

    def list_calls(self, agent_id: str | None, status: str | None, limit: int, offset: int) -> dict[str, Any]:
        """``GET /v1/calls``: newest first, offset pagination."""
        now = self.clock.now()
        with self.lock:
            source = self._source(agent_id)
            if status is None:
                total = len(source)
                stop = max(0, total - offset)
                page = source[max(0, stop - limit) : stop][::-1]
            else:
                matching = list(self._matching(reversed(source), status, now))
                total, page = len(matching), matching[offset : offset + limit]
            items = [call.render(self.clock, now) for call in page]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    def cursor_calls(
        self, agent_id: str | None, status: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """``GET /v1/calls/cursor``: newest first, cursor pagination."""
        now = self.clock.now()
        before = decode_cursor(cursor) if cursor else None
        with self.lock:
            source = self._source(agent_id)
            end = len(source) if before is None else bisect_left(source, before, key=lambda c: c.seq)
            page: list[Call] = []
            for call in self._matching((source[i] for i in range(end - 1, -1, -1)), status, now):
                page.append(call)
                if len(page) > limit:
                    break
            has_more = len(page) > limit
            page = page[:limit]
            items = [call.render(self.clock, now) for call in page]
        next_cursor = encode_cursor(page[-1].seq) if has_more else None
        return {"items": items, "next_cursor": next_cursor, "has_more": has_more, "limit": limit}

    def is_terminal(self, call: Call) -> bool:
        """Whether the call has ended."""
        return call.status_at(self.clock.now()) in TERMINAL
