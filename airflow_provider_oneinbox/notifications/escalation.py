"""
Escalation: call the next number while nobody acknowledges, without holding a worker or triggerer.

The notifier places the first call, then starts one run of an escalation DAG (built here by
:func:`escalation_dag`; ``example_dags/oneinbox_notify_escalation.py`` deploys it). That run waits
for each call with the provider's deferrable waiting (the sensor, then place-call operators with
``wait_for_completion=True``): while a call rings, no worker slot is held, and the triggerer only
polls. Between two calls a short-circuit step reads the last call's outcome: acknowledged (one of
``acknowledge_outcomes``) or no numbers left ends the chain. Every call is placed by a worker, at
most once per step (each step is a place-call task: its own idempotency key and search).

Why a DAG run and not a loop in the callback: a callback that waited would hold its worker (or, as
an ``async_notify``, a triggerer slot and a POST from a trigger) for the whole chain, and a crash
would lose it. A DAG run is durable, visible in the UI, retried per step, and its id
(``escalation__<notification key>``) makes starting it twice a no-op.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator
from airflow_provider_oneinbox.rules.notify import is_acknowledged

if TYPE_CHECKING:
    from airflow.sdk import DAG

__all__ = [
    "ESCALATION_RUN_PREFIX",
    "EscalationCallOperator",
    "escalation_dag",
    "request_escalation",
    "should_escalate",
]

#: Run ids of escalation DAG runs start with this, then the notification's key.
ESCALATION_RUN_PREFIX = "escalation__"


def request_escalation(
    notifier: Any, call: dict[str, Any], arguments: dict[str, Any], key: str, *, log: Any
) -> bool:
    """
    Start the escalation DAG run of a notification (once: its run id is the notification's key).

    Works where the notifier runs in a task process (task callbacks, human-in-the-loop
    notifiers), through the Task SDK's supervisor channel, as ``TriggerDagRunOperator`` does.

    :param notifier: The notifier (its ``escalation_dag_id``, ``escalation_numbers``,
        ``acknowledge_outcomes``).
    :param call: The first call (placed or found).
    :param arguments: The first call's ``create_call`` arguments.
    :param key: The notification's idempotency key.
    :param log: Where to log.
    :return: Whether the run exists now.
    """
    run_id = f"{ESCALATION_RUN_PREFIX}{key}"
    conf = {
        "first_call_id": str(call.get("id")),
        "numbers": list(notifier.escalation_numbers),
        "acknowledge_outcomes": list(notifier.acknowledge_outcomes),
        "agent_id": arguments["agent_id"],
        "from_number": arguments["from_number"],
        "variables": arguments.get("variables") or {},
    }
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun
    except ImportError as exc:  # pragma: no cover - the Task SDK ships with Airflow 3
        log.error("Escalation not started: the Task SDK is missing (%s).", exc)
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        log.error(
            "Escalation not started for call %s: the notifier does not run in a task process (a DAG-level "
            "or Deadline Alert callback cannot start DAG runs). Use escalation from task callbacks or "
            "human-in-the-loop notifiers.",
            call.get("id"),
        )
        return False
    try:
        answer = comms.send(TriggerDagRun(dag_id=notifier.escalation_dag_id, run_id=run_id, conf=conf))
    except Exception as exc:
        log.error("Escalation not started for call %s: %s", call.get("id"), exc)
        return False
    if isinstance(answer, ErrorResponse):
        if "ALREADY_EXISTS" in str(answer.error).upper():
            log.info("Escalation run %s of DAG %s exists already.", run_id, notifier.escalation_dag_id)
            return True
        log.error("Escalation not started for call %s: %s", call.get("id"), answer.detail or answer.error)
        return False
    log.info(
        "Started escalation run %s of DAG %s: %d more number(s) unless the call is acknowledged.",
        run_id,
        notifier.escalation_dag_id,
        len(conf["numbers"]),
    )
    return True


def should_escalate(step: int, previous_task_id: str, **context: Any) -> bool:
    """
    Whether escalation step ``step`` (0-based index into the numbers) calls its number.

    No if the previous call's outcome acknowledged, or no number is left. A previous step that
    failed (timed out, refused) escalates.

    :param step: Index of the number this step would call.
    :param previous_task_id: The task that waited for the previous call.
    :param context: The task context.
    """
    conf = context["dag_run"].conf or {}
    numbers = conf.get("numbers") or []
    acknowledging = conf.get("acknowledge_outcomes") or ["Acknowledged"]
    result = context["ti"].xcom_pull(task_ids=previous_task_id)
    outcome = result.get("outcome") if isinstance(result, dict) else None
    log = logging.getLogger(__name__)
    if is_acknowledged(outcome, acknowledging):
        log.info("Call acknowledged (outcome %r): the escalation ends.", outcome)
        return False
    if step >= len(numbers):
        log.warning("Nobody acknowledged (last outcome %r) and no number is left: escalation ends.", outcome)
        return False
    log.info("Outcome %r does not acknowledge: calling number %d of %d.", outcome, step + 1, len(numbers))
    return True


class EscalationCallOperator(OneInboxPlaceCallOperator):
    """
    One escalation step: call the run's ``numbers[step]`` with the first call's agent, caller ID and
    variables (plus ``escalation_step``), as a place-call task (at most once, deferrable wait).

    :param step: Index of the number to call in the run's conf.
    :param kwargs: :class:`~airflow_provider_oneinbox.operators.calls.OneInboxPlaceCallOperator`'s.
    """

    def __init__(self, *, step: int, **kwargs: Any) -> None:
        super().__init__(
            to_number=f"{{{{ dag_run.conf['numbers'][{step}] }}}}",
            agent_id="{{ dag_run.conf['agent_id'] }}",
            from_number="{{ dag_run.conf['from_number'] }}",
            **kwargs,
        )
        self.step = step

    def execute(self, context: Any) -> Any:
        """Take the variables from the run's conf (a dict: templates would render it as text), then call."""
        told = context["dag_run"].conf.get("variables") or {}
        self.variables = {**(told if isinstance(told, dict) else {}), "escalation_step": str(self.step + 1)}
        return super().execute(context)


def escalation_dag(
    dag_id: str = "oneinbox_notify_escalation",
    *,
    answer_timeout: float | timedelta = 600,
    poll_interval: float | timedelta = 10,
    max_numbers: int = 5,
    oneinbox_conn_id: str = "oneinbox_default",
    deferrable: bool = True,
    retries: int = 2,
    retry_delay: float | timedelta = 10,
) -> DAG:
    """
    The escalation DAG the notifier starts: wait for the first call, then call each number in turn.

    :param dag_id: The DAG's id (the notifier's ``escalation_dag_id``).
    :param answer_timeout: Seconds each call has to end with an outcome; a call still going then
        is left alone (not hung up) and the next number is called.
    :param poll_interval: Seconds between two status polls.
    :param max_numbers: Steps built (numbers beyond the conf's list are skipped).
    :param oneinbox_conn_id: Airflow connection to the OneInbox API.
    :param deferrable: Wait in the triggerer (frees the worker slot).
    :param retries: Retries of every step. A lost worker or Airflow 3.3.2's deferral race
        (a resumed try failed as "finished with state success, but ... queued") fails a try; a
        retried wait waits again, a retried call step finds its call, never dials twice.
    :param retry_delay: Seconds (or a ``timedelta``) between two tries of a step.
    """
    from airflow.providers.standard.operators.python import ShortCircuitOperator
    from airflow.sdk import DAG

    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    with DAG(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        max_active_runs=16,
        default_args={"retries": retries, "retry_delay": retry_delay},  # Airflow converts seconds
        tags=["oneinbox", "notifications"],
        doc_md=__doc__,
    ) as dag:
        previous: Any = OneInboxCallSensor(
            task_id="wait_for_first_call",
            call_id="{{ dag_run.conf['first_call_id'] }}",
            poke_interval=poll_interval,
            timeout=answer_timeout,
            deferrable=deferrable,
            hang_up_on_timeout=False,
            oneinbox_conn_id=oneinbox_conn_id,
        )
        previous_id = previous.task_id
        for step in range(max_numbers):
            check = ShortCircuitOperator(
                task_id=f"escalate_{step + 1}",
                python_callable=should_escalate,
                op_kwargs={"step": step, "previous_task_id": previous_id},
                trigger_rule="all_done",
            )
            call = EscalationCallOperator(
                task_id=f"call_{step + 1}",
                step=step,
                wait_for_completion=True,
                poll_interval=poll_interval,
                timeout=answer_timeout,
                deferrable=deferrable,
                hang_up_on_timeout=False,
                oneinbox_conn_id=oneinbox_conn_id,
            )
            previous >> check >> call
            previous, previous_id = call, call.task_id
    return dag
