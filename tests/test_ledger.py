"""
The placed call ledger of one key on its own, against the simulator over loopback and a task state
store stand-in (``tests/helpers/stores.py``: Airflow's accessor only runs inside a task).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxTransportError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.ledger import (
    IDEMPOTENCY_METADATA_KEY,
    STATE_STORE_ATTEMPT_KEY,
    STATE_STORE_CALL_ID_KEY,
    PlacedCallLedger,
    call_idempotency_key,
    contact_idempotency_key,
)
from airflow_provider_oneinbox.operators import calls as operator_module
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowException, AirflowFailException
from tests.helpers.calls import AGENT, FROM
from tests.helpers.stores import JsonTaskStore

KEY = call_idempotency_key("dag", "run", "call", -1)
CURSOR = "/v1/calls/cursor"
GONE = "0b7c1e2a-9d4f-4c3b-8e6a-5f1d2c3b4a59"


def ledger(hook: OneInboxHook, store: Any, **overrides: Any) -> PlacedCallLedger:
    arguments: dict[str, Any] = {
        "key": KEY,
        "agent_id": AGENT,
        "search_limit": 500,
        "since": datetime.now(UTC) - timedelta(minutes=5),
        "log": logging.getLogger("test_ledger"),
        **overrides,
    }
    return PlacedCallLedger(hook, store, **arguments)


def place_keyed(hook: OneInboxHook, to: str, key: str = KEY) -> str:
    call = hook.create_call(
        agent_id=AGENT, to_number=to, from_number=FROM, metadata={IDEMPOTENCY_METADATA_KEY: key}
    )
    return str(call["id"])


def test_the_operator_module_still_exports_the_ledger_names() -> None:
    assert operator_module.call_idempotency_key is call_idempotency_key
    assert operator_module.STATE_STORE_CALL_ID_KEY == STATE_STORE_CALL_ID_KEY == "oneinbox_call_id"
    assert operator_module.STATE_STORE_ATTEMPT_KEY == STATE_STORE_ATTEMPT_KEY == "oneinbox_call_attempt"
    assert operator_module.IDEMPOTENCY_METADATA_KEY == IDEMPOTENCY_METADATA_KEY
    assert issubclass(operator_module.CallNotPlaced, AirflowFailException)


def test_keys_are_stable_and_one_per_contact_and_attempt() -> None:
    # The task instance's key is what calls placed before the ledger existed carry.
    digest = hashlib.sha256(b'["dag", "run", "call", -1]').hexdigest()
    assert f"airflow-{digest[:32]}" == KEY
    first = contact_idempotency_key("dag", "run", "campaign", -1, "crm-1")
    assert first == contact_idempotency_key("dag", "run", "campaign", -1, "crm-1", 1)
    others = {
        contact_idempotency_key("dag", "run", "campaign", -1, "crm-1", 2),
        contact_idempotency_key("dag", "run", "campaign", -1, "crm-2"),
        contact_idempotency_key("dag", "run2", "campaign", -1, "crm-1"),
        call_idempotency_key("dag", "run", "campaign", -1),
    }
    assert first not in others
    assert len(others) == 4


def test_a_stored_id_reattaches_without_a_search(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        call_id = place_keyed(hook, "+14155550301")
        store.set(STATE_STORE_CALL_ID_KEY, call_id)
        call = ledger(hook, store).find_placed(try_number=2)
    assert call is not None
    assert call["id"] == call_id
    assert sim.requests(method="GET", path_prefix=CURSOR) == []


def test_a_stored_id_the_api_does_not_know_fails_without_retries(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    store.set(STATE_STORE_CALL_ID_KEY, GONE)
    with OneInboxHook() as hook, pytest.raises(AirflowFailException, match=f"{GONE}.*is not found"):
        ledger(hook, store).find_placed(try_number=2)


def test_a_first_try_without_a_record_does_not_search_a_retry_does(sim: OneInboxSimulator) -> None:
    with OneInboxHook() as hook:
        call_id = place_keyed(hook, "+14155550302")
        assert ledger(hook, JsonTaskStore()).find_placed(try_number=1) is None
        assert sim.requests(method="GET", path_prefix=CURSOR) == []
        found = ledger(hook, None).find_placed(try_number=2)  # Airflow 3.1: no store, the search alone
    assert found is not None
    assert found["id"] == call_id
    assert len(sim.requests(method="GET", path_prefix=CURSOR)) == 1


def test_the_attempt_is_written_before_dialling_and_never_overwritten(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        first = ledger(hook, store)
        first.load_attempt()
        assert first.mark_attempt() is True
        record = store.get(STATE_STORE_ATTEMPT_KEY)
        assert record["idempotency_key"] == KEY
        assert record["sent"] is None
        # A retry with that record searches from the recorded time, and does not rewrite it.
        retry = ledger(hook, store, since=None)
        assert retry.load_attempt() == record
        sets = store.sets
        assert retry.mark_attempt() is True
        assert store.sets == sets
        assert retry.find_placed(try_number=2) is None  # searched: none was placed
    assert len(sim.requests(method="GET", path_prefix=CURSOR)) == 1


def test_a_create_that_never_left_is_recorded_so_the_retry_skips_the_search(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    since = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with OneInboxHook() as hook:
        first = ledger(hook, store, since=since)
        first.mark_attempt()
        assert first.mark_attempt(sent=False) is True
        assert store.get(STATE_STORE_ATTEMPT_KEY) == {
            "idempotency_key": KEY,
            "attempted_at": since.isoformat(),
            "sent": False,
        }
        retry = ledger(hook, store)
        retry.load_attempt()
        assert retry.find_placed(try_number=2) is None
        # Dialling again first records that a call may now exist.
        assert retry.mark_attempt() is True
    assert store.get(STATE_STORE_ATTEMPT_KEY)["sent"] is None
    assert sim.requests(method="GET", path_prefix=CURSOR) == []


def test_a_store_that_fails_is_logged_and_reported(
    sim: OneInboxSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = JsonTaskStore(fail_sets=2)
    store.fail_gets = 1
    with OneInboxHook() as hook, caplog.at_level(logging.WARNING, "test_ledger"):
        book = ledger(hook, store)
        assert book.load_attempt() is None
        assert book.mark_attempt() is False
        book.save_call_id("call_x")
    assert store.values == {}
    assert "Could not read oneinbox_call_attempt" in caplog.text
    assert "Could not save call id call_x" in caplog.text


def test_search_limit_zero_never_dials_on_doubt(sim: OneInboxSimulator) -> None:
    with OneInboxHook() as hook:
        book = ledger(hook, None, search_limit=0)
        with pytest.raises(AirflowFailException, match="reattach_search_limit=0 turns the search off"):
            book.find_placed(try_number=2)
        with pytest.raises(AirflowFailException, match="may or may not have been placed"):
            book.recover_uncertain_create("503", "+14155550303")
    assert sim.requests(method="GET", path_prefix=CURSOR) == []


def test_an_uncertain_create_is_recovered_by_the_search(sim: OneInboxSimulator) -> None:
    sim.set_faults(lose_create_response=1)
    with OneInboxHook() as hook:
        with pytest.raises(OneInboxTransportError) as lost:
            place_keyed(hook, "+14155550304")
        call = ledger(hook, None).recover_uncertain_create(str(lost.value), "+14155550304")
    assert call["metadata"][IDEMPOTENCY_METADATA_KEY] == KEY
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 1


def test_an_uncertain_create_not_found_fails_the_try_for_a_retry(sim: OneInboxSimulator) -> None:
    with OneInboxHook() as hook:
        place_keyed(hook, "+14155550305", key="airflow-someone-else")
        with pytest.raises(AirflowException, match="may or may not have been placed, and it was not found"):
            ledger(hook, None).recover_uncertain_create("connection reset", "+14155550305")


def test_a_search_stopped_at_its_bound_is_not_a_no(sim: OneInboxSimulator) -> None:
    with OneInboxHook() as hook:
        for i in range(5):
            place_keyed(hook, f"+141555504{i:02d}", key=f"airflow-other-{i}")
        book = ledger(hook, None, search_limit=3, since=datetime.now(UTC) - timedelta(days=1))
        with pytest.raises(AirflowFailException, match=r"read 3 calls .*Raise reattach_search_limit"):
            book.search()
