"""Stopping a campaign: its live calls are hung up (the runner's stop, and the worker's on_kill)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.helpers.campaigns import FROM

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_stopping_a_campaign_hangs_up_its_live_calls_and_marks_the_rest_stopped(
    sim: OneInboxSimulator,
) -> None:
    # The runner the operator's on_kill stops, driven directly: two 600 s calls live, one contact waiting.
    from datetime import datetime

    from airflow_provider_oneinbox._compat import UTC
    from tests.helpers.calls import get
    from tests.helpers.campaigns import direct_runner

    now = datetime.now(UTC)
    runner = direct_runner(["+14155550105", "+14155550205", "+14155550111"], 2, now)
    assert runner.round(now) == 1  # the spacing (0.1 s) allows one start per round
    assert runner.round(now + (runner.pacing.spacing * 2)) == 1
    assert runner.round(now + (runner.pacing.spacing * 4)) == 0  # two live: the cap

    live = [s.live for s in runner.states if s.live]
    assert runner.stop_all() == 2
    assert all(get(str(call_id))["status"] in ("completed", "failed") for call_id in live)
    statuses = [row.status for row in runner.results()]
    assert statuses == ["unknown", "unknown", "not_called"]
    assert [row.reason for row in runner.results()] == ["stopped"] * 3
    assert sim.calls_created() == 2


def test_killing_a_worker_only_campaign_hangs_up_its_live_calls_and_says_how_many(
    sim: OneInboxSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # The operator's execute runs in a thread as in a worker; on_kill comes from another, as
    # Airflow's SIGTERM handler calls it. Two 600 s calls go live, a third contact waits for a slot.
    import threading
    import time
    from datetime import datetime
    from types import SimpleNamespace

    from airflow_provider_oneinbox._compat import UTC
    from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator
    from tests.helpers.calls import get

    numbers = ["+14155550105", "+12125550105", "+13125550111"]
    operator = OneInboxCampaignOperator(
        task_id="campaign",
        agent_id="agt_sales",
        from_number=FROM,
        contacts=[{"to_number": n} for n in numbers],
        max_concurrent_calls=2,
        calls_per_minute=600,
        poll_interval=0.2,
        quota_policy="ignore",
        deferrable=False,
    )
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="campaign", map_index=-1, try_number=1)
    context = {"ti": ti, "dag_run": SimpleNamespace(run_after=datetime.now(UTC)), "task_state_store": None}
    outcome: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(result=operator.execute(context)),  # type: ignore[arg-type]
        daemon=True,
    )
    worker.start()
    deadline = time.monotonic() + 20
    while sim.calls_created() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.calls_created() == 2
    # The simulator counts a create before its answer reaches the worker: wait for both ids.
    while len(getattr(operator._runner, "live_calls", ())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    runner = operator._runner
    assert runner is not None
    live = list(runner.live_calls)

    operator.on_kill()
    worker.join(timeout=20)

    assert not worker.is_alive()
    assert len(live) == 2
    assert all(get(call_id)["status"] in ("completed", "failed") for call_id in live)
    assert "Campaign killed: hung up 2 live call(s)." in capsys.readouterr().out  # the task log
    assert sim.calls_created() == 2  # the waiting contact was not called after the kill
    result = outcome["result"]
    assert isinstance(result, dict)
    assert result["by_status"] == {"unknown": 2, "not_called": 1}
