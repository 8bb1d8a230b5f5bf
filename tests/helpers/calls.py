"""Placing and reading calls on the simulator the ``sim`` fixture points ``oneinbox_default`` at."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

FROM = "+14155550100"
AGENT = "agt_sales"


def place(to_number: str, agent_id: str = AGENT) -> str:
    """Place a call through the sync hook; its id."""
    with OneInboxHook() as hook:
        return str(hook.create_call(agent_id=agent_id, to_number=to_number, from_number=FROM)["id"])


def get(call_id: str) -> dict[str, Any]:
    """The call's record through the sync hook."""
    with OneInboxHook() as hook:
        return hook.get_call(call_id)
