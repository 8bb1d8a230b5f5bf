"""
Secret hygiene end to end: both example DAGs, run through a real Airflow, never expose a key.

The OneInbox API key (the ``oneinbox_default`` password) and the carrier key (the
``oneinbox_carrier`` password, templated into ``store_carrier_integration``) are known strings.
After a successful run of ``oneinbox_outbound_call`` and ``oneinbox_call_campaign``, and after a
failing run of both with a wrong (but known) API key, none of these keys may appear in:

* the task logs: everything ``dag.test()`` printed (it runs tasks in process and logs to the
  console), and every file under ``$AIRFLOW_HOME/logs`` (in-process runs write none today;
  any that appear are read too);
* any XCom value of any task (the ``xcom`` table), any rendered template field (the
  ``rendered_task_instance_fields`` table), any task instance's ``next_kwargs`` (the event a
  deferred task resumes with);
* the serialized trigger kwargs (the ``trigger`` table, both decrypted and as stored);
* the DAG's serialized form (``serialized_dag`` table, and serializing the DAG object again);
* the exceptions failed tasks ended with (message, repr, chain and formatted traceback);
* the reprs of the hook, its settings, the async hook, each trigger and each operator, both as
  parsed and as run (rendered).
"""

from __future__ import annotations

import asyncio
import json
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.conftest import CONN_ID, TEST_API_KEY, connection_json, task_xcoms
from tests.helpers.errors import exception_chain

pytestmark = pytest.mark.airflow_db

CARRIER_KEY = "carrier_secret_4e5f6a7b8c9d0e1f"
WRONG_KEY = "oi_sk_wrong_but_known_13579bdf2468"
SECRETS = {"API key": TEST_API_KEY, "carrier key": CARRIER_KEY, "wrong API key": WRONG_KEY}
CAMPAIGN_CONTACTS = [
    {"to_number": "+14157090101", "customer_name": "Ada"},
    {"to_number": "+14157090202", "customer_name": "Grace"},
]


