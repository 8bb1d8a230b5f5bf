"""
A campaign's contacts' progress in the task state store, so a resume reads only what is still live.

The :class:`~airflow_provider_oneinbox.campaign_ledger.CampaignLedger` says which calls exist; this
says what became of each contact: its final row (status, outcome, summary, attempts, call ids,
reason) once it is settled, else its calls so far, its live call, when its last attempt began and
when its redial falls due (our clock). Written by the worker just before it defers; read by the
resume, which then needs neither the ledger's every page nor a walk of every placed call.

Layout (Airflow 3.3's task state store: one JSON value per key, no listing, 64 KiB advisory):

* the head, :data:`PROGRESS_HEAD_KEY`: ``{"v", "contacts", "size", "try", "final", "active",
  "outcomes", "placed"}``:
  ``try`` the task try that saved it, ``final`` one bit per contact (zlib + base64: about 12 KB
  for 100 000 contacts), ``active`` the pages holding a contact with calls and no final row,
  ``outcomes`` the settled contacts' counts;
* page ``p``, ``f"{PROGRESS_HEAD_KEY}_{p}"``: the entries of contacts ``p*size`` to
  ``(p+1)*size - 1`` (position among the valid contacts, as a string) that have any.

A resume reads the head and the active pages: ``1 + active pages`` reads, whatever the number of
contacts. A save reads the pages it changes that it has not read (read, merge, write: a page is
never written from a partial view), writes them, then the head. Robustness, as the ledger's: a head
that cannot be read (or does not match the contacts) makes every save fail (nothing is written,
the caller must not defer); a page that cannot be read is never written.
"""

from __future__ import annotations

import base64
import logging
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["PROGRESS_HEAD_KEY", "PROGRESS_PAGE_SIZE", "CampaignProgress", "decode_bits", "encode_bits"]

#: Task state store key of the progress head; pages are under ``f"{PROGRESS_HEAD_KEY}_{p}"``.
PROGRESS_HEAD_KEY = "oneinbox_campaign_progress"
#: Contacts per page: a settled row with a long summary is about 1 KB, so a page stays under 64 KiB.
PROGRESS_PAGE_SIZE = 50
_VERSION = 1


def encode_bits(bits: bytearray) -> str:
    """
    A bit set as compact text (zlib, then base64).

    :param bits: One bit per contact, ``bits[i // 8] >> (i % 8) & 1``.
    """
    return base64.b64encode(zlib.compress(bytes(bits), 9)).decode("ascii")


def decode_bits(text: str, count: int) -> bytearray:
    """
    :func:`encode_bits`'s inverse.

    :param text: The encoded bit set.
    :param count: How many bits it must hold.
    :raises ValueError: When ``text`` is not such a bit set.
    """
    raw = bytearray(zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True)))
    if len(raw) != (count + 7) // 8:
        raise ValueError(f"expected {count} bits, got {len(raw) * 8}")
    return raw


