"""
A campaign's contacts: read, checked and reported before anyone is called.

:func:`load_contacts` reads a list of dicts or a CSV / JSON Lines file (see
:mod:`~airflow_provider_oneinbox.campaigns.sources`) and checks every contact: its number is one
that can exist (the provider's phone rule, separators allowed, kept in E.164 form), its key is
unique, its time zone an IANA name, its variables and metadata JSON objects of bounded size. Every
problem is found before anything else happens: with ``on_invalid="fail"`` one
:class:`~airflow_provider_oneinbox.exceptions.OneInboxInputError` lists them; with ``"skip"`` the
valid contacts are kept and the others are reported as :class:`Rejection` s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from airflow_provider_oneinbox.campaigns.sources import (
    CONTACT_FIELDS,
    SourceRecord,
    iter_records,
    source_name,
)
from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.models.phone import normalize_phone_number
from airflow_provider_oneinbox.placed_calls import IDEMPOTENCY_METADATA_KEY
from airflow_provider_oneinbox.validation import MAX_JSON_OBJECT_BYTES, require_json_object

__all__ = [
    "DEFAULT_MAX_CONTACTS",
    "MAX_CONTACTS_LIMIT",
    "MAX_KEY_CHARS",
    "MAX_REPORTED_PROBLEMS",
    "Contact",
    "ContactBook",
    "Rejection",
    "load_contacts",
]

#: Contacts one campaign reads by default; ``max_contacts`` raises it up to :data:`MAX_CONTACTS_LIMIT`.
DEFAULT_MAX_CONTACTS = 100_000
MAX_CONTACTS_LIMIT = 1_000_000
#: Longest contact key, in characters.
MAX_KEY_CHARS = 256
#: Problems the error of ``on_invalid="fail"`` lists one by one (it counts all of them).
MAX_REPORTED_PROBLEMS = 20
#: Room left in ``metadata`` for what the campaign adds to it (the idempotency key).
_METADATA_ROOM = 512
_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class Contact:
    """
    One contact to call, checked.

    :param index: Its position in the input, counting rejected records (0 for the first).
    :param key: Its identity in the campaign (a CRM id, ...); by default its E.164 number.
    :param to_number: The number to call, in E.164 form.
    :param variables: Sent as the call's ``variables`` (the agent's prompt fills them in).
    :param metadata: Sent as the call's ``metadata`` (the campaign adds its idempotency key).
    :param timezone: The IANA time zone given on the contact (it wins over the number's zones
        for calling hours); ``None`` when not given.
    """

    index: int
    key: str
    to_number: str
    variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None

    def idempotency_key(self, dag_id: str, run_id: str, task_id: str, map_index: int, attempt: int) -> str:
        """
        The idempotency key of this contact's ``attempt``-th call (:func:`~airflow_provider_oneinbox.
        ledger.contact_idempotency_key`): the same on every try of the task.

        :param dag_id: The DAG's id.
        :param run_id: The DAG run's id.
        :param task_id: The task's id.
        :param map_index: The map index (``-1`` when not mapped).
        :param attempt: Which call to this contact (1 for the first, 2 for the first redial, ...).
        """
        from airflow_provider_oneinbox.ledger import contact_idempotency_key

        return contact_idempotency_key(dag_id, run_id, task_id, map_index, self.key, attempt)


@dataclass(frozen=True, slots=True)
class Rejection:
    """
    A record that is not called, and why.

    :param index: Its position in the input (0 for the first), as :attr:`Contact.index`.
    :param where: Where it is in the input: ``"contacts[3]"`` or ``"line 5"`` (the CSV header is line 1).
    :param key: Its key if one could be read (given, or its valid number), else ``None``.
    :param field: The first field at fault: ``"to_number"``, ``"key"``, ``"timezone"``, ...
    :param value: The offending value, shortened to 80 characters; ``None`` when missing.
    :param reason: Every problem of the record, each naming its field and the fix.
    :param to_number: Its ``to_number`` as written (shortened), for the results; ``None`` if absent.
    """

    index: int
    where: str
    key: str | None
    field: str
    value: str | None
    reason: str
    to_number: str | None = None


@dataclass(frozen=True, slots=True)
class ContactBook:
    """
    What :func:`load_contacts` read.

    :param contacts: The valid contacts, in input order.
    :param rejected: The records not to call (only with ``on_invalid="skip"``), in input order.
    :param source: The source's name for messages (its path, or ``"a list"``).
    """

    contacts: tuple[Contact, ...]
    rejected: tuple[Rejection, ...] = ()
    source: str = "a list"

    @property
    def total(self) -> int:
        """Records read: valid and rejected."""
        return len(self.contacts) + len(self.rejected)


_NO_ZONE = "is not an IANA time zone name; use e.g. 'America/New_York', or leave it out"
_Problems = list[tuple[str, Any, str]]  # (field, value, reason naming the field and the fix)


@functools.lru_cache(maxsize=4096)
def _zone_problem(name: str) -> str | None:
    """Why ``name`` is no IANA time zone, or ``None`` (cached: a campaign repeats a few names)."""
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found (a KeyError), a malformed key, a directory
        return f"{name[:_SHOWN_CHARS]!r} {_NO_ZONE}"
    return None


def _shown(value: Any) -> str | None:
    return None if value is None else str(value)[:_SHOWN_CHARS]


def _check(index: int, item: SourceRecord, seen: dict[str, str]) -> Contact | Rejection:
    """``item`` as a :class:`Contact`, or the :class:`Rejection` that says what is wrong with it."""
    if item.record is None:
        name, reason = item.problem or ("contact", "could not be read")
        return Rejection(index, item.where, None, name, None, f"{name!r}: {reason}")
    record = item.record
    problems: _Problems = []

    def bad(name: str, value: Any, reason: str) -> None:
        problems.append((name, value, f"{name!r}: {reason}"))

    unknown = [str(name) for name in record if name not in CONTACT_FIELDS]
    if unknown:
        bad(unknown[0], None, f"unknown field(s) {unknown[:5]}; a contact has {list(CONTACT_FIELDS)}")
    number: str | None = None
    raw_number = record.get("to_number")
    if raw_number is None or (isinstance(raw_number, str) and not raw_number.strip()):
        bad("to_number", None, "missing; give each contact a number such as '+14155550123'")
    elif not isinstance(raw_number, str):
        shown = type(raw_number).__name__
        bad(
            "to_number",
            raw_number,
            f"expected a string such as '+14155550123' (a '+', then digits), got {shown}",
        )
    else:
        try:
            number = normalize_phone_number("to_number", raw_number)
        except OneInboxInputError as exc:
            problems.append(("to_number", raw_number, str(exc).removeprefix("Invalid ")))
    key = _key(record.get("key"), number, bad)
    timezone = record.get("timezone")
    if timezone is not None:
        if not isinstance(timezone, str) or not timezone.strip():
            bad("timezone", timezone, f"{_shown(timezone)!r} {_NO_ZONE}")
            timezone = None
        elif problem := _zone_problem(timezone.strip()):
            bad("timezone", timezone, problem)
        else:
            timezone = timezone.strip()
    variables = _json_object("variables", record.get("variables"), MAX_JSON_OBJECT_BYTES, problems)
    room = MAX_JSON_OBJECT_BYTES - _METADATA_ROOM
    metadata = _json_object("metadata", record.get("metadata"), room, problems)
    if IDEMPOTENCY_METADATA_KEY in metadata:
        bad(
            "metadata",
            IDEMPOTENCY_METADATA_KEY,
            f"{IDEMPOTENCY_METADATA_KEY!r} is set by the campaign; remove it",
        )
    if key is not None and not problems and key in seen:
        bad(
            "key",
            key,
            f"{key[:_SHOWN_CHARS]!r} is also the key of {seen[key]}; give each contact its own key",
        )
    if problems or key is None or number is None:
        first, value, _ = problems[0]
        reason = "; ".join(p[2] for p in problems)
        return Rejection(index, item.where, key, first, _shown(value), reason, _shown(raw_number))
    seen[key] = item.where
    return Contact(index, key, number, variables, metadata, timezone)


def _key(raw: Any, number: str | None, bad: Callable[[str, Any, str], None]) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return number
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or len(raw.strip()) > MAX_KEY_CHARS:
        bad(
            "key",
            raw,
            f"expected a string or integer of at most {MAX_KEY_CHARS} characters, got {_shown(raw)!r}",
        )
        return None
    return raw.strip()


def _json_object(name: str, raw: Any, max_bytes: int, problems: _Problems) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        return require_json_object(name, raw, max_bytes)
    except OneInboxInputError as exc:
        problems.append((name, None, str(exc).removeprefix("Invalid ")))
        return {}


def _summary(rejections: list[Rejection], count: int, total: int, source: str) -> str:
    shown = "\n".join(f"  {r.where}: {r.reason[:300]}" for r in rejections)
    more = f"\n  ... and {count - len(rejections)} more" if count > len(rejections) else ""
    return (
        f"{count} of the {total} contacts of {source} are invalid, so none was called:\n{shown}{more}\n"
        "Fix them, or pass on_invalid='skip' to call the valid contacts and report the others."
    )


def load_contacts(
    source: Any,
    *,
    on_invalid: Literal["fail", "skip"] = "fail",
    max_contacts: int = DEFAULT_MAX_CONTACTS,
    format: str | None = None,
) -> ContactBook:
    """
    Read and check a campaign's contacts, all of them, before anything else happens.

    A contact is a dict (a JSON Lines object, a CSV row) with ``to_number`` and optionally ``key``,
    ``variables``, ``metadata`` and ``timezone``. In a CSV file, every column other than
    ``to_number``, ``key``, ``timezone`` and ``metadata`` (a JSON object) is a variable, its value
    the cell's text as written; empty ``key``, ``timezone`` and ``metadata`` cells count as not given.
    Numbers may be written with separators (``"+1 (415) 555-0123"``) and are kept in E.164 form.
    Blank lines are ignored. The second record with a key already seen is invalid (a rejected
    record's key is not counted as seen).

    :param source: A list (or iterable) of dicts, a path, a URL string, or an
        ``airflow.sdk.ObjectStoragePath`` of a ``.csv``, ``.jsonl`` or ``.ndjson`` file (UTF-8).
    :param on_invalid: ``"fail"``: any invalid contact raises, listing the first
        :data:`MAX_REPORTED_PROBLEMS` problems with where they are and counting all.
        ``"skip"``: invalid contacts go to :attr:`ContactBook.rejected`.
    :param max_contacts: Most records read (valid or not); more raise, whatever ``on_invalid``.
    :param format: ``"csv"`` or ``"jsonl"`` for a file whose name does not say.
    :raises OneInboxInputError: Field ``contacts`` for invalid contacts (with ``"fail"``), too
        many, or an unreadable source; ``on_invalid``, ``max_contacts`` or ``format`` when those are wrong.
    """
    if on_invalid not in ("fail", "skip"):
        raise OneInboxInputError("on_invalid", f"expected 'fail' or 'skip', got {on_invalid!r}")
    if (
        not isinstance(max_contacts, int)
        or isinstance(max_contacts, bool)
        or not 1 <= max_contacts <= MAX_CONTACTS_LIMIT
    ):
        raise OneInboxInputError(
            "max_contacts", f"expected an integer between 1 and {MAX_CONTACTS_LIMIT}, got {max_contacts!r}"
        )
    name = source_name(source)
    contacts: list[Contact] = []
    rejected: list[Rejection] = []
    problems = 0
    seen: dict[str, str] = {}
    with closing(iter_records(source, format=format)) as records:
        for index, item in enumerate(records):
            if index >= max_contacts:
                raise OneInboxInputError(
                    "contacts",
                    f"{name} holds more than max_contacts={max_contacts} contacts; split the campaign "
                    f"or raise max_contacts (at most {MAX_CONTACTS_LIMIT})",
                )
            checked = _check(index, item, seen)
            if isinstance(checked, Contact):
                contacts.append(checked)
                continue
            problems += 1
            if on_invalid == "skip" or len(rejected) < MAX_REPORTED_PROBLEMS:
                rejected.append(checked)
    total = len(contacts) + problems
    if problems and on_invalid == "fail":
        raise OneInboxInputError("contacts", _summary(rejected, problems, total, name))
    return ContactBook(tuple(contacts), tuple(rejected), name)
