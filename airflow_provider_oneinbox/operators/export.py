"""The batch export of the calls of a DAG run's data interval (see ``docs/export.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.export.spec import DEFAULT_CREATED_MARGIN, check_filters
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator
from airflow_provider_oneinbox.task_errors import fail_on_oneinbox_errors

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class OneInboxExportCallsOperator(OneInboxBaseOperator):
    """
    Export every call that ended in the DAG run's data interval to a JSON Lines file.

    One line per call, the normalised record (``docs/export.md`` lists the keys), sorted by
    ``(ended_at, id)``; no ``recording_url`` (a signed, private link that changes on every read).
    Re-running an interval over unchanged calls rewrites the same bytes. The file is written whole
    then published in one step (a rename locally, one upload on an object store): a failure never
    leaves a partial file. Any fsspec filesystem works: ``file://``, ``s3://``, ``gs://``,
    ``abfs://``, ``memory://``...

    Completeness: the call list has no date filter, so it is walked newest first until a call
    created before ``interval_start - created_margin`` (the list is assumed ordered by creation,
    and no call to outlast the margin). Needing more than ``max_pages`` pages fails the task.

    Post-call data missing at export time is waited for (re-reading only those calls) while the
    call ended less than ``analysis_grace`` ago, at most ``analysis_grace`` in all; a call still
    without it is exported with ``"post_call_ready": false``, and a re-run of the interval later
    rewrites it complete.

    :param path: The file to write: a URL (``file:///tmp/exports/{{ ds }}/calls.jsonl``,
        ``s3://bucket/calls/{{ ds }}.jsonl``) or an ``ObjectStoragePath``. (templated when a string)
    :param agent_ids: Only these agents' calls; ``None``: every call. (templated)
    :param direction: ``"inbound"``, ``"outbound"``, or ``None``/``"any"``. (templated)
    :param statuses: Only calls in these statuses (``["completed"]``); ``None``: any. (templated)
    :param interval_start: The interval's start; default the run's ``data_interval_start``. (templated)
    :param interval_end: Its end (excluded); default the run's ``data_interval_end``. (templated)
    :param created_margin: How far before the interval's start the walk reads (``timedelta`` or
        seconds; default 6 h: longer than any call plus clock skew).
    :param max_pages: Pages of 100 calls read at most per list walked (default 200).
    :param max_seconds: Seconds each list walk may take (default 600).
    :param analysis_grace: Seconds to wait for missing post-call data (default 300; 0: never wait).
    :param poll_interval: Seconds between re-reads while waiting (default 10).
    :param recordings: Download each call's recording to ``recordings/<call id>.<ext>`` beside the
        file (streamed; size and sha256 in its line under ``recording``).
    :param recording_max_bytes: Largest recording accepted (default 512 MiB).
    :param recordings_timeout: Seconds all downloads may take together (default 3600).
    :param oneinbox_conn_id: The OneInbox connection to use.
    :return: ``{path, interval_start, interval_end, calls, analysed, pending, recordings, bytes, sha256}``.
    """

    template_fields: Sequence[str] = (
        "path",
        "agent_ids",
        "direction",
        "statuses",
        "interval_start",
        "interval_end",
    )

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        agent_ids: list[str] | None = None,
        direction: str | None = None,
        statuses: list[str] | None = None,
        interval_start: Any = None,
        interval_end: Any = None,
        created_margin: timedelta | float = DEFAULT_CREATED_MARGIN,
        max_pages: int = 200,
        max_seconds: float = 600.0,
        analysis_grace: timedelta | float = 300.0,
        poll_interval: float = 10.0,
        recordings: bool = False,
        recording_max_bytes: int = 512 * 1024**2,
        recordings_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_filters(agent_ids, direction, statuses)
        self.path = path
        self.agent_ids = agent_ids
        self.direction = direction
        self.statuses = statuses
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.created_margin = created_margin
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        self.analysis_grace = analysis_grace
        self.poll_interval = poll_interval
        self.recordings = recordings
        self.recording_max_bytes = recording_max_bytes
        self.recordings_timeout = recordings_timeout
        # Bounds that are never templated fail when the DAG is parsed.
        self._spec(start="2000-01-01T00:00:00Z", end="2000-01-02T00:00:00Z", filters=False)

    def _spec(self, *, start: Any, end: Any, filters: bool = True) -> Any:
        from airflow_provider_oneinbox.export.spec import build_spec

        return build_spec(
            start=start,
            end=end,
            agent_ids=self.agent_ids if filters else None,
            direction=self.direction if filters else None,
            statuses=self.statuses if filters else None,
            created_margin=self.created_margin,
            max_pages=self.max_pages,
            max_seconds=self.max_seconds,
            analysis_grace=self.analysis_grace,
            poll_interval=self.poll_interval,
            recordings=self.recordings,
            recording_max_bytes=self.recording_max_bytes,
            recordings_timeout=self.recordings_timeout,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_oneinbox.export.destination import Destination
        from airflow_provider_oneinbox.export.run import export_calls

        with fail_on_oneinbox_errors("Exporting calls"):
            start = (
                self.interval_start if self.interval_start is not None else context.get("data_interval_start")
            )
            end = self.interval_end if self.interval_end is not None else context.get("data_interval_end")
            if start is None or end is None:
                from airflow_provider_oneinbox.exceptions import OneInboxInputError

                raise OneInboxInputError(
                    "interval_start", "this run has no data interval: give interval_start and interval_end"
                )
            spec = self._spec(start=start, end=end)
            destination = Destination.of(self.path)
            self.log.info(
                "Exporting the calls that ended in [%s, %s) to %s",
                spec.start.isoformat(),
                spec.end.isoformat(),
                destination.url,
            )
            return export_calls(self.hook, spec, destination, self.log)  # type: ignore[arg-type]
