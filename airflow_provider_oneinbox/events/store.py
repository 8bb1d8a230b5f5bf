"""
Where a watch keeps its cursor: the 3.3 asset state store (durable, one copy per watched asset),
or this process's memory (Airflow 3.1/3.2, or a trigger not run by an asset watcher).
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Protocol

from airflow_provider_oneinbox.rules.call_events import CallCursor, dump_cursors, load_cursors, merge_cursors

log = logging.getLogger(__name__)

#: Cursors the memory store keeps per process (least recently written dropped first).
MAX_MEMORY_CURSORS = 256


class CursorStore(Protocol):
    """Loads and saves one watch's cursors (by agent id)."""

    durable: bool

    async def load(self, commit_delay: float) -> dict[str, CallCursor]:
        """The stored cursors, ``{}`` when none."""

    async def save(self, cursors: dict[str, CallCursor]) -> None:
        """Store the cursors' snapshots."""


class MemoryCursorStore:
    """
    The cursor in this process's memory, under the watch's key: a trigger built again in the same
    triggerer process resumes; a new process starts afresh (a first start).

    :param key: The watch's cursor key.
    """

    durable = False
    _values: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    def __init__(self, key: str) -> None:
        self.key = key

    async def load(self, commit_delay: float) -> dict[str, CallCursor]:
        """The cursors last saved under the key in this process."""
        return load_cursors(self._values.get(self.key), commit_delay)

    async def save(self, cursors: dict[str, CallCursor]) -> None:
        """Keep the cursors' snapshots (bounded: :data:`MAX_MEMORY_CURSORS` keys)."""
        self._values[self.key] = dump_cursors(cursors)
        self._values.move_to_end(self.key)
        while len(self._values) > MAX_MEMORY_CURSORS:
            self._values.popitem(last=False)


def accessors_of(store: Any) -> list[Any]:
    """
    Every per-asset accessor of a 3.3 ``AssetStateStoreAccessors`` (one per watched asset).

    :param store: The trigger's ``asset_state_store``.
    """
    found = [*getattr(store, "_by_name", {}).values(), *getattr(store, "_by_uri", {}).values()]
    if not found and hasattr(store, "aget"):
        found = [store]  # an accessor itself, or a single-asset mapping
    return found


class AssetCursorStore:
    """
    The cursor in Airflow 3.3's asset state store, written to every watched asset's accessor and
    read from all of them (merged so that no copy's unsettled call is lost: the lowest floor, the
    ids every copy settled).

    :param accessors: The accessors (``await acc.aget(key, default)`` / ``await acc.aset(key, value)``).
    :param key: The watch's cursor key.
    """

    durable = True

    def __init__(self, accessors: list[Any], key: str) -> None:
        self.accessors = accessors
        self.key = key
        self._last: dict[str, Any] | None = None

    async def load(self, commit_delay: float) -> dict[str, CallCursor]:
        """The merged cursors of the copies written so far; ``{}`` when none was (a first start)."""
        copies = []
        for accessor in self.accessors:
            value = await accessor.aget(self.key, None)
            copies.append(load_cursors(value, commit_delay))
        # A copy never written (an asset just added to the watcher, or a write cut short) does not
        # count: the others' cursor goes on, so their consumers miss nothing.
        return merge_cursors(*(copy for copy in copies if copy))

    async def save(self, cursors: dict[str, CallCursor]) -> None:
        """Write the snapshots to every copy (skipped when nothing changed since the last write)."""
        value = dump_cursors(cursors)
        if value == self._last:
            return
        for accessor in self.accessors:
            await accessor.aset(self.key, value)
        self._last = value


def cursor_store_for(trigger_store: Any, key: str) -> AssetCursorStore | MemoryCursorStore:
    """
    The asset state store when the triggerer gave one (3.3, run by an asset watcher), else memory.

    :param trigger_store: The trigger's ``asset_state_store`` attribute (``None`` on 3.1/3.2).
    :param key: The watch's cursor key.
    """
    accessors = accessors_of(trigger_store) if trigger_store is not None else []
    if accessors:
        return AssetCursorStore(accessors, key)
    return MemoryCursorStore(key)
