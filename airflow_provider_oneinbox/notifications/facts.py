"""
What happened, read from whichever context Airflow handed a notifier.

Airflow calls notifiers with different contexts: a task's (``on_failure_callback``,
``on_retry_callback``, a human-in-the-loop operator's ``notifiers``), a DAG run's (a DAG-level
callback, run by the DAG processor), or the small dict a Deadline Alert's callback receives
(``{"dag_run": {...JSON...}, "deadline": {"id", "deadline_time"}}``). :func:`facts_of` reads
all of them into one :class:`NotificationFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.rules.notify import first_line, run_url, task_log_url

__all__ = ["NotificationFacts", "facts_of"]


@dataclass(frozen=True)
class NotificationFacts:
    """
    One notification's facts.

    :param kind: ``task_failed``, ``task_retry``, ``approval_requested``, ``deadline_missed``,
        ``dag_failed`` or ``notification``.
    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The task's id (``None`` for a DAG-level notification).
    :param map_index: The map index (``-1``: not mapped).
    :param try_number: The try (``0`` for a DAG-level notification).
    :param error: The exception's first line, unredacted (the notifier redacts it).
    :param since: The earliest time this notification's call can exist.
    :param extra: More facts for the agent (``deadline_time``, ``approval_subject``, ...).
    """

    kind: str
    dag_id: str
    run_id: str
    task_id: str | None
    map_index: int
    try_number: int
    error: str
    since: datetime
    extra: dict[str, str] = field(default_factory=dict)

    def link(self, base_url: str) -> str:
        """
        The UI page to open: the task's log (of this try), else the DAG run.

        :param base_url: ``[api] base_url``.
        """
        if self.task_id is None:
            return run_url(base_url, self.dag_id, self.run_id)
        return task_log_url(base_url, self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number)

    def summary(self) -> str:
        """One sentence for the agent to say."""
        where = f"task {self.task_id} of DAG {self.dag_id}" if self.task_id else f"DAG {self.dag_id}"
        said = {
            "task_failed": f"{where} failed on try {self.try_number}",
            "task_retry": f"{where} failed on try {self.try_number} and will be retried",
            "approval_requested": f"{where} is waiting for your approval",
            "deadline_missed": f"DAG {self.dag_id} run {self.run_id} missed its deadline",
            "dag_failed": f"DAG {self.dag_id} run {self.run_id} failed",
        }.get(self.kind, f"{where} needs attention")
        return f"{said[:1].upper()}{said[1:]}" + (f": {self.error}" if self.error else ".")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime_fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _kind(context: Any, ti: Any, task: Any) -> str:
    if isinstance(context.get("deadline"), dict):
        return "deadline_missed"
    if (
        task is not None
        and hasattr(task, "options")
        and hasattr(task, "subject")
        and hasattr(task, "notifiers")
    ):
        return "approval_requested"
    state = str(_get(ti, "state", "") or "").lower().rsplit(".", 1)[-1]
    if state == "up_for_retry":
        return "task_retry"
    if ti is None:
        return "dag_failed" if context.get("reason") or context.get("exception") else "notification"
    return "task_failed" if context.get("exception") is not None or state == "failed" else "notification"


def facts_of(context: Any) -> NotificationFacts:
    """
    The facts of a notification from its context.

    :param context: What Airflow passed the notifier (a task's or DAG run's context, or a Deadline
        Alert's dict).
    :raises ValueError: If the context names no DAG run.
    """
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task")
    dag_run = context.get("dag_run")
    dag_id = _get(ti, "dag_id") or _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id")
    run_id = _get(ti, "run_id") or _get(dag_run, "run_id") or _get(dag_run, "dag_run_id")
    if not dag_id or not run_id:
        raise ValueError("The notifier's context names no DAG run (no dag_id and run_id): nothing to report.")
    kind = _kind(context, ti, task)
    deadline = context.get("deadline") if isinstance(context.get("deadline"), dict) else {}
    extra: dict[str, str] = {}
    # The earliest this notification's call can exist: when this try started (its callback runs
    # after it), else when the run started. The search looks back from there.
    ti_start = _aware(_get(ti, "start_date")) if ti is not None else None
    run_starts = [_aware(_get(dag_run, name)) for name in ("run_after", "start_date", "queued_at")]
    starts = [ti_start] if ti_start is not None else run_starts
    if deadline:
        deadline_time = _aware(deadline.get("deadline_time"))
        if deadline_time is not None:
            extra["deadline_time"] = deadline_time.isoformat()
            starts = [deadline_time]
    if kind == "approval_requested":
        extra["approval_subject"] = first_line(_get(task, "subject"))
        extra["approval_options"] = ", ".join(str(option) for option in _get(task, "options") or ())
    known = [start for start in starts if start is not None]
    task_id = _get(ti, "task_id") if ti is not None else None
    map_index = _get(ti, "map_index")
    try_number = _get(ti, "try_number") if ti is not None else 0
    return NotificationFacts(
        kind=kind,
        dag_id=str(dag_id),
        run_id=str(run_id),
        task_id=str(task_id) if task_id else None,
        map_index=map_index if isinstance(map_index, int) else -1,
        try_number=try_number if isinstance(try_number, int) else 0,
        error=first_line(context.get("exception") or context.get("reason")),
        since=min(known, default=datetime.now(UTC)),
        extra=extra,
    )
