"""
Downloading a call's recording from its signed ``recording_url``: streamed, bounded, never with the key.

A recording link is a signed URL on a storage host, valid about four hours. It is fetched with a
session of its own: no ``Authorization`` header (the OneInbox API key never goes to the storage
host), no proxy or ``.netrc`` from the environment, redirects followed by ``requests`` (which
would drop an ``Authorization`` header on a host change anyway; there is none to drop). The body
is read in chunks and written as it arrives, its sha256 computed on the way: memory stays constant
whatever the recording's size. A download is bounded in bytes and in time (a server that drips
or never ends is cut off).

A signed URL is a secret until it expires: errors and logs name the host, never the URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxError

#: Bytes read from the socket at a time.
CHUNK_BYTES = 1024 * 1024
#: Statuses a storage host answers for an expired (or otherwise refused) signed link.
EXPIRED_STATUSES = frozenset({403, 404, 410})


class Sink(Protocol):
    """Where downloaded bytes go: anything with ``write(bytes)`` (a binary file)."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``."""
        ...


class RecordingDownloadError(OneInboxError):
    """
    A recording could not be downloaded (status, size or time bound); the message names the host.

    Transient: the export that raised it left nothing partial and may simply run again.
    """

    transient = True


class RecordingLinkExpiredError(RecordingDownloadError):
    """The storage host refused the signed link (403, 404 or 410): read the call for a fresh one."""


@dataclass(frozen=True)
class RecordingDownload:
    """
    What was written.

    :param bytes: Bytes written.
    :param sha256: Hex sha256 of those bytes.
    :param content_type: The ``Content-Type`` the host sent, if any.
    """

    bytes: int
    sha256: str
    content_type: str | None


class _HideSignedQueries(logging.Filter):
    """
    Drop the query (the signature) from urllib3's request log lines, while a recording downloads.

    urllib3 logs each request's target at DEBUG (``"GET /rec.mp3?expires=..&signature=.." 200``);
    for a signed link that is the secret. Only the downloading thread's lines are changed.
    """

    active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self.active, "on", False) and isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] + "?<signed>" if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


_HIDE = _HideSignedQueries()
logging.getLogger("urllib3.connectionpool").addFilter(_HIDE)


@contextlib.contextmanager
def _signed_queries_hidden() -> Iterator[None]:
    _HIDE.active.on = True
    try:
        yield
    finally:
        _HIDE.active.on = False


def link_host(url: str) -> str:
    """
    The host of a link, the only part of a signed URL that may be logged.

    :param url: A recording URL.
    """
    return urlsplit(url).hostname or "?"


def link_expired(url: str, now: datetime | None = None) -> bool:
    """
    Whether the link's ``expires`` query value (Unix seconds), if it has one, is already past.

    :param url: A recording URL.
    :param now: Now (default: the current time, UTC).
    """
    values = parse_qs(urlsplit(url).query).get("expires") or []
    if len(values) != 1 or not values[0].isdigit():
        return False
    return int(values[0]) <= (now or datetime.now(UTC)).timestamp()


def download_recording(
    url: str,
    out: Sink,
    *,
    max_bytes: int,
    deadline: float,
    timeout: float = 30.0,
    verify: bool | str = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> RecordingDownload:
    """
    Stream the recording at ``url`` into ``out``, hashing it on the way.

    :param url: The signed ``recording_url``.
    :param out: A binary file open for writing; what was written is left to the caller on failure.
    :param max_bytes: Fail past this many bytes (announced by ``Content-Length`` or read).
    :param deadline: ``time.monotonic()`` by which the whole download must be done.
    :param timeout: Seconds each connect or read may wait at most (less when the deadline is closer).
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param chunk_bytes: Bytes read at a time.
    :raises RecordingLinkExpiredError: 403, 404 or 410 from the host.
    :raises RecordingDownloadError: Any other failure: status, size, time, connection.
    """
    import requests

    host = link_host(url)

    def wait() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RecordingDownloadError(f"Downloading a recording from {host} took longer than allowed")
        return min(timeout, left)

    digest, written = hashlib.sha256(), 0
    with _signed_queries_hidden(), requests.Session() as session:
        session.trust_env = False  # no proxy, no .netrc credentials from the environment
        try:
            response = session.get(url, stream=True, timeout=wait(), verify=verify, headers={})
        except requests.RequestException as exc:
            raise RecordingDownloadError(
                f"Could not reach the recording host {host}: {type(exc).__name__}"
            ) from None
        with response:
            if response.status_code in EXPIRED_STATUSES:
                raise RecordingLinkExpiredError(
                    f"The recording host {host} refused the signed link ({response.status_code})",
                    status_code=response.status_code,
                )
            if response.status_code != 200:
                raise RecordingDownloadError(
                    f"The recording host {host} answered {response.status_code}",
                    status_code=response.status_code,
                )
            announced = response.headers.get("content-length")
            if announced and announced.isdigit() and int(announced) > max_bytes:
                raise RecordingDownloadError(
                    f"The recording from {host} is {announced} bytes, more than max_bytes={max_bytes}"
                )
            try:
                # read1: at most one socket read per chunk, so a server that drips bytes cannot keep
                # one read going past the deadline (each socket read waits ``timeout`` at most).
                while chunk := response.raw.read1(chunk_bytes, decode_content=True):
                    written += len(chunk)
                    if written > max_bytes:
                        raise RecordingDownloadError(
                            f"The recording from {host} is more than max_bytes={max_bytes} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    wait()
            except RecordingDownloadError:
                raise
            except Exception as exc:  # requests', urllib3's (ProtocolError, ReadTimeoutError) and OSError
                raise RecordingDownloadError(
                    f"The download from {host} broke off after {written} bytes: {type(exc).__name__}"
                ) from None
            if announced and announced.isdigit() and written != int(announced):
                raise RecordingDownloadError(
                    f"The recording from {host} ended after {written} of {announced} bytes"
                )
    return RecordingDownload(written, digest.hexdigest(), response.headers.get("content-type"))
