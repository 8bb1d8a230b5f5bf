"""One simulated call: its timeline on the simulated clock and the record the API returns for it."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.scenarios import ScenarioSpec, render_template

TERMINAL = frozenset({"completed", "failed"})
#: How long a ``recording_url`` stays valid, like the real signed links (about 4 hours).
RECORDING_TTL_SECONDS = 4 * 3600
#: Where recording links point before the simulator listens (a ``Store`` used on its own).
DEFAULT_RECORDING_BASE = "https://storage.oneinbox.ai"


@dataclass(eq=False)
class Call:
    """
    A call, stored as facts (when it was created, dialled, stopped); everything else is derived.

    :param id: A UUID, or ``call_`` + hex (see :mod:`.ids`).
    :param seq: Creation order, used for newest-first listing and cursors.
    :param agent_id: The agent that talks.
    :param scenario: What the call does, see :mod:`.scenarios`.
    :param created: Simulated creation time.
    :param start: Simulated time dialling begins (``scheduled_at`` for a scheduled call).
    :param analysis_delay: Simulated seconds from the end to post-call data.
    :param first_message: The agent's (or the override's) first message template.
    :param enable_recording: Whether a ``recording_url`` appears.
    """

    id: str
    seq: int
    agent_id: str
    scenario: ScenarioSpec
    created: float
    start: float
    analysis_delay: float
    first_message: str
    enable_recording: bool = True
    type: str = "outbound"
    direction: str = "outbound"
    from_number: str | None = None
    to_number: str | None = None
    scheduled_at: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] | None = None
    webhook_url: str | None = None
    twilio_call_sid: str | None = None
    stopped_at: float | None = None
    outcome_override: str | None = None
    patched_at: float | None = None
    sent_events: set[str] = field(default_factory=set)

    # -- timeline -------------------------------------------------------------------------------
    @property
    def natural_end(self) -> float:
        """When the call ends if nobody stops it."""
        return self.start + self.scenario.total_seconds

    @property
    def stopped(self) -> bool:
        """Whether ``/stop`` cut the call short."""
        return self.stopped_at is not None and self.stopped_at < self.natural_end

    @property
    def end(self) -> float:
        """Simulated time the call ends (or ended)."""
        return self.stopped_at if self.stopped and self.stopped_at is not None else self.natural_end

    @property
    def dialled(self) -> bool:
        """Whether the call ever left the queue."""
        return self.start < self.end

    @property
    def answered_at(self) -> float | None:
        """When someone (or a voicemail box) picked up, if before the end."""
        offset = self.scenario.answer_offset
        if offset is None or self.start + offset >= self.end:
            return None
        return self.start + offset

    @property
    def analysis_ready(self) -> float:
        """When post-call data appears."""
        return self.end + self.analysis_delay

    @property
    def duration(self) -> int:
        """Talk time in whole seconds (0 if never answered)."""
        answered = self.answered_at
        return 0 if answered is None else round(self.end - answered)

    @property
    def final_status(self) -> str:
        """``completed`` or ``failed``."""
        return "completed" if self.stopped else self.scenario.final_status

    def status_at(self, now: float) -> str:
        """The status reported at simulated time ``now``."""
        if now >= self.end:
            return self.final_status
        if now < self.start:
            return "queued"
        offset = now - self.start
        for status, seconds in self.scenario.phases:
            if offset < seconds:
                return status
            offset -= seconds
        return self.final_status

    def transitions(self) -> list[float]:
        """Every simulated instant at which the record changes on its own."""
        times = [self.created]
        if self.dialled:
            t = self.start
            for _, seconds in self.scenario.phases:
                if t < self.end:
                    times.append(t)
                t += seconds
        times += [self.end, self.analysis_ready]
        return times

    def webhook_events(self) -> list[tuple[str, float]]:
        """``(event, simulated time)`` of every webhook event this call emits, in order."""
        events: list[tuple[str, float]] = []
        if self.dialled:
            events.append(("call.started", self.start))
        if self.final_status == "failed":
            events.append(("call.failed", self.end))
        events.append(("call.ended", self.end))
        if self.scenario.post_call_data:
            events.append(("call.analyzed", self.analysis_ready))
        return events

    # -- post-call data -------------------------------------------------------------------------
    def outcome(self) -> str | None:
        """``analysis.outcome`` once ready: the PATCHed one, else the scenario's."""
        if self.outcome_override is not None:
            return self.outcome_override
        if not self.scenario.post_call_data:
            return None
        if self.answered_at is None and self.stopped:
            return "Not Connected"
        return self.scenario.outcome

    def messages(self) -> list[dict[str, str]]:
        """The conversation, with the call's ``variables`` filled in."""
        if self.answered_at is None:
            return []
        script: list[tuple[str, str]] = []
        if self.scenario.greets:
            script.append(("agent", self.first_message))
        script += list(self.scenario.script)
        if self.stopped:
            share = (self.end - self.answered_at) / max(1.0, self.natural_end - self.answered_at)
            script = script[: max(1, math.ceil(len(script) * share))]
        return [{"role": role, "content": render_template(text, self.variables)} for role, text in script]

    def summary(self) -> str | None:
        """``analysis.summary`` / ``ai_summary``."""
        if not self.scenario.post_call_data or self.scenario.summary is None:
            return None
        if self.stopped:
            return "The call was stopped through the API."
        return render_template(self.scenario.summary, self.variables)

    def _digest(self, salt: str) -> str:
        return hashlib.sha256(f"{salt}:{self.id}".encode()).hexdigest()

    def signature(self, expires: int) -> str:
        """The signature of this call's recording link expiring at ``expires`` (Unix seconds)."""
        return self._digest(f"rec:{expires}")[:32]

    def recording_url(
        self, clock: SimClock, now: float, base_url: str = DEFAULT_RECORDING_BASE
    ) -> str | None:
        """
        A fresh signed link, valid for :data:`RECORDING_TTL_SECONDS` from ``now``.

        :param base_url: Where recordings are served: the simulator's own base URL once it listens
            (see :mod:`.recordings`), or the ``recording_base_url`` option.
        """
        if self.answered_at is None or not self.enable_recording or not self.scenario.post_call_data:
            return None
        expires = int(clock.to_datetime(now).timestamp()) + RECORDING_TTL_SECONDS
        return f"{base_url}/_recordings/{self.id}.mp3?expires={expires}&signature={self.signature(expires)}"

    def latency(self) -> dict[str, int] | None:
        """Per-turn latency figures, deterministic per call."""
        if self.answered_at is None or not self.scenario.post_call_data:
            return None
        seed = int(self._digest("lat")[:8], 16)
        llm, tts, stt = 300 + seed % 300, 120 + seed % 90, 80 + seed % 70
        return {"llm_ms": llm, "tts_ms": tts, "stt_ms": stt, "e2e_ms": llm + tts + stt}
