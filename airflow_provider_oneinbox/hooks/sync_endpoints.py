"""
What the endpoint groups of :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook` send through.

The sync hook's endpoints are split by resource over a few modules (calls, account, workspace)
so that each reads at once; each group is a mixin of :class:`SyncEndpoints`, which the hook
completes with its one way of sending a request. Import the hook, not these mixins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.responses import items_of, record_of

if TYPE_CHECKING:
    from airflow.sdk.types import Logger


class SyncEndpoints:
    """The sending primitives the endpoint mixins use; ``OneInboxHook`` provides :meth:`_request`."""

    if TYPE_CHECKING:

        @property
        def log(self) -> Logger:
            """The hook's logger (``BaseHook``'s)."""

    def _request(self, request: ApiRequest, *, retry: bool = True) -> Any:
        """
        Send ``request`` (with the hook's retries unless ``retry`` is false); the decoded JSON.

        :param request: What to send.
        :param retry: Whether the retry policy applies.
        """
        raise NotImplementedError

    def _record(self, request: ApiRequest) -> dict[str, Any]:
        return record_of(self._request(request), request)

    def _items(self, request: ApiRequest) -> list[dict[str, Any]]:
        return items_of(self._request(request), request)
