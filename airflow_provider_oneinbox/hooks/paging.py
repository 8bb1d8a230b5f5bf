"""
Bounded page walks (``iter_calls``, ``iter_calls_offset``, ``iter_agents``).

A server that keeps answering "there is more" (an empty page with ``has_more: true``, a cursor
that repeats, or an endless run of new cursors) must not keep a walk going until Airflow kills
the task. A walk is bounded in pages and in time, and stops on a repeated cursor or an empty
page that claims more. A walk stopped that way raises
:class:`~airflow_provider_oneinbox.exceptions.OneInboxPaginationError` saying why: it never ends
as if the list were complete.

The time bound holds within a page too: each page's request (its retries included) gets the
walk's deadline, so a server that stalls on a page cannot carry the walk past ``max_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_oneinbox.exceptions import (
    OneInboxInputError,
    OneInboxPaginationError,
    OneInboxTimeoutError,
)
from airflow_provider_oneinbox.validation import optional_text, require_int_between, require_page_size

#: Pages a walk reads at most (100,000 records at 100 per page).
DEFAULT_MAX_PAGES = 1000
#: Seconds a walk may take, its page requests included.
DEFAULT_MAX_SECONDS = 600.0
#: A page request cut this close to the walk's deadline was cut by it (timers are not exact).
_DEADLINE_SLACK = 0.01


def check_bounds(max_pages: int, max_seconds: float) -> None:
    """
    Validate a walk's bounds before anything is sent.

    :param max_pages: Pages to read at most, >= 1.
    :param max_seconds: Seconds the walk may take, > 0.
    """
    require_int_between("max_pages", max_pages, 1)
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) or not max_seconds > 0:
        raise OneInboxInputError("max_seconds", f"expected a number > 0, got {max_seconds!r}")


def check_walk(
    page_size: int,
    max_items: int | None,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    **filters: str | None,
) -> None:
    """
    Validate a walk's arguments before anything is sent.

    :param page_size: Items per request, 1..100.
    :param max_items: Items to yield at most, >= 0, or ``None``.
    :param max_pages: Pages to read at most, >= 1.
    :param max_seconds: Seconds the walk may take, > 0.
    :param filters: Optional text filters, by argument name (``agent_id``, ``status``).
    """
    require_page_size("page_size", page_size)
    check_bounds(max_pages, max_seconds)
    if max_items is not None:
        require_int_between("max_items", max_items, 0)
    for name, value in filters.items():
        optional_text(name, value)


def cursor_claims_more(page: dict[str, Any], _token: Any) -> bool:
    """
    Whether a cursor page says more follow (``has_more``, or a ``next_cursor`` without it).

    :param page: A ``GET /v1/calls/cursor`` response.
    """
    has_more = page.get("has_more")
    return bool(has_more) if has_more is not None else bool(page.get("next_cursor"))


def offset_claims_more(page: dict[str, Any], offset: int) -> bool:
    """
    Whether an offset page says more follow: its ``total`` is past what was read.

    :param page: A ``GET /v1/calls`` or ``GET /v1/agents`` response.
    :param offset: The offset it was fetched at.
    """
    total = page.get("total")
    count = len(page.get("items") or [])
    return isinstance(total, int) and not isinstance(total, bool) and offset + count < total


def walk(
    fetch: Callable[[Any, float], dict[str, Any]],
    advance: Callable[[dict[str, Any], Any], Any],
    start: Any,
    max_items: int | None,
    *,
    claims_more: Callable[[dict[str, Any], Any], bool],
    what: str,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """
    Yield the items of ``fetch(start)``, then of each following page, up to ``max_items``.

    :param fetch: Fetches the page at a token (a cursor or an offset), by a ``time.monotonic()``
        deadline (its retries included).
    :param advance: The token of the page after ``page``, or ``None`` after the last.
    :param start: The first page's token.
    :param max_items: Stop after this many items; ``None`` for all.
    :param claims_more: Whether a page says more pages follow.
    :param what: What is walked, for errors (``"GET /v1/calls/cursor"``).
    :param max_pages: Pages to read at most.
    :param max_seconds: Seconds the walk may take.
    :param clock: The clock of ``fetch``'s deadline, ``time.monotonic``.
    :raises OneInboxPaginationError: When a bound or a lying page stopped the walk.
    """
    deadline = clock() + max_seconds
    token, yielded, pages = start, 0, 0
    seen_tokens = {start}

    def stop(reason: str, why: str) -> OneInboxPaginationError:
        return OneInboxPaginationError(
            f"Walking the pages of {what} stopped after {pages} page(s) and {yielded} item(s): {why}; "
            "the items read so far are not the whole list",
            pages=pages,
            reason=reason,
        )

    while max_items is None or yielded < max_items:
        if pages >= max_pages:
            raise stop("max_pages", f"more pages follow than max_pages={max_pages}")
        too_long = f"the walk took longer than max_seconds={max_seconds:g}"
        if pages and clock() > deadline:
            raise stop("max_seconds", too_long)
        try:
            page = fetch(token, deadline)
        except OneInboxTimeoutError as exc:
            if deadline - clock() > _DEADLINE_SLACK:
                raise
            raise stop("max_seconds", too_long) from exc
        pages += 1
        items = page.get("items") or []
        for item in items:
            if max_items is not None and yielded >= max_items:
                return
            yield item
            yielded += 1
        following = advance(page, token)
        if following is None:
            if claims_more(page, token) and not items:
                raise stop("empty_page", "an empty page says more follow")
            if claims_more(page, token):
                raise stop("no_cursor", "a page says more follow but gives nothing to ask for them with")
            return
        if not items:
            raise stop("empty_page", "an empty page says more follow")
        if following in seen_tokens:
            raise stop("repeated_cursor", "the server sent a page token it had sent before")
        seen_tokens.add(following)
        token = following
