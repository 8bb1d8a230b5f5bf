"""
The recording archive: each exported call's recording, streamed beside the JSON Lines file.

A call's ``recording_url`` is signed and valid about four hours. An expired link (its ``expires``
already past, or 403/404/410 from the storage host) is refreshed by reading the call again
(``GET /v1/calls/{id}``) once, then retried; a second refusal fails the export. Each recording is
published like the file itself (staged whole, then one rename or upload), to
``recordings/<call id>.<ext>`` next to it; its size and sha256, computed while streaming, go into
the call's line. All downloads together are bounded by ``recordings_timeout``, each by
``recording_max_bytes``. The API key is never sent to the storage host, and the link is never
logged (only its host).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_oneinbox.hooks.recordings import (
    RecordingLinkExpiredError,
    download_recording,
    link_expired,
    link_host,
)

if TYPE_CHECKING:
    from logging import Logger

    from airflow_provider_oneinbox.export.destination import Destination
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_EXTENSION = re.compile(r"\.([a-z0-9]{1,5})$")


def recording_name(call_id: str, url: str) -> str:
    """
    ``recordings/<call id>.<ext>``: the extension of the link's path (``mp3``, ``wav``...), else ``bin``.

    :param call_id: The call's id (an id that is not a plain name is refused).
    :param url: Its recording link.
    """
    if not _SAFE_NAME.fullmatch(call_id):
        raise ValueError(f"call id {call_id!r} is not usable as a file name")
    match = _EXTENSION.search(urlsplit(url).path.lower())
    return f"recordings/{call_id}.{match.group(1) if match else 'bin'}"


class RecordingArchiver:
    """
    Downloads recordings for one export, within one time budget.

    :param hook: The sync hook (to refresh an expired link by reading the call).
    :param export_file: The JSON Lines destination; recordings go beside it.
    :param max_bytes: Largest recording accepted.
    :param timeout: Seconds all downloads may take together.
    :param verify: TLS verification for the storage host (the connection's ``verify``).
    :param log: Where progress goes.
    """

    def __init__(
        self,
        hook: OneInboxHook,
        export_file: Destination,
        *,
        max_bytes: int,
        timeout: float,
        verify: bool | str,
        log: Logger,
    ) -> None:
        self.hook = hook
        self.export_file = export_file
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout
        self.verify = verify
        self.log = log
        self.archived = 0

    def archive(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """
        Archive the call's recording; ``{path, bytes, sha256}`` for its line, or ``None`` without one.

        :param call: The call record (its ``recording_url`` may be refreshed).
        :raises RecordingDownloadError: The download failed, or the refreshed link was refused too.
        """
        call_id, url = str(call["id"]), call.get("recording_url")
        if not url:
            return None
        refreshed = False
        if link_expired(url):
            url, refreshed = self._refresh(call_id, "its link had expired"), True
        while True:
            if not url:
                return None
            target = self.export_file.sibling(recording_name(call_id, url))
            try:
                with target.staged() as out:
                    download_recording(
                        url, out, max_bytes=self.max_bytes, deadline=self.deadline, verify=self.verify
                    )
            except RecordingLinkExpiredError as exc:
                if refreshed:
                    raise
                url, refreshed = (
                    self._refresh(call_id, f"{link_host(url)} refused it ({exc.status_code})"),
                    True,
                )
                continue
            self.archived += 1
            return {
                "path": self.export_file.relative_to_parent(target),
                "bytes": out.count,
                "sha256": out.digest.hexdigest(),
            }

    def _refresh(self, call_id: str, why: str) -> str | None:
        self.log.info("Reading call %s again for a fresh recording link: %s", call_id, why)
        url = self.hook.get_call(call_id).get("recording_url")
        return url if isinstance(url, str) and url else None
