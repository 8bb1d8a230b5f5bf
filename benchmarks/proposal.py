"""
A prototype of the change the benchmark recommends for ``OneInboxCallTrigger`` (not part of the provider).

Measured as the third side, ``proposal``, of :mod:`benchmarks.wait_benchmark`, so the effect of the
recommendation is a number rather than a guess. Two changes, nothing else:

1. **One HTTP session per event loop and connection settings**, shared by every trigger in the
   triggerer and reference-counted: ``async with`` takes a reference, leaving gives it back, and the
   last one out closes the session. Its connector opens connections only as requests overlap, at
   most ``SHARED_SESSION_LIMIT``, so N waiting triggers hold a handful of TLS connections (each costs
   ~300 KB of RSS: asyncio's ``SSLProtocol`` allocates a 256 KiB read buffer per connection) and pay a
   handful of TLS handshakes (~1.5 ms CPU each) instead of N.
2. **One ``ssl.SSLContext`` per CA bundle** per process (~250 µs CPU and ~17 KB each), built in a thread
   once.

The event and polling rules (:class:`~airflow_provider_oneinbox.triggers.calls.CallWatch`) are unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from airflow.triggers.base import TriggerEvent

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook, _ssl_option
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger

#: Connections a shared session opens at most (aiohttp's default; it opens them only as requests overlap).
SHARED_SESSION_LIMIT = 100

_SSL_OPTIONS: dict[bool | str, bool | ssl.SSLContext] = {}


@dataclass
class _Shared:
    session: aiohttp.ClientSession
    users: int = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[OneInboxSettings, _Shared]] = (
    weakref.WeakKeyDictionary()
)


async def _cached_ssl_option(settings: OneInboxSettings) -> bool | ssl.SSLContext:
    option = _SSL_OPTIONS.get(settings.verify)
    if option is None:
        option = await asyncio.to_thread(_ssl_option, settings.verify, settings.conn_id)
        option = _SSL_OPTIONS.setdefault(settings.verify, option)
    return option


class SharedSessionAsyncHook(OneInboxAsyncHook):
    """``OneInboxAsyncHook`` whose ``async with`` borrows a session shared per event loop and settings."""

    _shared: _Shared | None = None

    async def __aenter__(self) -> SharedSessionAsyncHook:
        if self._session is None:
            settings = await self.get_settings()  # still read per trigger: edits to the connection apply
            ssl_option = await _cached_ssl_option(settings)
            pool = _POOLS.setdefault(asyncio.get_running_loop(), {})
            shared = pool.get(settings)  # no await from here on: triggers cannot race
            if shared is None:
                session = aiohttp.ClientSession(
                    headers=settings.headers(),
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=settings.timeout, sock_read=settings.timeout
                    ),
                    connector=aiohttp.TCPConnector(ssl=ssl_option, limit=SHARED_SESSION_LIMIT),
                )
                shared = pool[settings] = _Shared(session)
            shared.users += 1
            self._shared, self._session = shared, shared.session
        return self

    async def close(self) -> None:
        """Give the shared session back; the last user out closes it."""
        shared, self._shared, self._session = self._shared, None, None
        if shared is None:
            return
        shared.users -= 1
        if shared.users == 0:
            pool = _POOLS.get(asyncio.get_running_loop(), {})
            for key, value in list(pool.items()):
                if value is shared:
                    del pool[key]
            await shared.session.close()


class SharedSessionCallTrigger(OneInboxCallTrigger):
    """``OneInboxCallTrigger`` polling through :class:`SharedSessionAsyncHook`; same events, same rules."""

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Same loop as ``OneInboxCallTrigger.run``, with the shared-session hook."""
        watch = self._watch()
        event: dict[str, Any] | None
        try:
            async with SharedSessionAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id) as hook:
                while True:
                    try:
                        event = watch.observe(await hook.get_call(self.call_id))
                    except OneInboxError as exc:
                        event = watch.observe_error(exc)
                    if event is None:
                        delay, event = watch.next_delay()
                    if event is not None:
                        break
                    await asyncio.sleep(delay)
        except OneInboxError as exc:
            event = watch.error_event(exc, permanent=not exc.transient)
        except Exception as exc:
            self.log.exception("Unexpected error while waiting for OneInbox call %s", self.call_id)
            event = watch.error_event(exc, permanent=False)
        yield TriggerEvent(event)
