"""
A worker lost right after ``POST /v1/calls`` (the id never saved) on a busy agent: the retry
finds the call however many calls the agent placed since, because the search walks back to the
first attempt rather than over a fixed number of newest calls, and the attempt is recorded in
the task state store (3.3+) before the POST.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.conftest import task_xcoms
from tests.helpers.calls import AGENT, FROM
from tests.helpers.dags import instances, write_dag

pytestmark = pytest.mark.airflow_db

HAS_TASK_STATE_STORE = importlib.util.find_spec("airflow.sdk.bases.resumablejobmixin") is not None
#: More calls than the old search's 200 newest, placed by the agent between the two tries.
BUSY = 260

OPERATOR = f'''
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.operators.calls import STATE_STORE_ATTEMPT_KEY


class LostAfterThePostOnABusyAgent(OneInboxPlaceCallOperator):
    """Try 1 dies after its POST, before saving the id; the agent then places {BUSY} other calls."""

    def execute(self, context):
        self.try_number = context["ti"].try_number
        self.store = context.get("task_state_store")
        if self.try_number == 2:
            with OneInboxHook() as hook:
                for i in range({BUSY}):
                    to = f"+1415{{300 + i // 100}}{{i % 100:02d}}02"
                    hook.create_call(agent_id="{AGENT}", to_number=to, from_number="{FROM}")
        return super().execute(context)

    def _place_call(self, hook, request, metadata, key):
        if self.store is not None:  # the attempt is on record before anything is sent
            attempt = self.store.get(STATE_STORE_ATTEMPT_KEY)
            assert attempt["idempotency_key"] == key, attempt
        return super()._place_call(hook, request, metadata, key)

    def _save_call_id(self, store, call_id):
        if self.try_number == 1:
            raise RuntimeError("worker lost right after the call was placed")
        super()._save_call_id(store, call_id)
'''


def test_the_retry_finds_its_call_behind_hundreds_of_newer_ones(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    to = "+14155550161"
    body = (
        f'LostAfterThePostOnABusyAgent(task_id="call", agent_id="{AGENT}", to_number="{to}", '
        f'from_number="{FROM}", retries=1, retry_delay=timedelta(0))'
    )
    dag_run = write_dag(load_dag, body, prelude=OPERATOR, prefix="busy").test()

    (ti,) = instances(dag_run, "call")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert sim.calls_created(to) == 1  # not dialled again
    assert sim.calls_created() == BUSY + 1
    (call_id,) = task_xcoms(dag_run, "call")
    assert call_id == task_xcoms(dag_run, "call", "call_id")[0]
    # The retry read past the newest 200 to find it: three pages of 100.
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/cursor")) == 3
    if HAS_TASK_STATE_STORE:
        assert {"oneinbox_call_attempt", "oneinbox_call_id"} <= stored_keys(dag_run)


def stored_keys(dag_run: Any) -> set[str]:
    """The task state store keys (Airflow 3.3+) the ``call`` task instance left."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return set(
            session.scalars(
                select(TaskStateStoreModel.key).where(
                    TaskStateStoreModel.dag_id == dag_run.dag_id,
                    TaskStateStoreModel.run_id == dag_run.run_id,
                    TaskStateStoreModel.task_id == "call",
                )
            )
        )
