"""
What Python 3.11 added that the provider uses, for Python 3.10 (drop it with Python 3.10).

On 3.11 and newer every name here is the standard library's own. The rules layer's part
(``UTC``, ``StrEnum``, ISO 8601 parsing) lives in :mod:`airflow_provider_oneinbox.rules._compat`
and is re-exported here.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType

from airflow_provider_oneinbox.rules._compat import UTC, StrEnum, datetime_fromisoformat, time_fromisoformat

__all__ = [
    "TIMEOUT_ERRORS",
    "UTC",
    "StrEnum",
    "Timeout",
    "datetime_fromisoformat",
    "time_fromisoformat",
    "timeout",
]

#: What ``timeout()`` and ``asyncio.wait_for`` raise when time is up, and what aiohttp's timeouts
#: derive from: one class from 3.11 (the built-in ``TimeoutError``), two before
#: (``asyncio.TimeoutError`` is not an ``OSError`` there). Catch both where 3.11 catches one.
TIMEOUT_ERRORS: tuple[type[Exception], ...] = (TimeoutError, asyncio.TimeoutError)

if sys.version_info >= (3, 11):
    from asyncio import Timeout, timeout
else:
    import async_timeout

    class Timeout:
        """
        ``asyncio.Timeout`` (3.11) over ``async_timeout``'s: ``async with`` it, ``when()``,
        ``reschedule(when)`` (``None``: no deadline) and ``expired()``.

        :param when: The deadline on the event loop's clock; ``None``: none (yet).
        """

        def __init__(self, when: float | None) -> None:
            self._when = when
            self._inner: async_timeout.Timeout | None = None

        def when(self) -> float | None:
            """The current deadline on the loop's clock, ``None`` if none."""
            return self._when

        def reschedule(self, when: float | None) -> None:
            """
            Move the deadline (``None``: remove it); only inside the ``async with`` block.

            :param when: The new deadline on the loop's clock, or ``None``.
            """
            if self._inner is None:
                raise RuntimeError("Timeout has not been entered")
            if when is None:
                self._inner.reject()
            else:
                self._inner.update(when)
            self._when = when

        def expired(self) -> bool:
            """Whether the deadline passed and cancelled the block."""
            return self._inner is not None and self._inner.expired

        async def __aenter__(self) -> Timeout:
            if self._inner is not None:
                raise RuntimeError("Timeout has already been entered")
            self._inner = async_timeout.timeout_at(self._when)
            await self._inner.__aenter__()
            return self

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> bool | None:
            assert self._inner is not None
            return await self._inner.__aexit__(exc_type, exc, traceback)

    def timeout(delay: float | None) -> Timeout:
        """
        ``asyncio.timeout`` (3.11): a block cancelled after ``delay`` seconds, then ``TimeoutError``
        (``asyncio.TimeoutError`` on 3.10: catch :data:`TIMEOUT_ERRORS`).

        :param delay: Seconds from now; ``None``: no deadline until :meth:`Timeout.reschedule`.
        """
        loop = asyncio.get_running_loop()
        return Timeout(None if delay is None else loop.time() + delay)
