"""Deterministic call scenarios, chosen by the last two digits of ``to_number``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

#: Spoken by the agent when neither the agent nor the call overrides its first message.
_GREETING = "Hi {{customer_name}}! This is Aria from Acme."

_VAR_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_VAR_DEFAULTS = {"customer_name": "there", "order_id": "your order"}


def render_template(text: str, variables: Mapping[str, Any] | None) -> str:
    """Fill ``{{name}}`` placeholders from ``variables``, with friendly defaults for missing ones."""
    values = variables or {}

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values.get(name, _VAR_DEFAULTS.get(name, "")))

    return _VAR_RE.sub(_sub, text)


@dataclass(frozen=True)
class ScenarioSpec:
    """
    How a simulated call unfolds. All durations are simulated seconds.

    :param name: Scenario name, the key in :data:`SCENARIOS`.
    :param suffix: Last two digits of ``to_number`` that select it; ``None`` for the default.
    :param description: One line for ``--help`` and the docs.
    :param phases: ``(status, seconds)`` pairs the call goes through before it ends.
    :param final_status: ``completed`` or ``failed``.
    :param end_reason: ``end_reason`` of a call that ran to its natural end.
    :param outcome: ``analysis.outcome`` once post-call data is ready (``None``: stays null).
    :param post_call_data: Whether post-call processing ever runs (messages, transcript, analysis,
        summary, recording); ``False`` leaves the call unprocessed for good.
    :param summary: Template of ``analysis.summary`` / ``ai_summary``.
    :param script: ``(role, template)`` messages after the agent's first message.
    :param greets: Whether the agent's first message opens the conversation.
    """

    name: str
    suffix: str | None
    description: str
    phases: tuple[tuple[str, float], ...]
    final_status: str
    end_reason: str
    outcome: str | None
    post_call_data: bool = True
    summary: str | None = None
    script: tuple[tuple[str, str], ...] = ()
    greets: bool = True

    @cached_property
    def answer_offset(self) -> float | None:
        """Simulated seconds from dialling to answer, or ``None`` if never answered."""
        offset = 0.0
        for status, seconds in self.phases:
            if status == "in_progress":
                return offset
            offset += seconds
        return None

    @cached_property
    def total_seconds(self) -> float:
        """Simulated seconds from dialling to the end of the call."""
        return sum(seconds for _, seconds in self.phases)


_INTERESTED_SCRIPT = (
    ("user", "Hi, sure, what is this about?"),
    ("agent", "We can help you follow up on {{order_id}} faster. Would that be useful?"),
    ("user", "Sounds interesting, tell me more by email."),
    ("agent", "Will do. Thanks for your time, {{customer_name}}!"),
)

_SCENARIO_LIST = (
    ScenarioSpec(
        name="booked",
        suffix="01",
        description='rings 2 s, talks 30 s, completed; outcome "Appointment Booked"',
        phases=(("initiated", 2.0), ("in_progress", 30.0)),
        final_status="completed",
        end_reason="agent_hangup",
        outcome="Appointment Booked",
        summary="{{customer_name}} agreed to a product demo on Thursday at 3pm.",
        script=(
            ("user", "Oh hi, yes I've been expecting your call."),
            ("agent", "Great! Would Thursday at 3pm work for a quick demo?"),
            ("user", "Thursday at 3pm works for me."),
            ("agent", "Perfect, you're booked for Thursday at 3pm. Talk soon!"),
        ),
    ),
    ScenarioSpec(
        name="not_connected",
        suffix="02",
        description='rings 10 s, no answer; completed, duration 0, "Not Connected", end_reason no_answer',
        phases=(("initiated", 10.0),),
        final_status="completed",
        end_reason="no_answer",
        outcome="Not Connected",
        summary="The call was not answered.",
        greets=False,
    ),
    ScenarioSpec(
        name="voicemail",
        suffix="03",
        description='rings 4 s, voicemail picks up, agent leaves a 15 s message; "Voicemail"',
        phases=(("initiated", 4.0), ("in_progress", 15.0)),
        final_status="completed",
        end_reason="voicemail",
        outcome="Voicemail",
        summary="Reached voicemail; the agent left a message.",
        script=(
            (
                "agent",
                "Hi {{customer_name}}, this is Aria from Acme. Sorry we missed you, please call us back.",
            ),
        ),
        greets=False,
    ),
    ScenarioSpec(
        name="failed",
        suffix="04",
        description="status failed after 3 s, end_reason carrier_error; then a summary, outcome null",
        phases=(("initiated", 3.0),),
        final_status="failed",
        end_reason="carrier_error",
        outcome=None,
        # Assumption: the post-call pipeline also runs on a failed call and summarises it.
        summary="The call could not be connected.",
        greets=False,
    ),
    ScenarioSpec(
        name="long",
        suffix="05",
        description='rings 2 s, talks 600 s (agent max duration); "Interested"',
        phases=(("initiated", 2.0), ("in_progress", 600.0)),
        final_status="completed",
        end_reason="max_duration",
        outcome="Interested",
        summary="A long conversation; {{customer_name}} is interested and wants a proposal.",
        script=_INTERESTED_SCRIPT * 3,
    ),
    ScenarioSpec(
        name="unknown_status",
        suffix="06",
        description='undocumented status "ringing" for 5 s, then talks 20 s; "Interested"',
        phases=(("initiated", 1.0), ("ringing", 5.0), ("in_progress", 20.0)),
        final_status="completed",
        end_reason="agent_hangup",
        outcome="Interested",
        summary="{{customer_name}} is interested and asked for details by email.",
        script=_INTERESTED_SCRIPT,
    ),
    ScenarioSpec(
        name="not_interested",
        suffix="07",
        description='rings 2 s, talks 12 s; "Not Interested", end_reason user_hangup',
        phases=(("initiated", 2.0), ("in_progress", 12.0)),
        final_status="completed",
        end_reason="user_hangup",
        outcome="Not Interested",
        summary="{{customer_name}} is not interested.",
        script=(("user", "No thanks, I'm not interested."), ("agent", "No problem, have a great day!")),
    ),
    ScenarioSpec(
        name="no_post_call",
        suffix="08",
        description="talks 20 s, completes; no post-call data ever (messages [], analysis unprocessed)",
        phases=(("initiated", 2.0), ("in_progress", 20.0)),
        final_status="completed",
        end_reason="agent_hangup",
        outcome=None,
        post_call_data=False,
        script=_INTERESTED_SCRIPT,
    ),
    ScenarioSpec(
        name="outcome_null",
        suffix="09",
        description="talks 8 s; messages and summary arrive, analysis.outcome stays null for good",
        phases=(("initiated", 2.0), ("in_progress", 8.0)),
        final_status="completed",
        end_reason="user_hangup",
        outcome=None,
        summary="A very short call: the person was busy. No clear outcome.",
        script=(("user", "Sorry, I'm busy right now."), ("agent", "No problem, goodbye!")),
    ),
    ScenarioSpec(
        name="default",
        suffix=None,
        description='any other number: rings 2 s, talks 20 s; "Interested"',
        phases=(("initiated", 2.0), ("in_progress", 20.0)),
        final_status="completed",
        end_reason="agent_hangup",
        outcome="Interested",
        summary="{{customer_name}} is interested and asked for details by email.",
        script=_INTERESTED_SCRIPT,
    ),
)

#: Every scenario by name.
SCENARIOS: dict[str, ScenarioSpec] = {spec.name: spec for spec in _SCENARIO_LIST}
_BY_SUFFIX = {spec.suffix: spec for spec in _SCENARIO_LIST if spec.suffix}


def scenario_for(to_number: str | None) -> ScenarioSpec:
    """The scenario a call to ``to_number`` plays: chosen by its last two digits."""
    if not to_number:
        return SCENARIOS["default"]
    return _BY_SUFFIX.get(to_number[-2:], SCENARIOS["default"])


def scenarios_table() -> str:
    """A plain-text table of the scenarios, for ``--help`` and docs."""
    lines = ["  ends in  scenario        what happens (simulated seconds)"]
    for spec in _SCENARIO_LIST:
        lines.append(f"  {spec.suffix or '..':<7}  {spec.name:<14}  {spec.description}")
    return "\n".join(lines)
