"""
A campaign's transcripts, fetched for the results file: one ``GET /v1/calls/{id}`` per settled call.

The list of calls may not carry a call's ``messages`` (the API fills them in after the end, and a
list may leave them out), so each settled call is read once, when the results are written, one at
a time and streamed: memory holds one call, whatever the campaign's size. They go to the results'
transcripts file (:func:`~.results.write_results`), never to XCom or the task log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.exceptions import OneInboxError, OneInboxNotFoundError

if TYPE_CHECKING:
    from airflow_provider_oneinbox.campaigns.results import ContactResult

__all__ = ["TRANSCRIPT_STATUSES", "fetch_transcripts"]

#: Rows whose calls are settled (ended): only their calls are read. ``unknown`` and unplaced are not.
TRANSCRIPT_STATUSES = ("completed", "failed")


def _transcript(call: dict[str, Any]) -> Any:
    messages = call.get("messages")
    if isinstance(messages, list) and messages:
        return messages
    text = call.get("transcript")
    return text if isinstance(text, (str, list)) and text else None


def fetch_transcripts(hook: Any, rows: Iterable[ContactResult], log: Any) -> Iterator[tuple[str, Any]]:
    """
    ``(call_id, transcript)`` of every settled call of ``rows`` that has one, in row order.

    A call that cannot be read is logged (its id and the error, nothing else) and left out: a
    transcript is never worth failing the campaign for once its calls are done.

    :param hook: A :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook` (reads, with the
        connection's retries).
    :param rows: The results, in input order (:meth:`~.runner.CampaignRunner.results`).
    :param log: Where to log a failed read.
    """
    for row in rows:
        if row.status not in TRANSCRIPT_STATUSES:
            continue
        for call_id in row.call_ids:
            try:
                call = hook.get_call(call_id)
            except OneInboxNotFoundError:
                continue
            except OneInboxError as exc:
                log.warning("Could not read call %s's transcript: %s", call_id, exc)
                continue
            transcript = _transcript(call)
            if transcript is not None:
                yield call_id, transcript
