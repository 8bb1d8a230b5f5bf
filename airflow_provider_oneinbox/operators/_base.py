"""Plumbing shared by the OneInbox operators."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_oneinbox.hooks.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    # The hook (requests, tenacity) is imported when a task runs, not when a DAG file is parsed.
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook


class OneInboxBaseOperator(BaseOperator):
    """
    Base of the OneInbox operators: the connection id and a hook created once per task run.

    :param oneinbox_conn_id: The OneInbox connection to use.
    """

    #: The dashboard URL of this task run's call, once known: what the "OneInbox Call" link
    #: shows at the end of the run (:class:`~airflow_provider_oneinbox.links.oneinbox.OneInboxCallLink`).
    oneinbox_call_url: str | None = None
    #: Whether this task run resumed from a deferral (its call URL was pushed to XCom before).
    oneinbox_resumed: bool = False

    def __init__(self, *, oneinbox_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oneinbox_conn_id = oneinbox_conn_id

    @cached_property
    def hook(self) -> OneInboxHook:
        """The OneInbox hook for ``oneinbox_conn_id``."""
        from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

        return OneInboxHook(oneinbox_conn_id=self.oneinbox_conn_id)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Note that this run resumes a deferred one, then resume it as Airflow does."""
        self.oneinbox_resumed = True
        return super().resume_execution(next_method, next_kwargs, context)
