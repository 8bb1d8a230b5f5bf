"""``OneInboxCallNotifier`` through real ``dag.test()`` runs against the simulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import airflow
import pytest
from packaging.version import Version

from airflow_provider_oneinbox.placed_calls import IDEMPOTENCY_METADATA_KEY
from airflow_provider_oneinbox.rules.notify import NOTIFY_RUN_METADATA_KEY
from tests.conftest import TEST_API_KEY
from tests.helpers.calls import calls_to
from tests.helpers.dags import write_dag
from tests.helpers.notify import BACKUP, NOTIFY_PRELUDE, ON_CALL, notifier_source

#: Whether Airflow puts the task's exception into its failure callback's context (3.3 does, 3.1 not).
EXCEPTION_IN_CONTEXT = Version(airflow.__version__) >= Version("3.3")


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_a_failing_task_phones_once_with_what_happened_even_when_the_callback_runs_twice(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    body = f"""
notifier = {notifier_source(to_number=ON_CALL, cooldown=0)}
explode.override(task_id="load", on_failure_callback=[notifier, notifier])()
"""
    dag = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_twice")
    dag_run = dag.test()

    assert _states(dag_run) == {"load": "failed"}
    (call,) = calls_to(ON_CALL)
    assert sim.calls_created(ON_CALL) == 1
    variables = call["variables"]
    assert variables["alert"] == "task_failed"
    assert variables["dag_id"] == dag.dag_id
    assert variables["task_id"] == "load"
    assert variables["run_id"] == dag_run.run_id
    assert variables["try_number"] == "1"
    if EXCEPTION_IN_CONTEXT:
        assert variables["error"] == "ValueError: disk full on /data"
        said = f"Task load of DAG {dag.dag_id} failed on try 1: ValueError: disk full on /data"
    else:  # Airflow 3.1 gives on_failure_callback no exception
        assert "error" not in variables
        said = f"Task load of DAG {dag.dag_id} failed on try 1."
    assert variables["summary"] == said
    assert "Traceback" not in str(variables)
    run = quote(dag_run.run_id, safe="")
    assert (
        variables["log_url"] == f"http://localhost:8080/dags/{dag.dag_id}/runs/{run}/tasks/load?try_number=1"
    )
    assert call["metadata"][IDEMPOTENCY_METADATA_KEY].startswith("airflow-notify-")
    assert call["metadata"][NOTIFY_RUN_METADATA_KEY].startswith("airflow-notify-run-")

    out = capfd.readouterr()
    assert "exists already" in out.out + out.err
    assert TEST_API_KEY not in out.out + out.err


def test_each_try_rings_once_and_on_retry_callback_says_it_will_be_retried(sim: Any, load_dag: Any) -> None:
    body = f"""
notifier = {notifier_source(to_number=ON_CALL, cooldown=0)}
explode.override(
    task_id="load", retries=1, retry_delay=timedelta(seconds=0),
    on_retry_callback=[notifier, notifier], on_failure_callback=[notifier, notifier],
)()
"""
    dag_run = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_retry").test()

    assert _states(dag_run) == {"load": "failed"}
    calls = sorted(calls_to(ON_CALL), key=lambda call: call["variables"]["try_number"])
    assert [(c["variables"]["try_number"], c["variables"]["alert"]) for c in calls] == [
        ("1", "task_retry"),
        ("2", "task_failed"),
    ]


def test_the_cool_down_rings_once_for_a_storm_of_failing_tasks_and_zero_turns_it_off(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    storm = """
for name in ("extract", "transform", "load", "report"):
    explode.override(task_id=name, on_failure_callback=notifier)()
"""
    cooled = f"notifier = {notifier_source(to_number=ON_CALL, cooldown=600)}\n{storm}"
    dag_run = write_dag(load_dag, cooled, prelude=NOTIFY_PRELUDE, prefix="notify_storm").test()

    assert set(_states(dag_run).values()) == {"failed"}
    assert sim.calls_created(ON_CALL) == 1
    out = capfd.readouterr()
    assert out.out.count("within the 600s cool-down") + out.err.count("within the 600s cool-down") == 3

    uncooled = f"notifier = {notifier_source(to_number=ON_CALL, cooldown=0)}\n{storm}"
    write_dag(load_dag, uncooled, prelude=NOTIFY_PRELUDE, prefix="notify_storm").test()
    assert sim.calls_created(ON_CALL) == 1 + 4, "without a cool-down, each failing task rings once"


def test_a_notifier_that_cannot_call_logs_it_and_the_task_still_fails(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.set_faults(server_error_burst=100)
    body = f"""
notifier = {notifier_source(to_number=ON_CALL)}
explode.override(task_id="load", on_failure_callback=notifier)()

@task(on_success_callback=notifier)
def fine():
    return "ok"

fine()
"""
    dag_run = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_down").test()
    sim.clear_faults()

    assert _states(dag_run) == {"load": "failed", "fine": "success"}
    assert sim.calls_created() == 0
    out = capfd.readouterr()
    logs = out.out + out.err
    assert "OneInboxCallNotifier placed no call to +14157080101" in logs
    assert "The task's own outcome is unchanged" in logs
    assert TEST_API_KEY not in logs


def test_a_template_that_cannot_render_is_logged_and_a_human_in_the_loop_step_still_runs(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    body = f"""
notifier = {notifier_source(to_number="{{ params.missing.number }}")}

@task
def fine():
    from airflow.sdk import get_current_context

    notifier(get_current_context())  # as a human-in-the-loop operator calls its notifiers, in execute
    return "ok"

