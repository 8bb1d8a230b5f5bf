"""
Reading a call whose listed record cannot say whether its post-call data is there.

The API reference does not say that the call lists carry ``messages`` and ``analysis``; its list
examples show ``"analysis": {}``. Until a listed ended call of an agent has shown both (then the
list carries them, and an ended call listed without them has not got them yet), a watch reads
each ended, kept, unsettled call listed without post-call data with ``GET /v1/calls/{id}``, at
most :data:`MAX_READS_PER_ROUND` a round, so that it fires when the data arrives rather than
after ``analysis_grace``. Against a list that carries the data, nothing is read.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.events.walk import Round, slim
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.rules.call_events import CallCursor, WatchFilter, parse_time
from airflow_provider_oneinbox.rules.results import post_call_data_ready
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

log = logging.getLogger(__name__)

#: Most calls one watch reads one by one per agent per round.
MAX_READS_PER_ROUND = 10


def lists_post_call_data(result: Round) -> bool:
    """Whether some call of the round was listed with its messages and a filled analysis."""
    return any(call.get("listed_post_call_data") for call in result.calls)


def unlisted(result: Round, cursor: CallCursor | None, watch: WatchFilter) -> list[str]:
    """
    The ids worth reading: ended, kept by the filters, not settled or fired, listed without
    post-call data; newest first, at most :data:`MAX_READS_PER_ROUND`.

    :param result: The round.
    :param cursor: The agent's cursor (``None`` before its first round).
    :param watch: The watch's filters.
    """
    if watch.ready != "analysed":
        return []
    ids = []
    for call in result.calls:
        call_id = call.get("id")
        if not OneInboxCallStatus.is_terminal(call.get("status")) or post_call_data_ready(call):
            continue
        if not watch.keeps(call) or (watch.statuses is not None and call.get("status") not in watch.statuses):
            continue
        if cursor is not None:
            created = parse_time(call.get("created_at"))
            if (
                call_id in cursor.settled
                or call_id in cursor.fired
                or (created is not None and created < cursor.floor)
            ):
                continue
        ids.append(str(call_id))
    return ids[:MAX_READS_PER_ROUND]


async def read_unlisted(
    hook: OneInboxAsyncHook, result: Round, cursor: CallCursor | None, watch: WatchFilter
) -> Round:
    """
    The round with the calls of :func:`unlisted` replaced by their own records. A failed read
    leaves the listed record (the call is read again next round); a transient failure stops the
    reads of this round.

    :param hook: An async hook (retries off).
    :param result: The round.
    :param cursor: The agent's cursor.
    :param watch: The watch's filters.
    """
    read: dict[str, dict[str, Any]] = {}
    for call_id in unlisted(result, cursor, watch):
        try:
            read[call_id] = slim(await hook.get_call(call_id))
        except OneInboxError as exc:
            log.warning("Reading call %s failed (%s); it is read again next round.", call_id, exc)
            if exc.transient:
                break
    if not read:
        return result
    calls = tuple(read.get(str(call.get("id")), call) for call in result.calls)
    return dataclasses.replace(result, calls=calls)
