"""
Edge cases of "one call per task instance": a create answered with a body the hook cannot use
may have placed the call (search, never fail as refused), and a retry's search window opens when
the run was due, which a clear does not move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator
from tests.conftest import task_xcoms
from tests.helpers.calls import AGENT, FROM
from tests.helpers.dags import instances, write_dag
from tests.helpers.loopback import Reply, Seen, loopback_connection

CALL_ID = "5b0e4d0c-0d1f-4d7e-9a57-0e1b2c3d4e5f"


@pytest.mark.airflow_db
def test_a_create_answered_with_an_unusable_body_is_searched_for_not_refused(
    load_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    created: dict[str, Any] = {}

    def create(seen: Seen) -> Reply:
        created.update(seen.body)  # the API stored the call; its answer got mangled on the way
        return Reply(200, b"<html>502 Bad Gateway</html>")

    def record() -> dict[str, Any]:
        return {
            "id": CALL_ID,
            "agent_id": AGENT,
            "status": "in_progress",
            "to_number": created.get("to_number"),
            "metadata": created.get("metadata"),
            "created_at": datetime.now(UTC).isoformat(),
        }

    script = {
        ("POST", "/v1/calls"): create,
        ("GET", "/v1/calls/cursor"): lambda seen: Reply(200, {"items": [record()], "has_more": False}),
        ("GET", f"/v1/calls/{CALL_ID}"): lambda seen: Reply(200, record()),
    }
    body = (
        f'OneInboxPlaceCallOperator(task_id="call", agent_id="{AGENT}", to_number="+14155550181", '
        f'from_number="{FROM}")'
    )
    with loopback_connection(monkeypatch, script) as server:
        dag_run = write_dag(load_dag, body, prefix="mangled").test()

    (ti,) = instances(dag_run, "call")
    assert ti.state == "success"
    assert task_xcoms(dag_run, "call") == [CALL_ID]
    assert len(server.requests("POST", "/v1/calls")) == 1
    assert len(server.requests("GET", "/v1/calls/cursor")) == 1  # it looked instead of giving up


def test_a_cleared_run_searches_back_to_when_the_run_was_due() -> None:
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    cleared = due + timedelta(days=1)  # a clear sets the run's start_date anew, not its run_after
    context: Any = {
        "dag_run": SimpleNamespace(run_after=due, start_date=cleared),
        "ti": SimpleNamespace(start_date=cleared),
    }
    assert OneInboxPlaceCallOperator._earliest_attempt(context, None) == due
    recorded = {"attempted_at": (due + timedelta(hours=1)).isoformat()}
    assert OneInboxPlaceCallOperator._earliest_attempt(context, recorded) == due + timedelta(hours=1)
