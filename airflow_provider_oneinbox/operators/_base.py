"""Plumbing shared by the OneInbox operators."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook


class OneInboxBaseOperator(BaseOperator):
    """
    Base of the OneInbox operators: the connection id and a hook created once per task run.

    :param oneinbox_conn_id: The OneInbox connection to use.
    """

    def __init__(self, *, oneinbox_conn_id: str = OneInboxHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oneinbox_conn_id = oneinbox_conn_id

    @cached_property
    def hook(self) -> OneInboxHook:
        """The OneInbox hook for ``oneinbox_conn_id``."""
        return OneInboxHook(oneinbox_conn_id=self.oneinbox_conn_id)
