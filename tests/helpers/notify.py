"""DAGs whose tasks fail and phone someone through ``OneInboxCallNotifier``, and reading the calls back."""

from __future__ import annotations

from typing import Any

from tests.helpers.calls import AGENT, FROM

#: Numbers of the simulator's scenarios (last two digits): answered "Appointment Booked", not answered.
ON_CALL = "+14157080101"
NOT_ANSWERING = "+14157080102"
BACKUP = "+14157080201"

NOTIFY_PRELUDE = f"""
from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

AGENT = {AGENT!r}
FROM = {FROM!r}


@task
def explode():
    raise ValueError("disk full on /data\\nTraceback line that must not reach the agent")
"""


def notifier_source(**kwargs: Any) -> str:
    """``OneInboxCallNotifier(...)`` as source, with the test agent and caller number unless given."""
    arguments = {"agent_id": AGENT, "from_number": FROM, **kwargs}
    return "OneInboxCallNotifier(" + ", ".join(f"{name}={value!r}" for name, value in arguments.items()) + ")"


def answer_approval_when_asked(dag_id: str, task_id: str, chosen: list[str], timeout: float = 60.0) -> Any:
    """
    Start a thread that answers a human-in-the-loop request of ``task_id`` once it exists, as the
    Airflow UI would: the response in the HITL row and, on 3.3+ (the task parked in
    ``awaiting_input``), the resume event (3.1's trigger reads the row itself). Returns the thread.

    :param dag_id: The DAG.
    :param task_id: The human-in-the-loop task.
    :param chosen: The options chosen.
    :param timeout: Give up after this many seconds.
    """
    import threading
    import time

    def answer() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answer_once(dag_id, task_id, chosen):
                return
            time.sleep(0.2)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def _answer_once(dag_id: str, task_id: str, chosen: list[str]) -> bool:
    from datetime import datetime

    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_oneinbox._compat import UTC

    with create_session() as session:
        query = select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
        ti = session.scalar(query)
        detail = session.get(HITLDetail, ti.id) if ti is not None else None
        if ti is None or detail is None or str(ti.state) not in ("awaiting_input", "deferred"):
            return False
        detail.responded_by = {"id": "approver", "name": "Approver"}
        detail.responded_at = datetime.now(UTC)
        detail.chosen_options = chosen
        detail.params_input = {}
        session.add(detail)
        if str(ti.state) == "awaiting_input":
            from airflow.models.trigger import handle_event_submit
            from airflow.triggers.base import TriggerEvent

            handle_event_submit(
                TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
            )
    return True


def missed_deadline_context(dag_run: Any) -> dict[str, Any]:
    """The context Airflow 3.3 gives a missed Deadline Alert's callback (``Deadline.handle_miss``)."""
    from datetime import datetime

    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from airflow_provider_oneinbox._compat import UTC

    with create_session() as session:
        row = session.get(DagRun, dag_run.id)
        run = DAGRunResponse.model_validate(row).model_dump(mode="json")
    return {"dag_run": run, "deadline": {"id": "0", "deadline_time": datetime.now(UTC).isoformat()}}


def run_executor_callback(callback: Any, context: dict[str, Any]) -> tuple[bool, str | None]:
    """Run a ``SyncCallback`` as Airflow 3.3's executors do (``callback_supervisor.execute_callback``)."""
    from pathlib import Path

    import structlog
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    return execute_callback(
        callback.path,
        {**callback.kwargs, "context": context},
        Path(""),
        None,
        structlog.get_logger("callback"),
    )
