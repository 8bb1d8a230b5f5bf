"""The whole export: collect the interval's calls, archive recordings, write the file, report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.export.collect import wait_for_post_call_data, walk_interval
from airflow_provider_oneinbox.export.lines import check_record, encode_line, export_line, sort_key

if TYPE_CHECKING:
    from logging import Logger

    from airflow_provider_oneinbox.export.destination import Destination
    from airflow_provider_oneinbox.export.spec import ExportSpec
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook


def export_calls(
    hook: OneInboxHook, spec: ExportSpec, destination: Destination, log: Logger
) -> dict[str, Any]:
    """
    Export the interval's calls to ``destination`` as JSON Lines; return what was written.

    Recordings (with ``spec.recordings``) are published first, the file last: a file never
    names a recording that is not there. On any failure nothing partial is left (see
    :mod:`.destination`); recordings already published are complete files a re-run rewrites.

    :param hook: A sync hook.
    :param spec: The validated export.
    :param destination: Where the file goes.
    :param log: Where progress goes (counts, ids and hosts; never a link or a key).
    :return: ``{path, interval_start, interval_end, calls, analysed, pending, recordings, bytes, sha256}``.
    """
    found = walk_interval(hook, spec, log)
    if spec.analysis_grace > 0:
        wait_for_post_call_data(hook, spec, found, log)
    calls = sorted(found.calls.values(), key=sort_key)
    for call in calls:
        check_record(call)
    recordings: dict[str, dict[str, Any] | None] = {}
    archived = 0
    if spec.recordings:
        from airflow_provider_oneinbox.export.archive import RecordingArchiver

        archiver = RecordingArchiver(
            hook,
            destination,
            max_bytes=spec.recording_max_bytes,
            timeout=spec.recordings_timeout,
            verify=hook.settings.verify,
            log=log,
        )
        for call in calls:
            recordings[str(call["id"])] = archiver.archive(call)
        archived = archiver.archived
        log.info("Archived %d recording(s)", archived)
    with destination.staged() as out:
        for call in calls:
            call_id = str(call["id"])
            line = export_line(
                call, post_call_ready=call_id in found.ready, recording=recordings.get(call_id)
            )
            out.write(encode_line(line))
    result = {
        "path": destination.url,
        "interval_start": spec.start.isoformat(),
        "interval_end": spec.end.isoformat(),
        "calls": len(calls),
        "analysed": len(found.ready),
        "pending": len(calls) - len(found.ready),
        "recordings": archived,
        "bytes": out.count,
        "sha256": out.digest.hexdigest(),
    }
    log.info(
        "Exported %d call(s) (%d pending) to %s: %d bytes, sha256 %s",
        result["calls"],
        result["pending"],
        destination.url,
        result["bytes"],
        result["sha256"],
    )
    return result
