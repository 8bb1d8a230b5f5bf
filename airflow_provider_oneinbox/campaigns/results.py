"""
A campaign's results: one row per contact, written as JSON Lines, and what XCom gets instead.

Rows (:class:`ContactResult`) are written in input order to a path or an
``airflow.sdk.ObjectStoragePath`` by :func:`write_results`, one JSON object per line, streamed;
transcripts, when given, go to a file beside them and never into XCom. XCom gets
:func:`summarize`'s counts and the files' names: a few hundred bytes whatever the campaign's size.
:func:`progress_line` is the task log's line, e.g.
``"312/1000 placed, 280 ended, 41 Appointment Booked, 12 waiting for calling hours"``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox.campaigns.sources import MAX_LINE_CHARS
from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.rules.results import render_transcript

__all__ = [
    "COMPLETED",
    "FAILED",
    "MAX_OUTCOMES_COUNTED",
    "NOT_CALLED",
    "UNKNOWN",
    "ContactResult",
    "progress_line",
    "read_results",
    "summarize",
    "transcripts_destination",
    "write_results",
]

#: Final statuses of a contact: its last call's terminal status, or why there is none.
COMPLETED, FAILED, NOT_CALLED = "completed", "failed", "not_called"
#: A call was placed but its end is not known (the campaign stopped before it was seen to end).
UNKNOWN = "unknown"
#: Distinct outcomes counted by name in the summary; rarer ones are counted as ``"(other)"``.
MAX_OUTCOMES_COUNTED = 50


@dataclass(frozen=True, slots=True)
class ContactResult:
    """
    How one contact's part of the campaign ended.

    :param index: The contact's position in the input (rows are written in this order).
    :param key: The contact's key (``None`` for a record so broken that none could be read).
    :param to_number: The number called (E.164), or as written for an invalid record.
    :param status: :data:`COMPLETED` or :data:`FAILED` (the last call's terminal status),
        :data:`NOT_CALLED`, or :data:`UNKNOWN`.
    :param outcome: The last call's outcome (``analysis.outcome``), ``None`` when it has none.
    :param summary: The last call's summary, ``None`` when it has none.
    :param attempts: Calls placed to the contact (0 when not called).
    :param call_ids: Their ids, in order.
    :param reason: Why it was not called or why it ended as it did, e.g. ``"invalid: ..."``,
        ``"outside calling hours until the deadline"``, ``"daily quota"``, ``"stopped"``.
    """

    index: int
    key: str | None
    to_number: str | None
    status: str
    outcome: str | None = None
    summary: str | None = None
    attempts: int = 0
    call_ids: tuple[str, ...] = field(default_factory=tuple)
    reason: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The row written for this contact: a JSON-ready dict, ``call_ids`` as a list."""
        row = asdict(self)
        row["call_ids"] = list(self.call_ids)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ContactResult:
        """
        A result read back from its row (:meth:`to_row`'s inverse).

        :param row: A row as written; unknown fields are ignored.
        """
        names = cls.__dataclass_fields__  # type: ignore[attr-defined]
        values = {name: row[name] for name in names if name in row}
        values["call_ids"] = tuple(values.get("call_ids") or ())
        return cls(**values)


class _Tally:
    """Counts of results, fed one row at a time."""

    def __init__(self) -> None:
        self.contacts = self.calls = 0
        self.statuses: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()

    def add(self, row: ContactResult) -> ContactResult:
        self.contacts += 1
        self.calls += row.attempts
        self.statuses[row.status] += 1
        if row.outcome is not None:
            self.outcomes[row.outcome] += 1
        return row

    def counts(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "calls": self.calls,
            "by_status": dict(self.statuses),
            "by_outcome": _top(self.outcomes),
        }


def summarize(rows: Iterable[ContactResult]) -> dict[str, Any]:
    """
    Counts of a campaign's results, for XCom: small whatever the number of contacts.

    :param rows: The results.
    :return: ``{"contacts", "calls", "by_status", "by_outcome"}``: ``by_outcome`` counts the rows
        with an outcome, the :data:`MAX_OUTCOMES_COUNTED` most frequent by name, the rest as
        ``"(other)"``.
    """
    tally = _Tally()
    for row in rows:
        tally.add(row)
    return tally.counts()


def _top(counts: Counter[str]) -> dict[str, int]:
    top = dict(counts.most_common(MAX_OUTCOMES_COUNTED))
    rest = sum(counts.values()) - sum(top.values())
    return {**top, "(other)": rest} if rest else top


def _as_path(destination: Any) -> Any:
    if isinstance(destination, str):
        if "://" in destination:
            from airflow.sdk import ObjectStoragePath

            return ObjectStoragePath(destination)
        return Path(destination)
    if callable(getattr(destination, "open", None)) and hasattr(destination, "name"):
        return destination
    if isinstance(destination, os.PathLike):
        return Path(os.fspath(destination))
    raise OneInboxInputError(
        "results_path",
        "expected a path, a URL or an ObjectStoragePath such as 's3://bucket/results.jsonl', "
        f"got {destination!r}",
    )


def transcripts_destination(destination: Any) -> Any:
    """
    Where :func:`write_results` puts the transcripts: beside the results, ``<stem>.transcripts.jsonl``.

    :param destination: The results' path, URL or ``ObjectStoragePath``.
    """
    path = _as_path(destination)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.parent / f"{stem}.transcripts.jsonl"


def _write_lines(path: Any, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path``; a local file appears whole or not at all (a temp file, renamed)."""
    if isinstance(path, Path) and not hasattr(path, "protocol"):  # on 3.1 ObjectStoragePath is a Path too
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("w", encoding="utf-8") as stream:
            stream.writelines(lines)
        os.replace(partial, path)
        return
    if getattr(path, "protocol", None) in ("file", "local"):  # other stores have no directories to make
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as stream:
        for line in lines:
            stream.write(line)


def _json_line(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def write_results(
    rows: Iterable[ContactResult],
    destination: Any,
    *,
    transcripts: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """
    Write the rows as JSON Lines, and the transcripts beside them; return what XCom gets.

    Each call overwrites what a previous try wrote. Rows are written in the order given (the
    input order of the contacts).

    :param rows: One result per contact, in input order.
    :param destination: A path, a URL (``"s3://bucket/campaign.jsonl"``) or an
        ``airflow.sdk.ObjectStoragePath``.
    :param transcripts: Transcripts by call id (a mapping, or ``(call_id, transcript)`` pairs,
        streamed): a text, or the call's ``messages`` (rendered as ``"Agent: ..."`` lines).
        Written to :func:`transcripts_destination`, one ``{"call_id", "transcript"}`` per line.
    :return: :func:`summarize`'s counts plus ``"results"`` (the destination as a string) and
        ``"transcripts"`` (theirs, or ``None``).
    """
    path = _as_path(destination)
    tally = _Tally()
    _write_lines(path, (_json_line(tally.add(row).to_row()) for row in rows))
    written = None
    if transcripts is not None:
        target = transcripts_destination(path)
        pairs = transcripts.items() if isinstance(transcripts, Mapping) else transcripts
        _write_lines(
            target,
            (_json_line({"call_id": str(call_id), "transcript": _text(text)}) for call_id, text in pairs),
        )
        written = str(target)
    return {**tally.counts(), "results": str(path), "transcripts": written}


def _text(transcript: Any) -> str:
    return transcript if isinstance(transcript, str) else render_transcript(transcript)


def read_results(source: Any) -> Iterator[ContactResult]:
    """
    The rows :func:`write_results` wrote, in order, read as a stream.

    :param source: The results' path, URL or ``ObjectStoragePath``.
    """
    with _as_path(source).open("r", encoding="utf-8") as stream:
        while line := stream.readline(MAX_LINE_CHARS + 1):
            if line.strip():
                yield ContactResult.from_row(json.loads(line))


def progress_line(
    *,
    total: int,
    placed: int,
    ended: int,
    outcomes: Mapping[str, int] | None = None,
    waiting_for_hours: int = 0,
    waiting_for_redial: int = 0,
    waiting_for_quota: int = 0,
    top: int = 3,
) -> str:
    """
    One progress line for the task log, e.g.
    ``"312/1000 placed, 280 ended, 41 Appointment Booked, 12 waiting for calling hours"``.

    :param total: Contacts to call.
    :param placed: Contacts called at least once.
    :param ended: Contacts whose calls are all over (no call live, no redial due).
    :param outcomes: Counts by outcome so far; the ``top`` most frequent are shown.
    :param waiting_for_hours: Contacts waiting for their calling hours (shown when > 0).
    :param waiting_for_redial: Contacts waiting for a redial to fall due (shown when > 0).
    :param waiting_for_quota: Contacts waiting for the daily quota's reset (shown when > 0).
    :param top: How many outcomes to show.
    """
    parts = [f"{placed}/{total} placed", f"{ended} ended"]
    ranked = sorted((outcomes or {}).items(), key=lambda item: (-item[1], item[0]))
    parts += [f"{count} {name}" for name, count in ranked[: max(top, 0)] if count]
    for count, what in (
        (waiting_for_hours, "calling hours"),
        (waiting_for_redial, "a redial"),
        (waiting_for_quota, "the daily quota"),
    ):
        if count:
            parts.append(f"{count} waiting for {what}")
    return ", ".join(parts)
