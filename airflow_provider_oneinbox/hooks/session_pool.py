"""
One ``aiohttp`` session per event loop and connection settings, shared by the async hooks on that loop.

A triggerer runs thousands of waits on one loop. Each with a session of its own would hold its
own TLS connection for the whole wait (asyncio allocates a 256 KiB read buffer per TLS
connection) and pay its own handshake; sharing one session keeps a handful of connections
(at most :data:`SESSION_CONNECTION_LIMIT`, opened only as requests overlap) for all of them.
Sessions are reference-counted: the last hook to leave closes its session. Settings are part of
the key, so hooks of different connections (different keys or base URLs) never share one; the
settings that only shape the retries (``max_retries``, the retry pauses) are not, so a wait that
sends with ``max_retries=0`` shares its session with every other hook of the connection.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from dataclasses import dataclass, replace

import aiohttp

from airflow_provider_oneinbox.exceptions import OneInboxConfigError
from airflow_provider_oneinbox.hooks import async_transport
from airflow_provider_oneinbox.hooks.settings import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_WAIT_MAX,
    DEFAULT_RETRY_WAIT_MIN,
    OneInboxSettings,
)

#: Connections one shared session opens at most (aiohttp's default limit).
SESSION_CONNECTION_LIMIT = 100

_SSL_OPTIONS: dict[bool | str, bool | ssl.SSLContext] = {}


@dataclass
class SessionLease:
    """
    A hook's share of a pooled session.

    :param settings: The connection settings the session was made for (the pool key,
        :func:`pool_key`).
    :param session: The shared session.
    :param users: How many hooks hold it.
    """

    settings: OneInboxSettings
    session: aiohttp.ClientSession
    users: int = 0


_LEASES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[OneInboxSettings, SessionLease]] = (
    weakref.WeakKeyDictionary()
)


def _build_ssl_option(verify: bool | str, conn_id: str) -> bool | ssl.SSLContext:
    """aiohttp's ``ssl`` argument for ``verify``; reads the CA file, so it runs in a thread."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: extra 'verify' names an unusable CA bundle {verify!r}: {exc}"
        ) from None


async def ssl_option(settings: OneInboxSettings) -> bool | ssl.SSLContext:
    """
    The ``ssl`` argument for the settings' ``verify``, built once per CA bundle and process.

    :param settings: The connection settings.
    """
    option = _SSL_OPTIONS.get(settings.verify)
    if option is None:
        built = await asyncio.to_thread(_build_ssl_option, settings.verify, settings.conn_id)
        option = _SSL_OPTIONS.setdefault(settings.verify, built)
    return option


async def new_session(settings: OneInboxSettings) -> aiohttp.ClientSession:
    """
    A session of its own, for a one-off request outside ``async with``.

    :param settings: The connection settings (headers, timeouts, TLS).
    """
    session = aiohttp.ClientSession(
        # The key is sent per request (async_transport), never as a default header: aiohttp
        # copies a session's default headers into a proxy's CONNECT request.
        headers=settings.headers(authorization=False),
        # sock_connect, not connect: waiting for a free pooled connection is queueing, not a
        # failure. The total deadline of each request (queueing excluded) is kept by
        # async_transport, driven by these traces.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.timeout, sock_read=settings.timeout),
        connector=aiohttp.TCPConnector(ssl=await ssl_option(settings), limit=SESSION_CONNECTION_LIMIT),
        # Environment proxies are never used; a proxy comes from the connection only (per request).
        trust_env=False,
        trace_configs=[async_transport.trace_config()],
    )
    async_transport.disable_builtin_retry(session)
    return session


def pool_key(settings: OneInboxSettings) -> OneInboxSettings:
    """
    The settings a pooled session is shared by: ``settings`` without what only the retries use.

    :param settings: A hook's connection settings.
    """
    return replace(
        settings,
        max_retries=DEFAULT_MAX_RETRIES,
        retry_wait_min=DEFAULT_RETRY_WAIT_MIN,
        retry_wait_max=DEFAULT_RETRY_WAIT_MAX,
    )


async def acquire(settings: OneInboxSettings) -> SessionLease:
    """
    Take a share of this loop's session for ``settings``, creating it if there is none.

    :param settings: The connection settings (of which only :func:`pool_key` matters).
    """
    settings = pool_key(settings)
    leases = _LEASES.setdefault(asyncio.get_running_loop(), {})
    lease = leases.get(settings)
    if lease is None or lease.session.closed:
        session = await new_session(settings)
        lease = leases.get(settings)  # another hook may have made one while this one awaited
        if lease is None or lease.session.closed:
            lease = leases[settings] = SessionLease(settings, session)
        else:
            await session.close()
    lease.users += 1
    return lease


async def release(lease: SessionLease) -> None:
    """
    Give a share back; the last one closes the session.

    :param lease: What :func:`acquire` returned.
    """
    lease.users -= 1
    if lease.users > 0:
        return
    leases = _LEASES.get(asyncio.get_running_loop(), {})
    if leases.get(lease.settings) is lease:
        del leases[lease.settings]
    await lease.session.close()
