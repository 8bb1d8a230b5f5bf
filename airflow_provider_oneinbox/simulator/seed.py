"""
What every fresh (or reset) simulator holds: agents, voices and the built-in call outcomes.

The seeded agent ids (``agt_sales``, ``agt_support``, ``agt_survey``) keep their prefixed form in both
id styles, so DAGs and demos written against them keep working; agents created through the API get
ids in the configured style.
"""

from __future__ import annotations

from typing import Any

#: The agents every fresh simulator has.
SEED_AGENTS: tuple[dict[str, Any], ...] = (
    {
        "id": "agt_sales",
        "name": "Aria (sales)",
        "first_message": "Hi {{customer_name}}! This is Aria from Acme.",
        "system_prompt": "You book product demos for Acme.",
        "max_duration_seconds": 600,
        "enable_recording": True,
        "language": "en-US",
        "voice_id": "voice_aria",
    },
    {
        "id": "agt_support",
        "name": "Sam (support)",
        "first_message": "Hello {{customer_name}}, this is Sam from Acme support about {{order_id}}.",
        "system_prompt": "You follow up on support tickets.",
        "max_duration_seconds": 900,
        "enable_recording": True,
        "language": "en-US",
        "voice_id": "voice_sam",
    },
    {
        "id": "agt_survey",
        "name": "Maya (survey)",
        "first_message": "Hi {{customer_name}}, do you have two minutes for a short survey?",
        "system_prompt": "You run a two-question satisfaction survey.",
        "max_duration_seconds": 300,
        "enable_recording": False,
        "language": "en-GB",
        "voice_id": "voice_maya",
    },
)
#: The agents every fresh (or reset) simulator has.
SEED_AGENT_IDS: tuple[str, ...] = tuple(agent["id"] for agent in SEED_AGENTS)

#: Voice ids ``overrides.tts.voice_id`` (and an agent's ``voice_id``) may name; others: ``VOICE_NOT_FOUND``.
KNOWN_VOICE_IDS: frozenset[str] = frozenset(
    {"voice_aria", "voice_sam", "voice_maya", "voice_leo", "voice_nova", "voice_kai"}
)

#: The outcomes every workspace has (the reference's built-in names), before its own.
BUILT_IN_OUTCOMES: tuple[str, ...] = (
    "Appointment Booked",
    "Interested",
    "Not Interested",
    "Not Connected",
    "Voicemail",
)
