"""
The campaign trigger fires on the worker's own "settled" rule, plus its wake-up time.

Settled (``CampaignRunner._settle``): a ``failed`` call at once; a ``completed`` one once its
post-call data is in, or once the grace for its outcome is over, counted per call from when it
was first seen ended. A wake-up time that was already past when the worker deferred means "when
a call ends", not "now". Against the simulator with its clock frozen (tests move it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import campaign_trigger_for, first_event_within, only_event, run_together


def test_a_failed_call_settles_at_once_and_only_it_is_named(frozen: OneInboxSimulator) -> None:
    failed, talking = place("+14155557704"), place("+14155557705")
    frozen.advance(10)  # the first failed after 3 s; the second talks for 600 s

    started = time.monotonic()
    event = only_event(campaign_trigger_for([failed, talking], analysis_grace_period=30))

    assert event == {"reason": "ended", "ended": [failed]}
    assert time.monotonic() - started < 5  # no grace awaited for a failed call


def test_a_completed_call_waits_for_its_outcome_then_fires(frozen: OneInboxSimulator) -> None:
    booked = place("+14155557701")
    frozen.advance(33)  # ended (2 s ringing + 30 s talk); its analysis comes 3 simulated s later
    assert get(booked)["status"] == "completed"
    trigger = campaign_trigger_for([booked], analysis_grace_period=30)

    async def analysis_arrives() -> None:
        await asyncio.sleep(1.0)
        frozen.advance(5)

    started = time.monotonic()
    ((event,),) = run_together([trigger], analysis_arrives)

    assert event == {"reason": "ended", "ended": [booked]}
    assert 0.9 <= time.monotonic() - started < 10  # not on the bare "completed", not after the grace
    assert get(booked)["analysis"]["outcome"] == "Appointment Booked"


def test_a_call_without_post_call_data_settles_when_its_own_grace_is_over(frozen: OneInboxSimulator) -> None:
    silent, talking = place("+14155557708"), place("+14155557805")
    frozen.advance(40)  # the first completed with no post-call data, ever

    assert first_event_within(campaign_trigger_for([silent, talking], analysis_grace_period=1.5), 1.0) is None
    started = time.monotonic()
    event = only_event(campaign_trigger_for([silent, talking], analysis_grace_period=1.5))

    assert event == {"reason": "ended", "ended": [silent]}
    assert 1.4 <= time.monotonic() - started < 8


def test_it_fires_at_its_wake_up_time_when_no_call_ends_before(frozen: OneInboxSimulator) -> None:
    talking = place("+14155557905")
    wake = datetime.now(UTC) + timedelta(seconds=0.8)
    started = time.monotonic()

    event = only_event(campaign_trigger_for([talking], wake_at=wake.isoformat()))

    assert event == {"reason": "wake", "ended": []}
    assert 0.7 <= time.monotonic() - started < 5


def test_a_wake_up_already_past_when_deferring_means_when_a_call_ends(frozen: OneInboxSimulator) -> None:
    talking = place("+14155557915")  # default scenario: talks 20 s
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    trigger = campaign_trigger_for([talking], wake_at=past)
    assert trigger.wake is None

    assert first_event_within(campaign_trigger_for([talking], wake_at=past), 1.0) is None  # not "now"

    async def the_call_ends() -> None:
        await asyncio.sleep(0.3)
        frozen.advance(40)

    ((event,),) = run_together([trigger], the_call_ends)
    assert event == {"reason": "ended", "ended": [talking]}


def test_a_wake_up_that_fell_due_while_the_trigger_moved_fires_at_once(frozen: OneInboxSimulator) -> None:
    talking = place("+14155557925")
    now = datetime.now(UTC)
    trigger = campaign_trigger_for(
        [talking],
        wake_at=(now - timedelta(seconds=5)).isoformat(),  # e.g. a redial fell due during a handover
        deferred_at=(now - timedelta(seconds=60)).isoformat(),
    )

    assert first_event_within(trigger, 1.0) == {"reason": "wake", "ended": []}


def test_with_no_call_to_watch_and_no_wake_up_it_fires_at_once() -> None:
    # Nothing live can end and no time was asked for: waiting would never end (a campaign hung so
    # in a real deployment after a short Retry-After ran out during the round).
    for wake_at in (None, (datetime.now(UTC) - timedelta(seconds=5)).isoformat()):
        assert first_event_within(campaign_trigger_for([], wake_at=wake_at), 1.0) == {
            "reason": "wake",
            "ended": [],
        }
