"""
Where the export goes: any fsspec filesystem, reached through Airflow's ``ObjectStoragePath`` when
it knows the scheme (``file://``, and ``s3://``, ``gs://``, ``abfs://`` ... with their providers
and connections), else through fsspec itself (``memory://``, or ``s3://`` with ``s3fs`` alone).

Nothing is ever written in place: a file is staged whole, then published in one step.

- On the local filesystem the staging file is a hidden sibling (``.<name>.<random>.part``) in the
  target's directory, and publishing is ``os.replace``: atomic, readers see the old file or the
  new one, never a mix.
- Elsewhere the staging file is a local temporary file, and publishing is one upload of the whole
  file to its final key (``put_file``). On an object store (S3, GCS, Azure Blob) an object becomes
  visible only once its upload completes, so readers see the old object or the new one; an
  upload that fails leaves the old object. (On a filesystem that is not an object store, e.g.
  SFTP, ``put_file`` writes in place: not atomic.)

On any failure the staging file is removed: no partial file is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from airflow_provider_oneinbox.exceptions import OneInboxInputError


@dataclass(frozen=True)
class Published:
    """
    A file as published.

    :param bytes: Its size.
    :param sha256: Hex sha256 of its content.
    """

    bytes: int
    sha256: str


class _HashingWriter:
    """A binary file wrapper counting and hashing what goes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.digest = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.count += len(data)
        return self._out.write(data)


def check_path(value: Any) -> str:
    """
    The export path as a URL string: ``scheme://.../name`` (or an absolute local path), naming a file.

    :param value: A string or an ``ObjectStoragePath`` (after templating).
    :raises OneInboxInputError: ``path`` is empty, relative, a directory, or of an unknown scheme.
    """
    text = str(value).strip() if value is not None else ""
    example = "file:///tmp/exports/{{ ds }}/calls.jsonl or s3://bucket/oneinbox/{{ ds }}/calls.jsonl"
    if not text:
        raise OneInboxInputError("path", f"give the file to write, e.g. {example}")
    if "{{" in text or "{%" in text:
        raise OneInboxInputError("path", f"{text!r} still holds a template: only strings are templated")
    parts = urlsplit(text)
    if not parts.scheme and not text.startswith("/"):
        raise OneInboxInputError("path", f"{text!r} is relative: give a URL with a scheme, e.g. {example}")
    if text.endswith("/") or posixpath.basename(parts.path) in ("", ".", ".."):
        raise OneInboxInputError("path", f"{text!r} names a directory: end it with a file name (calls.jsonl)")
    if parts.query or parts.fragment:
        raise OneInboxInputError("path", f"{text!r} has a query or fragment: give a plain path")
    return text


def shown(url: str) -> str:
    """
    ``url`` as logs and XCom show it: a password in it (``s3://key:secret@bucket``) is hidden.

    :param url: A destination URL.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


class Destination:
    """
    A file on some filesystem, written only through :meth:`staged`.

    :param fs: The fsspec filesystem.
    :param path: The path on it (no scheme), as fsspec names it.
    :param url: How to show it (the URL the user gave, a password in it hidden).
    """

    def __init__(self, fs: Any, path: str, url: str) -> None:
        self.fs = fs
        self.path = path
        self.url = shown(url)

    def __repr__(self) -> str:
        return f"Destination({self.url!r})"

    @classmethod
    def of(cls, value: Any) -> Destination:
        """
        Resolve an export path: an ``ObjectStoragePath`` as it is, a string through ``ObjectStoragePath``
        when Airflow has a filesystem for its scheme, else through fsspec.

        :param value: The ``path`` argument, rendered.
        :raises OneInboxInputError: A bad path, or a scheme no filesystem is installed for.
        """
        from airflow.sdk import ObjectStoragePath

        if isinstance(value, ObjectStoragePath):
            check_path(str(value))
            return cls(value.fs, value.path, str(value))
        url = check_path(value)
        if url.startswith("/"):
            url = f"file://{url}"
        try:
            storage = ObjectStoragePath(url)
            return cls(storage.fs, storage.path, url)
        except ValueError:
            pass  # Airflow has no filesystem registered for the scheme: ask fsspec
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise OneInboxInputError(
                "path",
                f"no filesystem for {urlsplit(url).scheme}:// ({type(exc).__name__}): install its fsspec "
                "package or Airflow provider (s3fs / apache-airflow-providers-amazon for s3://)",
            ) from None
        return cls(fs, path, url)

    @property
    def local(self) -> bool:
        """Whether the filesystem is the local one (publishing is ``os.replace``)."""
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    def sibling(self, relative: str) -> Destination:
        """
        A file beside this one: ``relative`` to its directory (``recordings/<id>.mp3``).

        :param relative: A relative POSIX path.
        """
        parent, url_parent = posixpath.dirname(self.path), self.url.rsplit("/", 1)[0]
        return Destination(self.fs, posixpath.join(parent, relative), f"{url_parent}/{relative}")

    def relative_to_parent(self, other: Destination) -> str:
        """
        Where ``other`` lies, relative to this file's directory.

        :param other: A destination made by :meth:`sibling`.
        """
        return posixpath.relpath(other.path, posixpath.dirname(self.path))

    @contextlib.contextmanager
    def staged(self) -> Iterator[_HashingWriter]:
        """
        Write the whole file, then publish it in one step; on any failure, leave nothing.

        Yields a writer (``write(bytes)``); its ``count`` and ``digest`` say what was written.
        """
        parent = posixpath.dirname(self.path)
        name = posixpath.basename(self.path)
        if self.local:
            os.makedirs(parent, exist_ok=True)
            staging = os.path.join(parent, f".{name}.{uuid.uuid4().hex[:12]}.part")
        else:
            handle, staging = tempfile.mkstemp(prefix="oneinbox-export-", suffix=".part")
            os.close(handle)
        try:
            with open(staging, "wb") as out:
                writer = _HashingWriter(out)
                yield writer
                out.flush()
                os.fsync(out.fileno())
            if self.local:
                os.replace(staging, self.path)
            else:
                with contextlib.suppress(Exception):  # object stores have no directories
                    self.fs.makedirs(parent, exist_ok=True)
                self.fs.put_file(staging, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staging)
