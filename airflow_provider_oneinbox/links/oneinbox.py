"""Operator extra link from a task to its call in the OneInbox dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey
    from airflow.sdk import BaseOperator

#: XCom key under which operators and sensors push the call's dashboard URL before waiting.
CALL_URL_XCOM_KEY = "call_url"
#: XCom key under which operators and sensors push the call id as soon as it is known.
CALL_ID_XCOM_KEY = "call_id"


class OneInboxCallLink(BaseOperatorLink):
    """
    "OneInbox Call" button on a task that placed or awaited a call.

    The URL is read from the task's ``call_url`` XCom, pushed as soon as the call id is known, so
    the link works while the task is still waiting. The URL comes from the connection's
    ``call_url_template`` extra (default ``https://app.oneinbox.ai/calls/{call_id}``).
    """

    name = "OneInbox Call"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """
        Return the dashboard URL of the task's call, or ``""`` when no call was placed yet.

        :param operator: The task the link belongs to.
        :param ti_key: The task instance whose call to link to.
        """
        # At the end of a task run Airflow asks the live operator, which knows whether it has a
        # call: looking a missing XCom up would log an error for every task that placed none.
        live_url = getattr(operator, "oneinbox_call_url", None)
        if live_url:
            return str(live_url)
        if getattr(operator, "oneinbox_resumed", True) is False:
            return ""
        url = XCom.get_value(ti_key=ti_key, key=CALL_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""
