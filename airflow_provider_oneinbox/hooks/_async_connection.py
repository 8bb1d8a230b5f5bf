"""
Reading a connection from an event loop: ``apache-airflow-providers-common-compat``'s functions.

Its 1.23 release resolves async connections off the event loop before Airflow 3.3.2 (whose
``BaseHook.aget_connection`` masks secrets with a synchronous call to the supervisor, which
raises ``DeadlockImminentError`` while another async call is in flight) and adds
``get_async_extra_dejson``. Releases from 1.21 on require Python 3.11, so on Python 3.10 pip
installs 1.20, which has neither: the same logic is kept here for it (drop with Python 3.10).
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
except ImportError:  # common-compat < 1.23 (the newest for Python 3.10 is 1.20)
    from airflow.providers.common.compat.sdk import BaseHook, Connection

    def _aget_connection_masks_synchronously(hook: BaseHook | type[BaseHook]) -> bool:
        """Whether ``hook.aget_connection`` is the base one of an Airflow older than 3.3.2."""
        if hasattr(Connection, "aextra_dejson"):
            return False
        base_aget_connection = getattr(BaseHook, "aget_connection", None)
        if base_aget_connection is None:
            return False
        hook_class = hook if isinstance(hook, type) else type(hook)
        return getattr(getattr(hook_class, "aget_connection", None), "__func__", None) is getattr(
            base_aget_connection, "__func__", object()
        )

    async def get_async_connection(conn_id: str, hook: BaseHook | type[BaseHook] | None = None) -> Connection:
        """
        The connection, through ``hook``'s own ``aget_connection`` if it is safe on the loop,
        else its synchronous ``get_connection`` in a worker thread.

        :param conn_id: The connection id.
        :param hook: The hook (class or instance) whose lookup to use; ``BaseHook`` if ``None``.
        """
        from asgiref.sync import sync_to_async

        lookup = hook or BaseHook
        if hasattr(lookup, "aget_connection") and not _aget_connection_masks_synchronously(lookup):
            connection: Connection = await lookup.aget_connection(conn_id=conn_id)
            return connection
        return await sync_to_async(lookup.get_connection)(conn_id=conn_id)

    async def get_async_extra_dejson(conn: Connection) -> dict[str, Any]:
        """
        The connection's extra as a dict, its secrets masked without blocking the loop.

        :param conn: The connection, e.g. from :func:`get_async_connection`.
        """
        if hasattr(conn, "aextra_dejson"):
            extra: dict[str, Any] = await conn.aextra_dejson()
            return extra

        from asgiref.sync import sync_to_async

        masked: dict[str, Any] = await sync_to_async(lambda: conn.extra_dejson)()
        return masked


__all__ = ["get_async_connection", "get_async_extra_dejson"]
