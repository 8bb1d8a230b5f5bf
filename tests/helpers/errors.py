"""Walking an exception's chain, for tests that search every linked error for a secret."""

from __future__ import annotations

from collections.abc import Iterator


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """
    ``error`` and every exception linked to it by ``__cause__`` or ``__context__``, each once.

    :param error: Where the walk starts.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
