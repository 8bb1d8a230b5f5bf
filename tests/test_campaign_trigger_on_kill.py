"""
Killing a deferred campaign hangs up its live calls (Airflow 3.3's trigger ``on_kill``), and only
a user's kill does: never a handover after a stall, a restart, a retry or a clear.

The decision is :class:`OneInboxCallTrigger`'s: read the task instance's state through the
triggerer's comms (faked here, see ``tests/helpers/triggerers.py``) and hang up only in a state a
user's kill leaves. Against the simulator with its clock frozen: every call is still live.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers import calls as call_triggers
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import InProcessTriggerer, campaign_trigger_for
from tests.helpers.triggerers import in_a_triggerer, never_answering, task_state_is

#: Airflow 3.3 added ``BaseTrigger.on_kill``; 3.1's triggerer never calls it.
TRIGGER_ON_KILL = hasattr(BaseTrigger, "on_kill")


def logged(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """What the trigger logged (Airflow's structlog writes to stdout, the standard library's to caplog)."""
    captured = capsys.readouterr()
    return captured.out + captured.err + caplog.text


def ended_by_stop(sim: OneInboxSimulator, call_id: str) -> bool:
    sim.advance(5)  # the end_reason comes with the post-call data, 3 simulated seconds after the end
    return get(call_id)["end_reason"] == "api_stop"


def stops(sim: OneInboxSimulator) -> list[str]:
    """The calls a hang-up (``POST /v1/calls/{id}/stop``) was sent for."""
    return [r["path"].split("/")[3] for r in sim.requests(method="POST") if r["path"].endswith("/stop")]


def live_campaign(sim: OneInboxSimulator) -> list[str]:
    calls = [place(f"+1415559{i:02d}05") for i in range(3)]
    sim.advance(5)  # all three talking (600 s each)
    return calls


@pytest.mark.parametrize(
    ("state", "hangs_up"),
    [
        ("failed", True),  # a user's "mark failed"
        ("success", True),
        ("skipped", True),
        ("deferred", False),  # a handover: a stalled triggerer woke up and cancels its copy
        ("up_for_retry", False),  # the next try reattaches to these calls
        (None, False),  # cleared: the new try rebuilds the campaign from its ledger
        ("scheduled", False),
        ("running", False),  # resumed by the trigger's own event
    ],
)
def test_on_kill_hangs_up_every_live_call_only_when_a_user_killed_the_task(
    frozen: OneInboxSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    state: str | None,
    hangs_up: bool,
) -> None:
    calls = live_campaign(frozen)
    trigger = campaign_trigger_for(calls)
    comms = in_a_triggerer(monkeypatch, trigger, task_state_is(state))

    with caplog.at_level(logging.INFO):
        asyncio.run(trigger.on_kill())

    assert len(comms.requests) == 1
    if hangs_up:
        assert sorted(stops(frozen)) == sorted(calls)
        assert all(ended_by_stop(frozen, c) for c in calls)
        assert "hung up 3 live call(s) of 3" in logged(capsys, caplog)
    else:
        assert stops(frozen) == []
        text = logged(capsys, caplog)
        assert f"while its task instance is {state}" in text
        assert "leaving the 3 live call(s) of the campaign" in text


def test_on_kill_leaves_the_calls_running_when_it_cannot_read_the_state(
    frozen: OneInboxSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = live_campaign(frozen)
    trigger = campaign_trigger_for(calls)
    in_a_triggerer(monkeypatch, trigger, never_answering)
    monkeypatch.setattr(call_triggers, "TASK_STATE_TIMEOUT_SECONDS", 0.2)

    with caplog.at_level(logging.WARNING):
        asyncio.run(trigger.on_kill())

    assert stops(frozen) == []
    text = logged(capsys, caplog)
    assert "no answer within" in text
    assert "the 3 live call(s) of the campaign (agent agt_sales) were left running" in text


def test_a_call_that_ended_meanwhile_is_not_an_error_and_hang_up_on_kill_false_is_honoured(
    frozen: OneInboxSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ended, talking = place("+14155598801"), place("+14155598805")
    frozen.advance(40)  # the first ended (32 s), the second talks
    keep = campaign_trigger_for([ended, talking], hang_up_on_kill=False)
    in_a_triggerer(monkeypatch, keep, task_state_is("failed"))
    asyncio.run(keep.on_kill())
    assert stops(frozen) == []

    trigger = campaign_trigger_for([ended, talking])
    in_a_triggerer(monkeypatch, trigger, task_state_is("failed"))
    with caplog.at_level(logging.INFO):
        asyncio.run(trigger.on_kill())

    assert sorted(stops(frozen)) == sorted([ended, talking])
    assert ended_by_stop(frozen, talking)
    assert get(ended)["end_reason"] != "api_stop"  # it had ended on its own: nothing cut
    text = logged(capsys, caplog)
    assert "hung up 2 live call(s) of 2" in text
    assert "0 could not be hung up" in text


async def _kill(trigger: Any, *, user_action: bool) -> None:
    triggerer = InProcessTriggerer()
    triggerer.start(trigger)
    await asyncio.sleep(0.5)  # it watches the calls
    await triggerer.stop(user_action=user_action)
    await asyncio.sleep(0)


@pytest.mark.parametrize("user_action", [True, False], ids=["user-kill", "triggerer-shutdown"])
def test_in_airflows_trigger_runner_only_a_users_kill_hangs_up(
    frozen: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, user_action: bool
) -> None:
    calls = live_campaign(frozen)
    trigger = campaign_trigger_for(calls)
    in_a_triggerer(monkeypatch, trigger, task_state_is("failed"))

    asyncio.run(_kill(trigger, user_action=user_action))

    if user_action and TRIGGER_ON_KILL:
        assert sorted(stops(frozen)) == sorted(calls)
    else:
        # A shutdown (restart, deploy) never hangs up; on Airflow 3.1 nothing calls on_kill at all:
        # a killed deferred campaign's calls run on to their end (see docs/campaigns.md).
        assert stops(frozen) == []
