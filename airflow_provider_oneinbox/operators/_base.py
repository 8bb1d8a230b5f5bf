"""Plumbing shared by the OneInbox operators."""

from __future__ import annotations

import os
from configparser import ConfigParser
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_oneinbox.hooks import DEFAULT_CONN_ID

if TYPE_CHECKING:
    # The hook (requests) is imported when a task runs, not when a DAG file is parsed.
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook


#: The environment variable that sets Airflow's ``[operators] default_deferrable``.
DEFAULT_DEFERRABLE_ENV = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"


def default_deferrable() -> bool:
    """
    Whether a OneInbox wait defers when its ``deferrable`` argument is not given.

    The deployment's ``[operators] default_deferrable`` when it sets it (environment variable
    ``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE`` or ``airflow.cfg``), as ASF operators do; else
    ``True``, this provider's own default (Airflow's built-in ``False`` is not read as a choice:
    a wait for a phone call holds a worker slot for minutes). Read when an operator is created.
    """
    # Airflow's config always answers, with its built-in default when nothing is set: only the
    # environment and the config file's own sections (defaults live apart) say it was set.
    from airflow.providers.common.compat.sdk import conf

    explicit = os.environ.get(DEFAULT_DEFERRABLE_ENV) is not None or ConfigParser.has_option(
        conf, "operators", "default_deferrable"
    )
    if not explicit:
        return True
    return conf.getboolean("operators", "default_deferrable", fallback=True)


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
