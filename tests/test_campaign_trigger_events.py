"""
The campaign trigger's kwargs and events: small, key-free, typed and validated.

Kwargs: ids, times and numbers only. Events: ``{"reason", "ended"}`` (plus a key-free message for
an error), read back by ``campaign_event_from_payload``; never a transcript, a number or a URL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oneinbox.rules.campaign_events import CampaignWake, campaign_event_from_payload
from airflow_provider_oneinbox.rules.events import MalformedEventError
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.campaign import OneInboxCampaignTrigger
from tests.conftest import TEST_API_KEY, connection_json
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import campaign_trigger_for, only_event


def test_its_kwargs_hold_ids_and_times_only_and_rebuild_the_same_trigger() -> None:
    trigger = campaign_trigger_for(["c1", "c2", "c1"], wake_at="2030-01-01T09:00:00+00:00")
    path, kwargs = trigger.serialize()

    assert path == "airflow_provider_oneinbox.triggers.campaign.OneInboxCampaignTrigger"
    assert kwargs["call_ids"] == ["c1", "c2"]  # each call watched once
    assert TEST_API_KEY not in repr(kwargs)
    assert all(isinstance(v, str | int | float | bool | list | type(None)) for v in kwargs.values())
    assert len(json.dumps(kwargs)) < 600
    rebuilt = OneInboxCampaignTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert rebuilt.wake == trigger.wake  # deferred_at travels, so the wake-up reads the same


def test_the_first_versions_kwargs_still_build_a_trigger() -> None:
    old: dict[str, Any] = {
        "agent_id": "agt_sales",
        "call_ids": ["c1"],
        "wake_at": None,
        "oneinbox_conn_id": "oneinbox_default",
        "poll_interval": 5.0,
        "analysis_grace_period": 60.0,
    }
    assert OneInboxCampaignTrigger(**old).serialize()[1]["call_ids"] == ["c1"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"wake_at": "tomorrow"}, "wake_at"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"agent_id": ""}, "agent_id"),
    ],
)
def test_bad_kwargs_fail_in_the_worker_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        campaign_trigger_for(["c1"], **kwargs)


def test_an_ended_event_carries_ids_only(sim: OneInboxSimulator) -> None:
    booked = place("+14155550101")
    event = only_event(campaign_trigger_for([booked], poll_interval=0.2))

    assert event == {"reason": "ended", "ended": [booked]}
    call = get(booked)
    assert call["transcript"]
    assert call["recording_url"]
    text = json.dumps(event)
    for private in ("+14155550101", "http", str(call["transcript"])[:20], TEST_API_KEY):
        assert private not in text
    assert campaign_event_from_payload(event) == CampaignWake("ended", (booked,))


def test_a_refused_read_fires_a_permanent_error_event_without_the_key(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = place("+14155550105")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_DEFAULT", connection_json(sim.base_url, api_key="oi_live_wrong_0123")
    )

    event = only_event(campaign_trigger_for([call]))

    assert event["reason"] == "error"
    assert event["ended"] == []
    assert event["permanent"] is True
    assert event["error_type"] == "OneInboxAuthError"
    assert "oi_live_wrong_0123" not in json.dumps(event)
    wake = campaign_event_from_payload(event)
    assert (wake.reason, wake.permanent) == ("error", True)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (None, "without an event"),
        ([], "expected a dict"),
        ({"reason": "later"}, "'reason' is 'later'"),
        ({"reason": "ended", "ended": "c1"}, "not a list of call ids"),
        ({"reason": "ended", "ended": []}, "exactly when the reason is 'ended'"),
        ({"reason": "wake", "ended": ["c1"]}, "exactly when the reason is 'ended'"),
    ],
)
def test_a_malformed_event_is_refused_saying_why(payload: object, says: str) -> None:
    with pytest.raises(MalformedEventError, match=says):
        campaign_event_from_payload(payload)