fine()
"""
    dag_run = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_template").test()

    assert _states(dag_run) == {"fine": "success"}
    assert sim.calls_created() == 0
    out = capfd.readouterr()
    assert "OneInboxCallNotifier placed no call: " in out.out + out.err


def test_escalation_to_a_dag_that_is_not_deployed_is_logged_and_the_first_call_stands(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    notifier = notifier_source(
        to_number=ON_CALL, escalation_numbers=[BACKUP], escalation_dag_id="not_deployed"
    )
    body = f"""
explode.override(task_id="load", on_failure_callback={notifier})()
"""
    dag_run = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_no_escalation").test()

    assert _states(dag_run) == {"load": "failed"}
    assert (sim.calls_created(ON_CALL), sim.calls_created(BACKUP)) == (1, 0)
    out = capfd.readouterr()
    assert "Escalation not started for call" in out.out + out.err


def test_a_create_whose_answer_is_lost_is_found_not_sent_again(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.set_faults(lose_create_response=1)
    body = f"""
notifier = {notifier_source(to_number=ON_CALL)}
explode.override(task_id="load", on_failure_callback=[notifier, notifier])()
"""
    write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_lost").test()

    assert sim.calls_created(ON_CALL) == 1
    assert len(sim.requests("POST", "/v1/calls")) == 1, "POST /v1/calls is never sent twice"
    out = capfd.readouterr()
    assert "may have been sent" in out.out + out.err


def test_a_refused_call_is_logged_and_the_task_failure_stays(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    body = f"""
notifier = {notifier_source(to_number=ON_CALL, agent_id="agt_does_not_exist")}
explode.override(task_id="load", on_failure_callback=notifier)()
"""
    dag_run = write_dag(load_dag, body, prelude=NOTIFY_PRELUDE, prefix="notify_refused").test()

    assert _states(dag_run) == {"load": "failed"}
    assert sim.calls_created() == 0
    out = capfd.readouterr()
    assert "OneInboxCallNotifier placed no call" in out.out + out.err


def test_a_templated_number_is_rendered_from_the_run(sim: Any, load_dag: Any) -> None:
    body = f"""
notifier = {notifier_source(to_number="{{ params.on_call }}")}
explode.override(task_id="load", on_failure_callback=notifier)()
"""
    dag = write_dag(
        load_dag,
        body,
        prelude=NOTIFY_PRELUDE,
        prefix="notify_templated",
        dag_args=f", params={{'on_call': {ON_CALL!r}}}",
    )
    dag.test()
    assert sim.calls_created(ON_CALL) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to_number": "+1555"}, "to_number"),
        ({"to_number": ON_CALL, "from_number": "4155550100"}, "from_number"),
        ({"to_number": ON_CALL, "escalation_numbers": ["+14155550123", "12"]}, "escalation_numbers"),
        ({"to_number": ON_CALL, "cooldown": -1}, "cooldown"),
        ({"to_number": ON_CALL, "agent_id": ""}, "agent_id"),
        ({"to_number": ON_CALL, "escalation_numbers": [BACKUP] * 6}, "escalation_numbers"),
        ({"to_number": ON_CALL, "acknowledge_outcomes": []}, "acknowledge_outcomes"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    from airflow_provider_oneinbox.exceptions import OneInboxInputError
    from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

    with pytest.raises(OneInboxInputError, match=field):
        OneInboxCallNotifier(**{"agent_id": "agt_sales", "from_number": "+14155550100", **kwargs})


def test_a_secret_in_the_error_is_redacted_from_the_call_and_the_logs(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    prelude = (
        NOTIFY_PRELUDE
        + f"""

@task
def leak():
    raise PermissionError("token {TEST_API_KEY} was refused by the warehouse")
"""
    )
    body = f"""
notifier = {notifier_source(to_number=ON_CALL)}
leak.override(task_id="load", on_failure_callback=notifier)()
"""
    write_dag(load_dag, body, prelude=prelude, prefix="notify_secret").test()

    (call,) = calls_to(ON_CALL)
    assert TEST_API_KEY not in str(call)
    if EXCEPTION_IN_CONTEXT:
        assert call["variables"]["error"] == "PermissionError: token *** was refused by the warehouse"
    assert "airflow-notify-run-" in str(call["metadata"])


async def _events(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_run_by_the_triggerer_as_a_deadline_async_callback_it_refuses_to_post(sim: Any) -> None:
    """Airflow's own callback trigger (3.3 ``CallbackTrigger``, 3.1 ``DeadlineCallbackTrigger``)."""
    import asyncio

    try:
        from airflow.triggers.callback import CallbackTrigger as Trigger
    except ImportError:  # Airflow 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger as Trigger  # type: ignore[no-redef]

    context = {
        "dag_run": {"dag_id": "nightly", "dag_run_id": "manual__1", "queued_at": "2026-01-01T00:00:00+00:00"},
        "deadline": {"id": "d1", "deadline_time": "2026-01-01T00:30:00+00:00"},
    }
    kwargs = {
        "to_number": ON_CALL,
        "agent_id": "agt_sales",
        "from_number": "+14155550100",
        "context": context,
    }
    trigger = Trigger("airflow_provider_oneinbox.notifications.calls.OneInboxCallNotifier", kwargs)

    events = asyncio.run(_events(trigger))

    assert [str(event["state"]).rsplit(".", 1)[-1].lower() for event in events] == ["running", "failed"]
    assert "never sent from a trigger" in events[-1]["body"]
    assert sim.calls_created() == 0


def test_the_notifier_is_registered_in_provider_info_and_imports() -> None:
    import importlib

    from airflow.providers_manager import ProvidersManager

    from airflow_provider_oneinbox.get_provider_info import get_provider_info
    from airflow_provider_oneinbox.notifications import OneInboxCallNotifier

    (path,) = get_provider_info()["notifications"]
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is OneInboxCallNotifier
    assert path in ProvidersManager().notification
