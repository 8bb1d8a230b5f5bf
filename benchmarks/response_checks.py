"""
The ``response_check`` a user of ``apache-airflow-providers-http`` writes to await a OneInbox call.

``HttpEventTrigger`` imports (and, from the second poll on, *reloads*) this module on every poll
and awaits the function with the response converted to a ``requests.Response``. Keep the module
tiny: its import cost is paid per poll.
"""

from __future__ import annotations

from typing import Any

TERMINAL_STATUSES = frozenset({"completed", "failed"})


async def call_finished_with_analysis(response: Any) -> bool:
    """
    Whether ``GET /v1/calls/{id}`` shows a call that has ended and has its post-call analysis.

    An unanalysed call carries ``analysis`` ``{}`` or all-null (the API reference), so a
    truthy ``analysis`` is not enough: some field of it must be filled.

    :param response: The ``requests.Response`` built by ``HttpEventTrigger`` from the aiohttp one.
    """
    call = response.json()
    analysis = call.get("analysis")
    filled = isinstance(analysis, dict) and any(value is not None for value in analysis.values())
    return call.get("status") in TERMINAL_STATUSES and filled
