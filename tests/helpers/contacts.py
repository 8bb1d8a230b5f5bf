"""Contact files for the campaign tests: written to a temporary directory, read back as streams."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

#: Numbers reserved for fiction (555-0100 to 555-0199) that libphonenumber accepts: nobody's phone.
FICTIONAL_NUMBERS = tuple(f"+1415555{n:04d}" for n in range(100, 200))


def write_contacts_csv(
    path: Path, count: int, *, with_timezone: bool = True, timezone: str | None = None
) -> Path:
    """
    Write ``count`` contacts to a CSV file: keys ``crm-<i>``, fictional numbers (repeating),
    two variables and, on every tenth row, a time zone.

    :param path: Where to write.
    :param count: How many data rows.
    :param with_timezone: Whether to add the ``timezone`` column.
    :param timezone: The time zone of every row (default: ``America/Chicago`` on every tenth).
    """
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["key", "to_number", "first_name", "plan", *(["timezone"] if with_timezone else [])])
        for i in range(count):
            default = "America/Chicago" if i % 10 == 0 else ""
            zone = [timezone or default] if with_timezone else []
            writer.writerow([f"crm-{i}", FICTIONAL_NUMBERS[i % 100], f"Name {i}", "gold", *zone])
    return path


class CountingPath:
    """
    A path-like object (what ``ObjectStoragePath`` offers: ``open``, ``name``, ``suffix``) over
    text in memory, recording the largest single read, to show a reader streams.

    :param name: The file's name (its suffix tells the format).
    :param text: The file's content.
    """

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.suffix = name[name.rfind(".") :] if "." in name else ""
        self._text = text
        self.largest_read = 0
        self.opened = 0

    def __str__(self) -> str:
        return f"memory://{self.name}"

    def open(self, mode: str = "r", **_: Any) -> _CountingStream:
        """A stream over the text (``mode`` and the other arguments of a real open are ignored)."""
        self.opened += 1
        return _CountingStream(self)


class _CountingStream:
    """What the loaders use of a text stream, telling its path the largest read."""

    def __init__(self, owner: CountingPath) -> None:
        self._owner = owner
        self._stream = io.StringIO(owner._text)

    def _seen(self, data: str) -> str:
        self._owner.largest_read = max(self._owner.largest_read, len(data))
        return data

    def readline(self, size: int = -1) -> str:
        return self._seen(self._stream.readline(size))

    def read(self, size: int = -1) -> str:
        return self._seen(self._stream.read(size))

    def __enter__(self) -> _CountingStream:
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.close()
