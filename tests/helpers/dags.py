"""
DAG files for tests: the one template every test DAG is built from, and running them.

:func:`dag_source` writes a DAG file's text, :func:`write_dag` also puts it into the test
Airflow's dags folder and imports it (``dag.test()`` only runs DAGs found there).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

DAG_TEMPLATE = """
import os
import signal
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator, OneInboxStopCallOperator
from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

{prelude}

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False{dag_args}) as dag:
{body}
"""


def dag_source(body: str, prelude: str = "", prefix: str = "dag", dag_args: str = "") -> str:
    """
    The text of a DAG file whose ``with DAG(...)`` block is ``body``.

    The call operators and the sensor, ``os``, ``signal``, ``datetime``, ``timedelta`` and
    ``airflow.sdk.task`` are imported; anything else goes into ``prelude``.

    :param body: The statements of the ``with DAG(...)`` block, unindented.
    :param prelude: Module-level code before the DAG (imports, operator subclasses).
    :param prefix: Start of the generated, unique ``dag_id``.
    :param dag_args: More ``DAG(...)`` arguments, as source starting with a comma
        (``", params={...}"``).
    """
    indented = "\n".join(f"    {line}" for line in body.strip().splitlines())
    dag_id = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return DAG_TEMPLATE.format(dag_id=dag_id, prelude=prelude, body=indented, dag_args=dag_args)


def write_dag(
    load_dag: Callable[..., Any], body: str, prelude: str = "", prefix: str = "dag", dag_args: str = ""
) -> Any:
    """
    :func:`dag_source`'s DAG, written to the dags folder and imported.

    :param load_dag: The ``load_dag`` fixture.
    :param body: The statements of the ``with DAG(...)`` block, unindented.
    :param prelude: Module-level code before the DAG (e.g. operator subclasses).
    :param prefix: Start of the generated ``dag_id``.
    :param dag_args: More ``DAG(...)`` arguments, as source starting with a comma.
    """
    return load_dag(dag_source(body, prelude=prelude, prefix=prefix, dag_args=dag_args))


def instances(dag_run: Any, task_id: str = "call") -> list[Any]:
    """
    The task instances of ``task_id`` in ``dag_run``, by map index.

    :param dag_run: What ``dag.test()`` returned.
    :param task_id: The task's id.
    """
    return sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == task_id), key=lambda ti: ti.map_index
    )


def record_task_runs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """
    Record every task try ``dag.test()`` runs: a list of the Task SDK's ``TaskRunResult``.

    Each has ``ti`` (task id, try number), ``state`` and ``error``, the exception the try ended
    with, which ``dag.test()`` otherwise only logs. The ``task_runs`` fixture calls it.

    :param monkeypatch: The test's ``monkeypatch``; the recording ends with the test.
    """
    from airflow.sdk.execution_time import supervisor

    runs: list[Any] = []
    original = supervisor.run_task_in_process

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        runs.append(result)
        return result

    monkeypatch.setattr(supervisor, "run_task_in_process", recording)
    return runs
