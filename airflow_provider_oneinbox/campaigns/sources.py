"""
Where a campaign's contacts come from: a list of dicts, or a CSV or JSON Lines file read as a stream.

Each source is turned into the same thing, a stream of :class:`SourceRecord` (where the record was
found, the record shaped like a contact dict, or the problem that kept it from being read), which
:func:`~airflow_provider_oneinbox.campaigns.contacts.load_contacts` checks. A file is read one
line at a time, each line at most :data:`MAX_LINE_CHARS` characters, so 100 000 contacts cost the
contacts themselves and never the file at once. What makes the whole file unreadable (not UTF-8,
no ``to_number`` column, a line too long, an unknown format) raises at once: no contact of a file
read wrongly should be called.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from airflow_provider_oneinbox.exceptions import OneInboxInputError

__all__ = ["CONTACT_FIELDS", "FORMATS", "MAX_LINE_CHARS", "SourceRecord", "iter_records", "source_name"]

#: Longest line of a contacts file, in characters (a contact's variables and metadata are at most
#: 32 KiB of JSON each). A longer line stops the load: the file is likely not what it claims to be.
MAX_LINE_CHARS = 128 * 1024
#: The fields a contact may have; a CSV file's other columns become its variables.
CONTACT_FIELDS = ("to_number", "key", "variables", "metadata", "timezone")
#: File formats by name, and the suffixes that select them when ``format`` is not given.
FORMATS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}
_CSV_COLUMNS = ("to_number", "key", "timezone", "metadata")


class SourceRecord(NamedTuple):
    """
    One contact as read from its source, not yet checked.

    :param where: Where it was found, for messages: ``"contacts[6]"`` for a list, ``"line 8"`` for
        a file (the line its record ends on; the CSV header is line 1).
    :param record: The contact as a dict with :data:`CONTACT_FIELDS` keys; ``None`` when unreadable.
    :param problem: ``(field, reason)`` when the record could not be read (bad JSON, a CSV row
        with too many values, ...); ``None`` otherwise.
    """

    where: str
    record: Mapping[str, Any] | None
    problem: tuple[str, str] | None = None


def _fail(problem: str) -> OneInboxInputError:
    return OneInboxInputError("contacts", problem)


def source_name(source: Any) -> str:
    """
    How a source is named in messages: the path or URL of a file, ``"a list"`` otherwise.

    :param source: What :func:`iter_records` was given.
    """
    if isinstance(source, str | os.PathLike) or _is_storage_path(source):
        return str(source)
    return "a list"


def _is_storage_path(source: Any) -> bool:
    """Whether ``source`` opens like a path (``pathlib.Path``, ``airflow.sdk.ObjectStoragePath``)."""
    return callable(getattr(source, "open", None)) and isinstance(getattr(source, "name", None), str)


def _as_path(source: Any) -> Any:
    """A path-like object with ``.open()``, ``.name`` and ``.suffix`` for ``source``, or ``None``."""
    if isinstance(source, str):
        if "://" in source:  # a URL: object storage (s3://, gs://, file://, ...)
            from airflow.sdk import ObjectStoragePath

            return ObjectStoragePath(source)
        return Path(source)
    if _is_storage_path(source):
        return source
    if isinstance(source, os.PathLike):
        return Path(os.fspath(source))
    return None


def _format_of(path: Any, format: str | None) -> str:
    if format is not None:
        return FORMATS[format]
    suffix = str(getattr(path, "suffix", "")).lower().lstrip(".")
    if suffix not in FORMATS:
        hint = "; a JSON array cannot be streamed: write one object per line" if suffix == "json" else ""
        raise _fail(
            f"cannot tell the format of {str(path)!r} from its name: name it .csv, .jsonl or .ndjson, "
            f"or pass format='csv' or format='jsonl'{hint}"
        )
    return FORMATS[suffix]


def iter_records(source: Any, *, format: str | None = None) -> Generator[SourceRecord, None, None]:
    """
    The records of ``source``, in order; a file is opened here and closed when the stream ends.

    :param source: A list (or any iterable) of dicts; a path (``str``, ``os.PathLike``); a URL
        string (``"s3://bucket/contacts.csv"``, opened as an ``ObjectStoragePath``); or an
        ``airflow.sdk.ObjectStoragePath``. Files are UTF-8 (a byte order mark is allowed).
    :param format: ``"csv"`` or ``"jsonl"`` (``"ndjson"``); by default from the file's suffix.
    :raises OneInboxInputError: Field ``contacts`` (or ``format``) when the source cannot be read.
    """
    if format is not None and format not in FORMATS:
        raise OneInboxInputError("format", f"expected one of {sorted(FORMATS)}, got {format!r}")
    path = _as_path(source)
    if path is None:
        if isinstance(source, Mapping | bytes) or not isinstance(source, Iterable):
            raise _fail(
                f"expected a list of contact dicts, a file path or an ObjectStoragePath, got "
                f"{type(source).__name__}; e.g. [{{'to_number': '+14155550123'}}]"
            )
        yield from _list_records(source)
        return
    kind = _format_of(path, format)
    try:
        stream = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise _fail(f"cannot open {str(path)!r}: {exc.strerror or exc}") from None
    with stream:
        lines = _bounded_lines(stream, str(path))
        yield from (_csv_records(lines, str(path)) if kind == "csv" else _jsonl_records(lines))


def _list_records(items: Iterable[Any]) -> Iterator[SourceRecord]:
    for index, item in enumerate(items):
        where = f"contacts[{index}]"
        if isinstance(item, Mapping):
            yield SourceRecord(where, item)
        else:
            problem = f"expected a dict such as {{'to_number': '+14155550123'}}, got {type(item).__name__}"
            yield SourceRecord(where, None, ("contact", problem))


def _bounded_lines(stream: Any, name: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of ``stream``, refusing a line over :data:`MAX_LINE_CHARS`."""
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise _fail(
                f"{name!r} is not UTF-8 text (after line {number}: {exc.reason}); save it as UTF-8"
            ) from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise _fail(
                f"line {number} of {name!r} is longer than {MAX_LINE_CHARS} characters; "
                "is it a CSV or JSON Lines file with one contact per line?"
            )
        yield number, line


