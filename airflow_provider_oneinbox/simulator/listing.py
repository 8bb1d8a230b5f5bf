"""Pages of calls, newest first: offset pagination and opaque cursors."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import HTTPException

from airflow_provider_oneinbox.simulator.lifecycle import Call

Render = Callable[[Call], dict[str, Any]]


def encode_cursor(seq: int) -> str:
    """An opaque cursor pointing just past the call with sequence number ``seq``."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number in a cursor; 400 if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "seq":
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(status_code=400, detail="Invalid cursor") from None


def _matching(calls: Iterable[Call], status: str | None, now: float) -> Iterator[Call]:
    return (c for c in calls if status is None or c.status_at(now) == status)


def offset_page(
    source: list[Call], status: str | None, limit: int, offset: int, now: float, render: Render
) -> dict[str, Any]:
    """``GET /v1/calls``: ``source`` is in creation order; the page is newest first."""
    if status is None:
        total = len(source)
        stop = max(0, total - offset)
        page = source[max(0, stop - limit) : stop][::-1]
    else:
        matching = list(_matching(reversed(source), status, now))
        total, page = len(matching), matching[offset : offset + limit]
    return {"items": [render(call) for call in page], "total": total, "limit": limit, "offset": offset}


def cursor_page(
    source: list[Call], status: str | None, limit: int, cursor: str | None, now: float, render: Render
) -> dict[str, Any]:
    """``GET /v1/calls/cursor``: newest first, ``next_cursor`` while ``has_more``."""
    before = decode_cursor(cursor) if cursor else None
    end = len(source) if before is None else bisect_left(source, before, key=lambda c: c.seq)
    page: list[Call] = []
    for call in _matching((source[i] for i in range(end - 1, -1, -1)), status, now):
        page.append(call)
        if len(page) > limit:
            break
    has_more = len(page) > limit
    page = page[:limit]
    next_cursor = encode_cursor(page[-1].seq) if has_more else None
    return {
        "items": [render(call) for call in page],
        "next_cursor": next_cursor,
        "has_more": has_more,
        "limit": limit,
    }
