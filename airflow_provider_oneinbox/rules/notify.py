"""
Pure rules of the call notifier: its keys, the facts it tells the agent, links and acknowledgements.

A leaf module (standard library only), so the notifier, the escalation DAG and the tests share one
definition of "the same notification".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

__all__ = [
    "DEFAULT_ACKNOWLEDGE_OUTCOMES",
    "MAX_ERROR_CHARS",
    "NOTIFY_RUN_METADATA_KEY",
    "first_line",
    "is_acknowledged",
    "notification_key",
    "required_actions_url",
    "run_notification_key",
    "run_url",
    "task_log_url",
    "within_cooldown",
]

#: Metadata key under which a notifier's call carries its DAG run's key (the cool-down looks for it).
NOTIFY_RUN_METADATA_KEY = "airflow_notify_run_key"
#: Outcomes that mean "the person called has taken the alert", unless the notifier says otherwise.
DEFAULT_ACKNOWLEDGE_OUTCOMES: tuple[str, ...] = ("Acknowledged",)
#: Longest error line put into the call's variables.
MAX_ERROR_CHARS = 200


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def notification_key(
    notifier_id: str, dag_id: str, run_id: str, task_id: str | None, map_index: int, try_number: int
) -> str:
    """
    The idempotency key of one notification: one (DAG run, task, try) and notifier.

    It never equals a place-call operator's key (the notifier and try are part of the digest).

    :param notifier_id: The notifier's identity (two notifiers of one task ring separately).
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The task's id; ``None`` for a DAG-level notification (a deadline, a DAG failure).
    :param map_index: The map index (``-1`` when not mapped).
    :param try_number: The task's try (``0`` for a DAG-level notification).
    """
    parts = ["notify", notifier_id, dag_id, run_id, task_id, map_index, try_number]
    return f"airflow-notify-{_digest(parts)}"


def run_notification_key(notifier_id: str, dag_id: str, run_id: str) -> str:
    """
    The key every call of one notifier in one DAG run carries (the cool-down's key).

    :param notifier_id: The notifier's identity.
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    """
    return f"airflow-notify-run-{_digest(['notify-run', notifier_id, dag_id, run_id])}"


def first_line(text: Any, limit: int = MAX_ERROR_CHARS) -> str:
    """
    The first non-blank line of ``text`` (an exception's message), at most ``limit`` characters.

    :param text: Anything; an exception is read through ``str``.
    :param limit: The most characters kept (an ellipsis marks a cut).
    """
    if text is None:
        return ""
    if isinstance(text, BaseException):
        message = str(text).strip()
        text = f"{type(text).__name__}: {message}" if message else type(text).__name__
    for line in str(text).splitlines():
        if line.strip():
            line = " ".join(line.split())
            return line if len(line) <= limit else line[: max(limit - 1, 0)] + "…"
    return ""


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """
    The Airflow UI page of a DAG run.

    :param base_url: ``[api] base_url`` of the deployment.
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    """
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def task_log_url(
    base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 0
) -> str:
    """
    The Airflow UI page of a task instance's log, as Airflow's own ``ti.log_url`` builds it.

    :param base_url: ``[api] base_url`` of the deployment.
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The task's id.
    :param map_index: The map index (``-1`` when not mapped).
    :param try_number: The try whose log to open (``0``: the latest).
    """
    url = f"{run_url(base_url, dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
    if map_index >= 0:
        url += f"/mapped/{map_index}"
    if try_number > 0:
        url += f"?try_number={try_number}"
    return url


def required_actions_url(base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """
    The Airflow UI page where a human-in-the-loop request is answered (as the standard provider's
    ``HITLOperator.generate_link_to_ui`` builds it).

    :param base_url: ``[api] base_url`` of the deployment.
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The human-in-the-loop task's id.
    :param map_index: The map index (``-1`` when not mapped).
    """
    task = f"{run_url(base_url, dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
    return f"{task}/required_actions?map_index={map_index}"


def is_acknowledged(outcome: Any, acknowledge_outcomes: Collection[str]) -> bool:
    """
    Whether a call's outcome acknowledges the alert (case and surrounding blanks ignored).

    :param outcome: The call's outcome (``None`` when the analysis gave none).
    :param acknowledge_outcomes: The outcomes that acknowledge.
    """
    if not isinstance(outcome, str):
        return False
    wanted = {value.strip().casefold() for value in acknowledge_outcomes}
    return outcome.strip().casefold() in wanted


def within_cooldown(created_at: datetime | None, now: datetime, cooldown: timedelta) -> bool:
    """
    Whether a call created at ``created_at`` still silences a notification at ``now``.

    A call whose creation time is unknown silences it (ringing twice is the worse mistake).

    :param created_at: When the earlier call was created (aware), or ``None`` if unknown.
    :param now: Now (aware).
    :param cooldown: The cool-down.
    """
    if cooldown <= timedelta(0):
        return False
    return created_at is None or now - created_at < cooldown