class CampaignProgress:
    """
    The contacts' progress in paged task state store values (see the module docstring).

    :param store: Airflow's ``context["task_state_store"]`` (3.3+), or ``None`` (3.1: nothing kept).
    :param contacts: How many valid contacts the campaign has (positions ``0 .. contacts - 1``).
    :param log: Where to log.
    :param page_size: Contacts per page.
    :param try_number: The task's try: a head saved by another try is not :attr:`usable` (its
        unsettled entries may be stale: that try may have gone on after saving), though its
        settled contacts stay settled.
    """

    def __init__(
        self,
        store: Any,
        *,
        contacts: int,
        log: Any = None,
        page_size: int = PROGRESS_PAGE_SIZE,
        try_number: int = 1,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}.")
        self.store, self.contacts, self.page_size = store, contacts, page_size
        self.try_number = try_number
        self.log = log or logging.getLogger(__name__)
        #: One bit per contact settled in a saved page.
        self.final = bytearray((contacts + 7) // 8)
        #: Settled contacts' outcome counts, as saved.
        self.outcomes: Counter[str] = Counter()
        #: Settled contacts that were called at least once, as saved.
        self.placed = 0
        #: Entries of the active pages' unsettled contacts, by position.
        self.entries: dict[int, dict[str, Any]] = {}
        #: Whether a head was found and read whole with its active pages: a resume may trust it.
        self.usable = False
        self._writable = store is not None
        self._pages: dict[int, dict[str, Any]] = {}
        self.reads = 0

    def _get(self, name: str) -> tuple[bool, Any]:
        self.reads += 1
        try:
            return True, self.store.get(name)
        except Exception as exc:
            self.log.warning("Could not read %s from the task state store: %s", name, exc)
            return False, None

    def _page(self, page: int) -> dict[str, Any] | None:
        """Page ``page`` as stored (``{}`` when never written); ``None`` when it cannot be read."""
        if page in self._pages:
            return self._pages[page]
        ok, value = self._get(f"{PROGRESS_HEAD_KEY}_{page}")
        if not ok or not (value is None or isinstance(value, dict)):
            return None
        self._pages[page] = value or {}
        return self._pages[page]

    def load(self) -> bool:
        """Read the head and the active pages; return :attr:`usable` (a head absent: not usable, writable)."""
        if self.store is None:
            return False
        ok, head = self._get(PROGRESS_HEAD_KEY)
        if ok and head is None:
            return False  # nothing saved yet: a first run, or a retry of one that never deferred
        try:
            if not ok or not isinstance(head, dict) or head.get("v") != _VERSION:
                raise ValueError("unreadable")
            if head.get("contacts") != self.contacts or head.get("size") != self.page_size:
                raise ValueError("saved for other contacts (was the contacts file changed?)")
            final = decode_bits(str(head.get("final")), self.contacts)
            active = [int(p) for p in head.get("active") or ()]
            outcomes = Counter({str(k): int(v) for k, v in (head.get("outcomes") or {}).items()})
            placed = int(head.get("placed") or 0)
        except (ValueError, TypeError, zlib.error) as exc:
            self.log.warning("The campaign's saved progress cannot be used (%s): saving nothing.", exc)
            self._writable = False
            return False
        self.final, self.outcomes, self.placed = final, outcomes, placed
        usable = True
        for page in active:
            entries = self._page(page)
            if entries is None:
                usable = False
                continue
            for name, entry in entries.items():
                position = int(name)
                if isinstance(entry, dict) and 0 <= position < self.contacts and not self.is_final(position):
                    self.entries[position] = entry
        self.usable = usable and head.get("try") == self.try_number
        return self.usable

    def is_final(self, position: int) -> bool:
        """
        Whether the contact at ``position`` has a saved final row.

        :param position: The contact's position among the valid contacts.
        """
        return bool(self.final[position // 8] >> (position % 8) & 1)

    def save(
        self,
        changed: Mapping[int, dict[str, Any]],
        final: Iterable[int],
        outcomes: Counter[str],
        placed: int = 0,
    ) -> bool:
        """
        Write the changed entries' pages, then the head; whether everything was written.

        :param changed: Entries to write, by position (a settled one has ``"f"``, its final status).
        :param final: Positions of every settled contact (saved before or in ``changed``).
        :param outcomes: Every settled contact's outcome counts.
        :param placed: Settled contacts called at least once.
        """
        if not self._writable:
            return False
        by_page: dict[int, dict[int, dict[str, Any]]] = {}
        for position, entry in changed.items():
            by_page.setdefault(position // self.page_size, {})[position] = entry
        for page, entries in sorted(by_page.items()):
            stored = self._page(page)
            if stored is None:
                self.log.warning("Page %d of the campaign's progress cannot be read: not writing it.", page)
                return False
            merged = {**stored, **{str(p): e for p, e in entries.items()}}
            try:
                self.store.set(f"{PROGRESS_HEAD_KEY}_{page}", merged)
            except Exception as exc:
                self.log.warning("Could not write page %d of the campaign's progress: %s", page, exc)
                return False
            self._pages[page] = merged
        bits = bytearray((self.contacts + 7) // 8)
        for position in final:
            bits[position // 8] |= 1 << (position % 8)
        active = sorted(
            {p // self.page_size for p, e in changed.items() if "f" not in e}
            | {p // self.page_size for p in self.entries}
        )
        active = [p for p in active if self._has_unsettled(p, bits)]
        head = {
            "v": _VERSION,
            "contacts": self.contacts,
            "size": self.page_size,
            "final": encode_bits(bits),
            "active": active,
            "outcomes": dict(outcomes),
            "placed": placed,
            "try": self.try_number,
        }
        try:
            self.store.set(PROGRESS_HEAD_KEY, head)
        except Exception as exc:
            self.log.warning("Could not write the head of the campaign's progress: %s", exc)
            return False
        self.final, self.outcomes, self.placed = bits, Counter(outcomes), placed
        self.entries = {p: e for p, e in self.entries.items() if not bits[p // 8] >> (p % 8) & 1}
        self.entries.update({p: e for p, e in changed.items() if "f" not in e})
        return True

    def _has_unsettled(self, page: int, bits: bytearray) -> bool:
        entries = self._pages.get(page) or {}
        return any(not bits[int(name) // 8] >> (int(name) % 8) & 1 for name in entries)

    def settled(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """
        Every saved final entry, by position, page by page (read as needed, not kept).

        :raises OSError: When a page holding a settled contact cannot be read (the results would
            lack rows: better fail the task, whose retry reads again).
        """
        for page in range((self.contacts + self.page_size - 1) // self.page_size):
            first = page * self.page_size
            if not any(self.is_final(p) for p in range(first, min(first + self.page_size, self.contacts))):
                continue
            entries = self._pages.get(page)
            if entries is None:
                ok, entries = self._get(f"{PROGRESS_HEAD_KEY}_{page}")
                if not ok or not isinstance(entries, dict):
                    raise OSError(f"page {page} of the campaign's progress could not be read")
            for name, entry in sorted(entries.items(), key=lambda item: int(item[0])):
                if self.is_final(int(name)) and isinstance(entry, dict) and "f" in entry:
                    yield int(name), entry
