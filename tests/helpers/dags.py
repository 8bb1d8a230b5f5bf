"""Writing a DAG file into the test Airflow's dags folder and running it with ``dag.test()``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

DAG_TEMPLATE = """
import os
import signal
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator, OneInboxStopCallOperator
from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

{prelude}

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
{body}
"""


def write_dag(load_dag: Callable[..., Any], body: str, prelude: str = "", prefix: str = "dag") -> Any:
    """
    A DAG whose ``with`` block is ``body`` (operators and sensors of this provider in scope),
    written to the dags folder and imported.

    :param load_dag: The ``load_dag`` fixture.
    :param body: The statements of the ``with DAG(...)`` block, unindented.
    :param prelude: Module-level code before the DAG (e.g. operator subclasses).
    :param prefix: Start of the generated ``dag_id``.
    """
    indented = "\n".join(f"    {line}" for line in body.strip().splitlines())
    dag_id = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return load_dag(DAG_TEMPLATE.format(dag_id=dag_id, prelude=prelude, body=indented))


def instances(dag_run: Any, task_id: str) -> list[Any]:
    """The task instances of ``task_id`` in ``dag_run``, by map index."""
    return sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == task_id), key=lambda ti: ti.map_index
    )
