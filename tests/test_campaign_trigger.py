"""OneInboxCampaignTrigger run directly on an event loop against the simulator (no mocked HTTP)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.campaign import OneInboxCampaignTrigger
from tests.conftest import TEST_API_KEY
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import only_event


def test_fires_once_a_watched_call_ended_with_its_outcome_and_names_only_ended_calls(
    sim: OneInboxSimulator,
) -> None:
    short, long = place("+14155550101"), place("+14155550105")  # 32 s and 600 s simulated
    trigger = OneInboxCampaignTrigger("agt_sales", [short, long], None, poll_interval=0.1)

    event = only_event(trigger)

    assert event == {"reason": "ended", "ended": [short]}
    assert get(short)["analysis"]["outcome"] == "Appointment Booked"  # it waited for the outcome
    assert get(long)["status"] not in ("completed", "failed")
    assert sim.calls_created() == 2  # reads only: the trigger never places a call


def test_fires_at_its_wake_up_time_when_no_call_ends_before(sim: OneInboxSimulator) -> None:
    long = place("+14155550105")
    wake = datetime.now(UTC) + timedelta(seconds=0.5)
    started = time.monotonic()

    event = only_event(OneInboxCampaignTrigger("agt_sales", [long], wake.isoformat(), poll_interval=0.1))

    assert event == {"reason": "wake", "ended": []}
    assert 0.4 <= time.monotonic() - started < 5


def test_its_kwargs_hold_ids_and_times_only() -> None:
    trigger = OneInboxCampaignTrigger("agt_sales", ["c1"], None, poll_interval=2)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_oneinbox.triggers.campaign.OneInboxCampaignTrigger"
    assert TEST_API_KEY not in repr(kwargs)
    assert OneInboxCampaignTrigger(**kwargs).serialize() == (path, kwargs)