@pytest.fixture(autouse=True)
def example_dag_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast polling and the carrier connection the outbound example templates its key from."""
    monkeypatch.setenv("ONEINBOX_POLL_INTERVAL", "0.3")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_CARRIER", json.dumps({"conn_type": "generic", "password": CARRIER_KEY})
    )


def run_example_dags(load_dag: Callable[..., Any]) -> list[tuple[Any, Any]]:
    """Run both example DAGs; return ``(dag, dag_run)`` pairs."""
    outbound = load_dag("oneinbox_outbound_call.py")
    campaign = load_dag("oneinbox_call_campaign.py")
    return [
        (outbound, outbound.test(run_conf={"to_number": "+14157090001", "customer_name": "Sama"})),
        (campaign, campaign.test(run_conf={"contacts": CAMPAIGN_CONTACTS})),
    ]


def _rows(model: Any, *where: Any) -> list[Any]:
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = list(session.scalars(select(model).where(*where)))
        session.expunge_all()
    return rows


def xcom_texts(dag_run: Any) -> list[str]:
    from airflow.models.xcom import XComModel

    rows = _rows(XComModel, XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
    return [f"xcom {row.task_id}[{row.map_index}] {row.key}: {row.value!r}" for row in rows]


def rendered_field_texts(dag_run: Any) -> list[str]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered

    rows = _rows(Rendered, Rendered.dag_id == dag_run.dag_id, Rendered.run_id == dag_run.run_id)
    return [f"rendered {row.task_id}[{row.map_index}]: {row.rendered_fields!r}" for row in rows]


def next_kwargs_texts(dag_run: Any) -> list[str]:
    return [f"next_kwargs {ti.task_id}: {ti.next_kwargs!r}" for ti in dag_run.get_task_instances()]


def trigger_texts() -> tuple[list[str], list[dict[str, Any]]]:
    """Every trigger row, as stored and decrypted, with the repr of the trigger it rebuilds."""
    from airflow.models.trigger import Trigger

    texts, ours = [], []
    for row in _rows(Trigger):
        texts += [f"trigger row: {row.encrypted_kwargs}", f"trigger kwargs: {row.kwargs!r}"]
        if row.classpath.endswith("OneInboxCallTrigger"):
            ours.append(row.kwargs)
            trigger = OneInboxCallTrigger(**row.kwargs)
            texts += [f"trigger repr: {trigger!r}", f"trigger serialize: {trigger.serialize()!r}"]
    return texts, ours


def serialized_dag_texts(dag: Any) -> list[str]:
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.serialization import serialized_objects

    # DagSerialization since Airflow 3.2, SerializedDAG before.
    serializer: Any = getattr(serialized_objects, "DagSerialization", None)
    serializer = serializer or serialized_objects.SerializedDAG

    stored = _rows(SerializedDagModel, SerializedDagModel.dag_id == dag.dag_id)
    assert stored, f"{dag.dag_id} was not serialized"
    return [f"serialized_dag row: {json.dumps(row.data, default=str)}" for row in stored] + [
        f"serialize_dag: {json.dumps(serializer.serialize_dag(dag), default=str)}",
        *(f"operator {task!r}" for task in dag.tasks),
    ]


def exception_texts(error: BaseException) -> Iterator[str]:
    yield "".join(traceback.format_exception(error))
    for current in exception_chain(error):
        yield f"exception {type(current).__name__}: {current} / {current!r} / {vars(current)!r}"


def run_texts(task_runs: list[Any]) -> list[str]:
    """The exception of every failed try, and the repr of every operator as it ran (rendered)."""
    texts = [f"operator as run: {run.ti.task!r}" for run in task_runs]
    for run in task_runs:
        if run.error is not None:
            texts += exception_texts(run.error)
    return texts


def log_file_texts() -> list[str]:
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    files = [path for path in logs.rglob("*") if path.is_file()] if logs.exists() else []
    return [f"log file {path}: {path.read_text(errors='replace')}" for path in files]


def hook_reprs() -> list[str]:
    hook = OneInboxHook()
    async_hook = OneInboxAsyncHook()
    settings = asyncio.run(async_hook.get_settings())
    return [repr(hook), repr(hook.settings), str(hook.settings), repr(async_hook), repr(settings)]


def assert_no_secrets(places: dict[str, list[str]]) -> None:
    leaks = [
        f"{name} in {place}: ...{text[max(0, text.find(secret) - 80) : text.find(secret) + 40]}..."
        for place, texts in places.items()
        for text in texts
        for name, secret in SECRETS.items()
        if secret in text
    ]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


def test_secrets_never_leak_from_successful_runs(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    task_runs: list[Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    runs = run_example_dags(load_dag)
    out, err = capfd.readouterr()

    assert [dag_run.state for _, dag_run in runs] == ["success", "success"]
    assert "Created OneInbox credential" in out + err, "the task logs were not captured"
    assert "Outcome: Appointment Booked" in out + err
    places: dict[str, list[str]] = {"console (task logs)": [out, err], "log files": log_file_texts()}
    for dag, dag_run in runs:
        places[f"{dag.dag_id} xcom"] = xcom_texts(dag_run)
        places[f"{dag.dag_id} rendered fields"] = rendered_field_texts(dag_run)
        places[f"{dag.dag_id} next_kwargs"] = next_kwargs_texts(dag_run)
        places[f"{dag.dag_id} serialized"] = serialized_dag_texts(dag)
    places["trigger table"], trigger_kwargs = trigger_texts()
    places["task runs"] = run_texts(task_runs)
    places["reprs"] = hook_reprs()

    # Each place holds what it should, so an empty search cannot pass for a clean one.
    outbound_xcoms = " ".join(places["oneinbox_outbound_call xcom"])
    assert "transcript" in outbound_xcoms
    with OneInboxHook() as hook:
        (credential,) = hook.list_credentials()
    assert credential["id"] in outbound_xcoms  # the credential task's result
    rendered = " ".join(places["oneinbox_outbound_call rendered fields"])
    assert "'carrier_api_key': '***'" in rendered, "the carrier key must be rendered, and masked"
    assert len(places["oneinbox_call_campaign xcom"]) >= len(CAMPAIGN_CONTACTS)
    results = [*task_xcoms(runs[0][1], "wait_for_call"), *task_xcoms(runs[1][1], "place_call")]
    call_ids = {result["call_id"] for result in results}
    assert len(call_ids) == 1 + len(CAMPAIGN_CONTACTS)
    assert call_ids <= {kwargs["call_id"] for kwargs in trigger_kwargs}, "each wait deferred"
    assert all(set(kwargs) >= {"oneinbox_conn_id", "deadline"} for kwargs in trigger_kwargs)
    # Each deferred wait names its agent, so it can join the triggerer's shared poller at once.
    assert all(kwargs["agent_id"] and kwargs["shared_polling"] for kwargs in trigger_kwargs)
    assert any("OneInboxCreateCredentialOperator" in text for text in places["task runs"])
    assert_no_secrets(places)


def test_secrets_never_leak_from_failed_runs(
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    task_runs: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, WRONG_KEY))
    runs = run_example_dags(load_dag)
    out, err = capfd.readouterr()

    # The campaign run itself succeeds: its leaf, the summary, runs whatever the calls did.
    assert [dag_run.state for _, dag_run in runs] == ["failed", "success"]
    failures = {(run.ti.task_id, run.ti.map_index): run.error for run in task_runs if run.error}
    assert set(failures) == {("store_carrier_integration", -1), ("place_call", 0), ("place_call", 1)}
    for error in failures.values():
        assert "401" in str(error)
        assert "Invalid API key" in str(error)
        assert str(error) in out + err, "the failure must be in the task log"
    assert all(run.ti.try_number == 1 for run in task_runs), "a wrong key must not be retried"
    places: dict[str, list[str]] = {"console (task logs)": [out, err], "log files": log_file_texts()}
    for dag, dag_run in runs:
        places[f"{dag.dag_id} xcom"] = xcom_texts(dag_run)
        places[f"{dag.dag_id} rendered fields"] = rendered_field_texts(dag_run)
        places[f"{dag.dag_id} serialized"] = serialized_dag_texts(dag)
    assert "'carrier_api_key': '***'" in " ".join(places["oneinbox_outbound_call rendered fields"])
    places["task runs"] = run_texts(task_runs)
    places["reprs"] = hook_reprs()
    assert_no_secrets(places)