def _jsonl_records(lines: Iterator[tuple[int, str]]) -> Iterator[SourceRecord]:
    for number, line in lines:
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            yield SourceRecord(where, None, ("contact", f"not valid JSON ({exc}); write one object per line"))
            continue
        if isinstance(record, dict):
            yield SourceRecord(where, record)
        else:
            problem = (
                f'expected a JSON object such as {{"to_number": "+14155550123"}}, got {line.strip()[:40]!r}'
            )
            yield SourceRecord(where, None, ("contact", problem))


def _csv_header(row: list[str], name: str) -> list[str]:
    columns = [column.strip() for column in row]
    lowered = [column.lower() for column in columns]
    if "" in columns:
        raise _fail(f"column {columns.index('') + 1} of {name!r} has no name in the header row")
    if len(set(lowered)) != len(lowered):
        twice = sorted({c for c in lowered if lowered.count(c) > 1})
        raise _fail(f"the header row of {name!r} names {twice} more than once")
    if "to_number" not in lowered:
        raise _fail(
            f"the header row of {name!r} has no 'to_number' column (it has {columns[:10]}); "
            "the first row must name the columns, one of them to_number"
        )
    return [c.lower() if c.lower() in _CSV_COLUMNS else c for c in columns]


def _csv_records(lines: Iterator[tuple[int, str]], name: str) -> Iterator[SourceRecord]:
    # Lines are bounded one by one, but a quoted field may span lines: bound a record's whole text too.
    record_chars = 0

    def bounded_records() -> Iterator[str]:
        nonlocal record_chars
        for _, line in lines:
            record_chars += len(line)
            if record_chars > MAX_LINE_CHARS:
                raise _fail(
                    f"a record of {name!r} ending at line {reader.line_num + 1} spans more than "
                    f"{MAX_LINE_CHARS} characters (an unclosed quote?); one contact per line"
                )
            yield line

    reader = csv.reader(bounded_records(), strict=True)
    header: list[str] | None = None
    try:
        for row in reader:
            record_chars = 0
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _csv_header(row, name)
                continue
            yield _csv_record(header, row, f"line {reader.line_num}")
    except csv.Error as exc:
        raise _fail(f"line {reader.line_num} of {name!r} is not valid CSV: {exc}") from None
    if header is None:
        raise _fail(f"{name!r} is empty: expected a header row naming the columns, one of them to_number")


def _csv_record(header: list[str], row: list[str], where: str) -> SourceRecord:
    if len(row) > len(header):
        problem = (
            f"has {len(row)} values but the header names {len(header)} columns; quote values holding commas"
        )
        return SourceRecord(where, None, ("contact", problem))
    record: dict[str, Any] = {}
    variables: dict[str, str] = {}
    padded = row + [""] * (len(header) - len(row))  # a short row leaves its last columns empty
    for column, cell in zip(header, padded, strict=True):
        if column not in _CSV_COLUMNS:
            variables[column] = cell
        elif cell.strip():
            record[column] = cell.strip()
    if variables:
        record["variables"] = variables
    if "metadata" in record:
        try:
            record["metadata"] = json.loads(record["metadata"])
        except ValueError:
            problem = 'must hold a JSON object such as {"crm_id": 42} (write its quotes doubled in CSV)'
            return SourceRecord(where, None, ("metadata", problem))
    return SourceRecord(where, record)
