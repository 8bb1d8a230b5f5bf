"""OneInboxCampaignOperator, worker-only path, through real ``dag.test()`` runs against the simulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import task_xcoms, use_simulator
from tests.helpers.dags import write_dag

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db

FROM = "+14155550100"
PRELUDE = "from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator"
#: Last two digits choose the simulator's scenario: 01 booked, 02 not connected, 03 voicemail,
#: 07 not interested, others default ("Interested").
NUMBERS = ["+14155550101", "+14155550102", "+14155550103", "+14155550107", "+14155550111", "+14155550122"]


def campaign(contacts: list[dict[str, Any]], results: Path, extra: str = "") -> str:
    return (
        f'OneInboxCampaignOperator(task_id="campaign", agent_id="agt_sales", from_number="{FROM}", '
        f"contacts={contacts!r}, results_path={str(results)!r}, poll_interval=0.2, "
        f"analysis_grace_period=2, progress_interval=1, {extra})"
    )


def run(load_dag: Callable[..., Any], body: str) -> Any:
    return write_dag(load_dag, body, PRELUDE, prefix="campaign").test()


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_paced_campaign_calls_each_contact_once_per_attempt_and_writes_rows_in_input_order(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_concurrent_calls=2, max_calls_per_second=1)
    contacts = [{"key": f"c{i}", "to_number": number} for i, number in enumerate(NUMBERS)]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        'max_concurrent_calls=2, calls_per_minute=120, redial_outcomes=["Not Connected"], '
        "max_attempts=2, redial_after=0.5",
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    (summary,) = task_xcoms(dag_run, "campaign")
    # One call per contact, two for the unanswered one (its redial), none more.
    calls = {number: sim.calls_created(number) for number in NUMBERS}
    assert calls == {number: 2 if number.endswith("02") else 1 for number in NUMBERS}
    record = sim.limits_record()
    assert record["refusals_by_code"] == {}, record
    assert record["peak_live_calls_by_agent"]["agt_sales"] <= 2
    assert record["peak_creates_per_second"] <= 1
    written = rows(results)
    assert [row["key"] for row in written] == [f"c{i}" for i in range(len(NUMBERS))]
    assert [row["attempts"] for row in written] == [1, 2, 1, 1, 1, 1]
    assert all(len(row["call_ids"]) == row["attempts"] for row in written)
    assert written[0]["outcome"] == "Appointment Booked"
    assert written[1]["outcome"] == "Not Connected", written[1]
    assert written[2]["outcome"] == "Voicemail"
    assert summary["contacts"] == 6
    assert summary["calls"] == 7
    assert summary["results"] == str(results)


def test_invalid_contacts_are_reported_in_place_and_never_called(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    contacts = [
        {"key": "a", "to_number": NUMBERS[4]},
        {"key": "bad", "to_number": "12"},
        {"key": "b", "to_number": NUMBERS[5]},
    ]
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign(contacts, results, 'max_concurrent_calls=2, on_invalid="skip"'))

    assert dag_run.state == "success"
    written = rows(results)
    assert [row["key"] for row in written] == ["a", "bad", "b"]
    assert written[1]["status"] == "not_called"
    assert written[1]["reason"].startswith("invalid: ")
    assert [row["status"] for row in (written[0], written[2])] == ["completed", "completed"]
    assert sim.calls_created() == 2


def test_quota_policy_fail_places_no_call_when_the_quota_is_short(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_calls_per_day=1)
    contacts = [{"to_number": number} for number in NUMBERS[4:]]
    dag_run = run(load_dag, campaign(contacts, tmp_path / "r.jsonl", 'quota_policy="fail"'))

    assert dag_run.state == "failed"
    assert sim.calls_created() == 0


def test_a_concurrency_refusal_waits_for_a_slot_and_never_calls_anyone_twice(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    # The agent takes fewer calls than the campaign was told: the API refuses with 429, creating nothing.
    sim.configure(max_concurrent_calls=1)
    contacts = [{"to_number": number} for number in NUMBERS[3:]]
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign(contacts, results, "max_concurrent_calls=3, calls_per_minute=600"))

    assert dag_run.state == "success"
    assert {number: sim.calls_created(number) for number in NUMBERS[3:]} == dict.fromkeys(NUMBERS[3:], 1)
    record = sim.limits_record()
    assert record["refusals_by_code"].get("CONCURRENCY_LIMIT_REACHED", 0) >= 1, record
    assert record["peak_live_calls_by_agent"]["agt_sales"] == 1
    assert [row["status"] for row in rows(results)] == ["completed"] * 3


CRASH_ONCE = (
    PRELUDE
    + '''

class CrashOnce(OneInboxCampaignOperator):
    """Dies (as a worker would) on its first try once two contacts are called."""

    def _build(self, context):
        runner = super()._build(context)
        if context["ti"].try_number == 1:
            place = runner._place

            def crashing(state, now):
                if sum(1 for s in runner.states if s.call_ids) >= 2:
                    raise RuntimeError("worker died mid-campaign")
                return place(state, now)

            runner._place = crashing
        return runner
'''
)


def test_a_retry_after_a_crash_reattaches_to_the_calls_placed_and_calls_the_rest(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry paces from the last recorded attempt plus the create's timeout: keep that short.
    use_simulator(sim, monkeypatch, timeout=2)
    contacts = [{"to_number": number} for number in NUMBERS[3:]]
    results = tmp_path / "results.jsonl"
    body = campaign(contacts, results, "max_concurrent_calls=3, retries=1, retry_delay=timedelta(0)")
    dag_run = write_dag(load_dag, body.replace("OneInboxCampaignOperator(", "CrashOnce("), CRASH_ONCE).test()

    assert dag_run.state == "success"
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "campaign"]
    assert ti.try_number == 2
    assert {number: sim.calls_created(number) for number in NUMBERS[3:]} == dict.fromkeys(NUMBERS[3:], 1)
    written = rows(results)
    assert [row["attempts"] for row in written] == [1, 1, 1]
    assert [row["status"] for row in written] == ["completed"] * 3


def test_a_quota_refusal_pauses_dialling_and_the_deadline_reports_the_rest_as_quota(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    sim.configure(max_calls_per_day=2)
    contacts = [{"to_number": number} for number in NUMBERS[2:]]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts, results, 'max_concurrent_calls=4, quota_policy="fit", deadline=timedelta(seconds=4)'
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert sim.calls_created() == 2
    written = rows(results)
    assert [row["status"] for row in written] == ["completed", "completed", "not_called", "not_called"]
    assert [row["reason"] for row in written[2:]] == ["daily quota", "daily quota"]


def test_contacts_outside_their_calling_hours_until_the_deadline_are_not_called(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    closed_today = [day for day in range(7) if day != datetime.now(UTC).weekday()]
    contacts = [{"to_number": NUMBERS[4], "timezone": "UTC"}]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        f'calling_hours=("00:00", "23:59"), calling_days={closed_today!r}, deadline=timedelta(seconds=2)',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert sim.calls_created() == 0
    (row,) = rows(results)
    assert (row["status"], row["reason"]) == ("not_called", "outside calling hours until the deadline")


def test_a_deferrable_campaign_waits_in_the_triggerer_and_resumes_a_few_times(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, task_runs: list[Any]
) -> None:
    # Two contacts at once, then nothing but the calls' ends (and a redial 3 s later) to wait for.
    contacts = [{"key": f"c{i}", "to_number": number} for i, number in enumerate(NUMBERS[:3])]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        "max_concurrent_calls=3, calls_per_minute=600, deferrable=True, min_defer_seconds=0.5, "
        'redial_outcomes=["Not Connected"], max_attempts=2, redial_after=3',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert {number: sim.calls_created(number) for number in NUMBERS[:3]} == {
        NUMBERS[0]: 1,
        NUMBERS[1]: 2,
        NUMBERS[2]: 1,
    }
    written = rows(results)
    assert [row["attempts"] for row in written] == [1, 2, 1]
    assert [row["outcome"] for row in written] == ["Appointment Booked", "Not Connected", "Voicemail"]
    # It deferred at least once (more than one task run), and resumed far fewer times than calls x polls.
    assert 2 <= len(task_runs) <= 8, len(task_runs)


def test_stopping_a_campaign_hangs_up_its_live_calls_and_marks_the_rest_stopped(
    sim: OneInboxSimulator,
) -> None:
    # The runner the operator's on_kill stops, driven directly: two 600 s calls live, one contact waiting.
    import logging
    from datetime import UTC, datetime

    from airflow_provider_oneinbox.campaign_ledger import CampaignLedger
    from airflow_provider_oneinbox.campaigns.contacts import load_contacts
    from airflow_provider_oneinbox.campaigns.pacing import Pacing
    from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
    from airflow_provider_oneinbox.campaigns.runner import CampaignRunner
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from tests.helpers.calls import get

    book = load_contacts([{"to_number": n} for n in ("+14155550105", "+14155550205", "+14155550111")])
    hook = OneInboxHook()
    log = logging.getLogger("campaign-test")
    ledger = CampaignLedger(hook, None, agent_id="agt_sales", search_limit=1000, log=log)
    now = datetime.now(UTC)
    runner = CampaignRunner(
        book, ("d", "r", "t", -1), {"agent_id": "agt_sales", "from_number": FROM}, hook,
        OneInboxHook(max_retries=0), ledger, Pacing(2, 600), RedialPolicy.of(), None, None, now, log,
    )  # fmt: skip
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
