"""
A try whose create never reached the API (nothing listening) tells its retry so through the task
state store (3.3+): the retry places the call without searching for one that cannot exist.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.conftest import connection_json
from tests.helpers.calls import AGENT, FROM
from tests.helpers.dags import instances, write_dag
from tests.helpers.sockets import free_port as closed_port

pytestmark = pytest.mark.airflow_db

HAS_TASK_STATE_STORE = importlib.util.find_spec("airflow.sdk.bases.resumablejobmixin") is not None

OPERATOR = """
class DeadApiOnTry1(OneInboxPlaceCallOperator):
    \"\"\"Try 1 talks to a connection where nothing listens; later tries to the simulator.\"\"\"

    def execute(self, context):
        if context["ti"].try_number == 1:
            self.oneinbox_conn_id = "oneinbox_dead"
        return super().execute(context)
"""


def test_a_retry_after_a_create_that_never_connected_does_not_search(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_DEAD", connection_json(dead, max_retries=0))
    to = "+14155550171"
    body = (
        f'DeadApiOnTry1(task_id="call", agent_id="{AGENT}", to_number="{to}", from_number="{FROM}", '
        "retries=1, retry_delay=timedelta(0))"
    )
    dag_run = write_dag(load_dag, body, prelude=OPERATOR, prefix="dead").test()

    (ti,) = instances(dag_run, "call")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert sim.calls_created(to) == 1
    searches = len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))
    # With a task state store the retry knows try 1 sent nothing; without one it must search.
    assert searches == (0 if HAS_TASK_STATE_STORE else 1)
