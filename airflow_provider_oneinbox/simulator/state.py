"""The in-memory store: agents, credentials, phone numbers, webhooks, outcomes and calls (indexed)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.errors import ApiError, not_found
from airflow_provider_oneinbox.simulator.ids import check_path_id, new_id
from airflow_provider_oneinbox.simulator.inbound import InboundSchedule, caller_number
from airflow_provider_oneinbox.simulator.lifecycle import DEFAULT_RECORDING_BASE, TERMINAL, Call
from airflow_provider_oneinbox.simulator.limits import LimitTracker
from airflow_provider_oneinbox.simulator.listing import cursor_page, offset_page
from airflow_provider_oneinbox.simulator.numbers import NumberRegistry
from airflow_provider_oneinbox.simulator.options import SimOptions
from airflow_provider_oneinbox.simulator.record import render_call
from airflow_provider_oneinbox.simulator.scenarios import scenario_for
from airflow_provider_oneinbox.simulator.seed import KNOWN_VOICE_IDS, SEED_AGENT_IDS, SEED_AGENTS
from airflow_provider_oneinbox.simulator.usage import quota_error, today, usage_document

__all__ = ["SEED_AGENT_IDS", "Store"]


class Store(NumberRegistry):
    """
    Everything the fake account holds. Guard compound operations with :attr:`lock`.

    :param clock: The simulated clock.
    :param analysis_delay: Simulated seconds between a call's end and its post-call data.
    :param options: The behaviour switches (shapes, id style, quota, inbound rate); replaced, never mutated.
    """

    def __init__(
        self, clock: SimClock, analysis_delay: float = 3.0, options: SimOptions | None = None
    ) -> None:
        self.clock = clock
        self.analysis_delay = analysis_delay
        self.options = options or SimOptions()
        self.lock = threading.RLock()
        self.inbound = InboundSchedule()
        self.limits = LimitTracker()
        #: Called with each inbound call as it is created (the webhook dispatcher tracks them).
        self.inbound_listeners: list[Callable[[Call], None]] = []
        #: The simulator's own base URL once it listens: where recording links point (see :mod:`.recordings`).
        self.served_base_url: str = DEFAULT_RECORDING_BASE
        #: What the recording route saw (``authorization`` presence, statuses), most recent last.
        self.recording_log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.clear()

    def clear(self) -> None:
        """Forget everything and re-seed the agents."""
        with self.lock:
            now = self.clock.iso(self.clock.now())
            self.agents: dict[str, dict[str, Any]] = {
                a["id"]: {**a, "created_at": now, "updated_at": now} for a in SEED_AGENTS
            }
            self.credentials: dict[str, dict[str, Any]] = {}
            self.credential_secrets: dict[str, str] = {}
            self.numbers: dict[str, dict[str, Any]] = {}
            self.number_ids: dict[str, str] = {}
            self.webhooks: dict[str, dict[str, Any]] = {}
            self.call_outcomes: dict[str, dict[str, Any]] = {}
            self.calls: dict[str, Call] = {}
            self.call_list: list[Call] = []
            self.calls_by_agent: dict[str, list[Call]] = {}
            self.calls_created_by_to: Counter[str] = Counter()
            self.outbound_by_day: Counter[date] = Counter()
            self.inbound.clear()
            self.limits.clear()
            self.recording_log.clear()
            self._seq = 0

    def set_options(self, options: SimOptions) -> None:
        """Switch options; a changed inbound rate counts every number's arrivals from now."""
        with self.lock:
            self.materialise_inbound()
            rate_changed = options.inbound_calls_per_minute != self.options.inbound_calls_per_minute
            self.options = options
            if rate_changed:
                self.inbound.restart(self.clock.now())

    def now_iso(self) -> str:
        """Simulated now, ISO-8601."""
        return self.clock.iso(self.clock.now()) or ""

    def new_id(self, prefix: str) -> str:
        """A fresh id in the configured style (``prefix`` is used by the ``prefixed`` style)."""
        return new_id(prefix, self.options.id_style)

    def check_id(self, field: str, value: str) -> None:
        """FastAPI's 422 for a path id that is not a UUID, in the ``uuid`` style."""
        check_path_id(field, value, self.options.id_style)

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
        """The call; else 422 for a malformed id (``uuid`` style), or 404."""
        call = self.calls.get(call_id)
        if call is None:
            self.check_id("call_id", call_id)
            raise not_found("Call")
        return call

    def number(self, number_id: str) -> dict[str, Any]:
        """The phone number; else 422 for a malformed id (``uuid`` style), or 404."""
        record = self.numbers.get(number_id)
        if record is None:
            self.check_id("phone_id", number_id)
            raise not_found("Phone number")
        return record

    def check_voice(self, voice_id: Any) -> None:
        """400 with ``code: VOICE_NOT_FOUND`` for a voice the simulator does not know."""
        if voice_id is not None and voice_id not in KNOWN_VOICE_IDS:
            raise ApiError(400, f"Voice {voice_id!r} not found", "VOICE_NOT_FOUND")

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
        created: float | None = None,
    ) -> Call:
        """
        Create a call; its whole future is fixed by its scenario.

        404 for an unknown agent, 400 ``VOICE_NOT_FOUND`` for an unknown ``overrides.tts.voice_id``;
        for an outbound call, the quota refusal past ``max_calls_per_day``, then the concurrency and
        pacing refusals of :mod:`.limits` (a refused create creates nothing and consumes no quota).
        """
        with self.lock:
            agent = self.agent(agent_id)
            tts = (overrides or {}).get("tts")
            self.check_voice(tts.get("voice_id") if isinstance(tts, dict) else None)
            if created is None:
                self.materialise_inbound()
            now = self.clock.now() if created is None else created
            if call_type == "outbound":
                day = today(self.clock, now)
                refusal = quota_error(self.options, self.outbound_by_day[day], self.clock, now)
                if refusal is None:
                    refusal = self.limits.refusal(self.options, agent_id, now)
                if refusal is not None:
                    self.limits.refused(refusal)
                    raise refusal
                self.outbound_by_day[day] += 1
            start, scheduled_iso = now, None
            if scheduled_at is not None:
                if scheduled_at.tzinfo is None:
                    scheduled_at = scheduled_at.replace(tzinfo=UTC)
                scheduled_iso = scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
                start = max(now, self.clock.to_sim(scheduled_at))
            self._seq += 1
            call = Call(
                id=self.new_id("call"),
                seq=self._seq,
                agent_id=agent_id,
                scenario=scenario_for(to_number),
                created=now,
                start=start,
                analysis_delay=self.analysis_delay,
                first_message=(overrides or {}).get("first_message") or agent["first_message"],
                enable_recording=bool(agent.get("enable_recording", True)),
                type=call_type,
                direction="outbound" if call_type == "outbound" else "inbound",
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
            self.limits.accepted(call, now, outbound=call_type == "outbound")
            if call_type == "outbound" and to_number:
                self.calls_created_by_to[to_number] += 1
            return call

    def materialise_inbound(self, now: float | None = None) -> list[Call]:
        """Create every inbound call that has arrived by ``now`` (default: simulated now), oldest first."""
        with self.lock:
            now = self.clock.now() if now is None else now
            created: list[Call] = []
            for arrival in self.inbound.due(self.options.inbound_calls_per_minute, now):
                record = self.numbers.get(arrival.number_id)
                if record is None:
                    continue
                routing = self.routing(record)
                agent_id = routing["agent_id"] or routing["fallback"]["agent_id"]
                if agent_id is None or agent_id not in self.agents:
                    continue
                caller = caller_number(record["phone_number"], arrival.seq)
                created.append(
                    self.create_call(
                        agent_id, record["phone_number"], caller, call_type="inbound", created=arrival.at
                    )
                )
        for call in created:
            for listener in self.inbound_listeners:
                listener(call)
        return created

    def stop_call(self, call: Call) -> bool:
        """Hang up a live (or queued) call now; returns whether anything changed (an ended call: no-op)."""
        with self.lock:
            now = self.clock.now()
            if now >= call.end:
                return False
            call.stopped_at = now
            self.limits.stopped(call)
            return True

    def set_outcome(self, call: Call, outcome: str) -> None:
        """Store a PATCHed outcome, Title Case."""
        with self.lock:
            call.outcome_override = outcome.strip().title()
            call.patched_at = self.clock.now()

    def active_calls(self) -> int:
        """Calls not yet completed or failed."""
        with self.lock:
            self.materialise_inbound()
            now = self.clock.now()
            return sum(1 for call in self.call_list if now < call.end)

    def render(self, call: Call, now: float | None = None) -> dict[str, Any]:
        """The call record at ``now`` (default: simulated now), in the configured shapes."""
        now = self.clock.now() if now is None else now
        options = self.options
        base = options.recording_base_url or self.served_base_url
        return render_call(call, self.clock, now, options.post_call_shape, options.transcript_shape, base)

    def list_calls(self, agent_id: str | None, status: str | None, limit: int, offset: int) -> dict[str, Any]:
        """``GET /v1/calls``: newest first, offset pagination."""
        with self.lock:
            self.materialise_inbound()
            now = self.clock.now()
            source = self.call_list if agent_id is None else self.calls_by_agent.get(agent_id, [])
            return offset_page(source, status, limit, offset, now, lambda c: self.render(c, now))

    def cursor_calls(
        self, agent_id: str | None, status: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """``GET /v1/calls/cursor``: newest first, cursor pagination."""
        with self.lock:
            self.materialise_inbound()
            now = self.clock.now()
            source = self.call_list if agent_id is None else self.calls_by_agent.get(agent_id, [])
            return cursor_page(source, status, limit, cursor, now, lambda c: self.render(c, now))

    def usage(self) -> dict[str, Any]:
        """The ``GET /v1/usage`` document."""
        with self.lock:
            self.materialise_inbound()
            now = self.clock.now()
            made = self.outbound_by_day[today(self.clock, now)]
            return usage_document(self.options, made, self.call_list, self.clock, now)

    def limits_record(self) -> dict[str, Any]:
        """The pacing and concurrency record (see :meth:`.limits.LimitTracker.record`)."""
        with self.lock:
            self.materialise_inbound()
            return self.limits.record(self.clock.now())

    def is_terminal(self, call: Call) -> bool:
        """Whether the call has ended."""
        return call.status_at(self.clock.now()) in TERMINAL
