"""
Every step of the escalation DAG retries: a lost worker or Airflow 3.3.2's deferral race fails a
try (a clean-clone CI's deployment run failed ``wait_for_first_call`` as "finished with state
success, but the task instance's state attribute is queued", with no retry left).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = pytest.mark.airflow_db


def test_every_step_of_the_escalation_dag_retries_by_default() -> None:
    from airflow_provider_oneinbox.notifications.escalation import escalation_dag

    dag = escalation_dag(max_numbers=2)
    tries = {task.task_id: (task.retries, task.retry_delay) for task in dag.tasks}
    assert set(tries) == {"wait_for_first_call", "escalate_1", "call_1", "escalate_2", "call_2"}
    assert set(tries.values()) == {(2, timedelta(seconds=10))}, tries


def test_the_retries_are_the_callers_choice() -> None:
    from airflow_provider_oneinbox.notifications.escalation import escalation_dag

    dag = escalation_dag(max_numbers=1, retries=0, retry_delay=timedelta(minutes=1))
    assert {(task.retries, task.retry_delay) for task in dag.tasks} == {(0, timedelta(minutes=1))}
