"""
"This try failed by itself": a marker the worker leaves so that a trigger's ``on_kill`` can tell
a task that failed on its own from one a user marked failed.

Why: a trigger's ``on_kill`` (Airflow 3.3) hangs up its calls only when it reads that the task
instance is in a state a user's kill leaves, ``failed`` among them. A task also ends ``failed``
by itself: its wait fired (a timeout, an error) and the resumed worker raised, with no retry left.
If a copy of the trigger still lives in a triggerer that stalled and wakes up now, Airflow cancels
that copy as it cancels a user's kill, ``on_kill`` reads ``failed``, and would hang up calls that
nobody asked to hang up. So the worker, when it fails a resumed try itself, pushes an XCom
(:data:`FAILED_BY_ITSELF_KEY`, the try number) before raising; ``on_kill`` reads it (triggers may
read XComs through the triggerer's comms) and leaves the calls alone when it names this try.
A clear or a retry starts a new try, whose XComs start empty.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

__all__ = ["FAILED_BY_ITSELF_KEY", "MARKER_TIMEOUT_SECONDS", "failed_by_itself", "mark_failed_by_itself"]

#: The XCom key of the marker; its value is the number of the try that failed by itself.
FAILED_BY_ITSELF_KEY = "oneinbox_failed_by_itself"
#: Bound on reading the marker from ``on_kill``.
MARKER_TIMEOUT_SECONDS = 10.0

log = logging.getLogger(__name__)


def mark_failed_by_itself(context: Any) -> None:
    """
    Leave the marker for the running try (worker side; call it just before raising). Never fails.

    :param context: The task's context.
    """
    try:
        ti = context["ti"]
        ti.xcom_push(key=FAILED_BY_ITSELF_KEY, value=int(ti.try_number))
    except Exception as exc:  # the failure being raised matters more than the marker
        log.warning("Could not leave the %s marker: %s", FAILED_BY_ITSELF_KEY, exc)


async def failed_by_itself(ti: Any) -> bool:
    """
    Whether the worker left the marker for ``ti``'s try (trigger side). ``False`` when it cannot
    be read (no task instance, no comms, no answer in time): ``on_kill`` then decides by the
    task instance's state alone, as before the marker.

    :param ti: The trigger's ``task_instance``.
    """
    if ti is None:
        return False
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import GetXCom
    except ImportError:
        return False
    asend = getattr(getattr(task_runner, "SUPERVISOR_COMMS", None), "asend", None)
    if not inspect.iscoroutinefunction(asend):
        return False
    try:
        request = GetXCom(
            key=FAILED_BY_ITSELF_KEY,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
        )
        # Shielded: the comms read their answers in order, so an abandoned request must still
        # consume its own answer.
        response = await asyncio.wait_for(asyncio.shield(asend(request)), MARKER_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("Could not read the %s marker: %r", FAILED_BY_ITSELF_KEY, exc)
        return False
    value = getattr(response, "value", None)
    try:
        return value is not None and int(value) == int(ti.try_number)
    except (TypeError, ValueError):
        return False
