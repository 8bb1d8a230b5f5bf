"""
The building blocks of a campaign: many contacts called from one task, paced, within calling hours.

Each module is one rule, tested on its own; the campaign operator (issue 12's
``OneInboxCampaignOperator`` in ``airflow_provider_oneinbox.operators.campaigns``, still to come)
orders them, with :class:`~airflow_provider_oneinbox.campaign_ledger.CampaignLedger` placing each
call at most once per attempt:

* :mod:`.contacts`: :func:`load_contacts` reads and checks the contacts (a list of dicts, CSV or
  JSON Lines at a path or ``ObjectStoragePath``) before anyone is called: :class:`Contact`,
  :class:`Rejection`, :class:`ContactBook`. :mod:`.sources` reads the files as streams.
* :mod:`.hours`: :class:`CallingHours` and the contact's zones (:func:`zones_for`);
  :func:`is_open` and :func:`next_opening`, open only when open in every zone.
* :mod:`.pacing`: :class:`Pacing`, concurrency and a minimum spacing between call starts
  (standard library only).
* :mod:`.redial`: :class:`RedialPolicy`, which ended calls are called again and when (standard
  library only).
* :mod:`.results`: :class:`ContactResult` rows, :func:`write_results` (JSON Lines, transcripts
  beside them, counts for XCom), :func:`progress_line`.

Names are loaded on first access: importing this package imports none of its modules (nor
``phonenumbers``), so nothing here costs a DAG file anything.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oneinbox.campaigns.contacts import (
        Contact,
        ContactBook,
        Rejection,
        load_contacts,
    )
    from airflow_provider_oneinbox.campaigns.hours import (
        CallingHours,
        CallingZones,
        is_open,
        next_opening,
        zones_for,
    )
    from airflow_provider_oneinbox.campaigns.pacing import Pacing, PacingDecision, latest_start
    from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
    from airflow_provider_oneinbox.campaigns.results import (
        ContactResult,
        progress_line,
        read_results,
        summarize,
        write_results,
    )

_WHERE = {
    **dict.fromkeys(["Contact", "ContactBook", "Rejection", "load_contacts"], "contacts"),
    **dict.fromkeys(["CallingHours", "CallingZones", "is_open", "next_opening", "zones_for"], "hours"),
    **dict.fromkeys(["Pacing", "PacingDecision", "latest_start"], "pacing"),
    "RedialPolicy": "redial",
    **dict.fromkeys(
        ["ContactResult", "progress_line", "read_results", "summarize", "write_results"], "results"
    ),
}

__all__ = [
    "CallingHours",
    "CallingZones",
    "Contact",
    "ContactBook",
    "ContactResult",
    "Pacing",
    "PacingDecision",
    "RedialPolicy",
    "Rejection",
    "is_open",
    "latest_start",
    "load_contacts",
    "next_opening",
    "progress_line",
    "read_results",
    "summarize",
    "write_results",
    "zones_for",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
