"""Campaign operator DAGs for the tests: the operator's call as DAG source, run with ``dag.test()``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.dags import write_dag

FROM = "+14155550100"
PRELUDE = "from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator"
#: Last two digits choose the simulator's scenario: 01 booked, 02 not connected, 03 voicemail,
#: 07 not interested, others default ("Interested").
NUMBERS = ["+14155550101", "+14155550102", "+14155550103", "+14155550107", "+14155550111", "+14155550122"]
#: Area codes whose 555-01xx numbers libphonenumber accepts: 100 fictional numbers each.
AREAS = ("415", "212", "312", "617", "202")


def many_numbers(count: int, *, endings: range = range(10, 100)) -> list[str]:
    """
    ``count`` distinct fictional numbers (``+1 <area> 555-01xx``) whose last two digits are in
    ``endings`` (10-99: the simulator's default scenario, a 20 s call).

    :param count: How many (at most ``len(AREAS) * len(endings)``).
    :param endings: The last two digits allowed.
    """
    numbers = [f"+1{area}55501{n:02d}" for area in AREAS for n in endings]
    if count > len(numbers):
        raise ValueError(f"at most {len(numbers)} numbers, asked for {count}")
    return numbers[:count]


def campaign(contacts: Any, results: Path | None, extra: str = "") -> str:
    """
    The operator's call in a DAG file: fast polls, short grace, progress every second.

    :param contacts: The contacts (a list, or a path's ``str``) as the ``contacts`` argument.
    :param results: The results file, or ``None``.
    :param extra: More arguments, as source.
    """
    where = None if results is None else str(results)
    if "deferrable=" not in extra:  # worker-only unless the test asks (the operator defers by default)
        extra = f"{extra}, deferrable=False" if extra.strip() else "deferrable=False"
    return (
        f'OneInboxCampaignOperator(task_id="campaign", agent_id="agt_sales", from_number="{FROM}", '
        f"contacts={contacts!r}, results_path={where!r}, poll_interval=0.2, "
        f"analysis_grace_period=2, progress_interval=1, {extra})"
    )


def run(load_dag: Callable[..., Any], body: str, prelude: str = PRELUDE) -> Any:
    """Write the DAG, run it with ``dag.test()``; the DAG run."""
    return write_dag(load_dag, body, prelude, prefix="campaign").test()


def rows(path: Path) -> list[dict[str, Any]]:
    """The JSON Lines rows of a results (or transcripts) file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def direct_runner(numbers: list[str], max_concurrent: int, now: Any) -> Any:
    """
    A ``CampaignRunner`` driven directly (no operator) for ``numbers``, on ``agt_sales`` through
    ``oneinbox_default``: the connection's retries for reads, none for creates, as the operator builds it.

    :param numbers: The contacts' numbers, in order.
    :param max_concurrent: The concurrency cap (600 calls per minute: a 0.1 s spacing).
    :param now: When the campaign started.
    """
    import logging

    from airflow_provider_oneinbox.campaign_ledger import CampaignLedger
    from airflow_provider_oneinbox.campaigns.contacts import load_contacts
    from airflow_provider_oneinbox.campaigns.pacing import Pacing
    from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
    from airflow_provider_oneinbox.campaigns.runner import CampaignRunner
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    book = load_contacts([{"to_number": n} for n in numbers])
    hook = OneInboxHook()
    log = logging.getLogger("campaign-test")
    ledger = CampaignLedger(hook, None, agent_id="agt_sales", search_limit=1000, log=log)
    request = {"agent_id": "agt_sales", "from_number": FROM}
    pacing, redial = Pacing(max_concurrent, 600), RedialPolicy.of()
    return CampaignRunner(
        book, ("d", "r", "t", -1), request, hook, OneInboxHook(max_retries=0), ledger, pacing, redial,
        None, None, now, log,
    )  # fmt: skip
