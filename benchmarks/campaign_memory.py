"""
What a campaign of N contacts costs the worker before its first call: loading and checking the
contacts file, one round of the runner (calling hours closed until the deadline: every contact is
settled, none called), and writing the N result rows. Reports wall seconds per step and the
process's peak RSS. No API is contacted (nothing is dialled; the runner gets no hook).

``python -m benchmarks.campaign_memory [--contacts 100000]``
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow_provider_oneinbox._compat import UTC


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Write a contacts file, then time and measure each step."""
    from airflow_provider_oneinbox.campaigns.contacts import load_contacts
    from airflow_provider_oneinbox.campaigns.hours import CallingHours
    from airflow_provider_oneinbox.campaigns.pacing import Pacing
    from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
    from airflow_provider_oneinbox.campaigns.results import write_results
    from airflow_provider_oneinbox.campaigns.runner import CampaignRunner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "contacts.csv"
        with source.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["key", "to_number", "first_name"])
            for i in range(args.contacts):
                writer.writerow([f"crm-{i}", f"+1415555{100 + i % 100:04d}", f"Name {i}"])
        print(f"start: {_rss_mb():.0f} MB peak RSS")
        started = time.perf_counter()
        book = load_contacts(source)
        took = time.perf_counter() - started
        print(f"load + check {len(book.contacts)} contacts: {took:.1f} s, {_rss_mb():.0f} MB")
        now = datetime.now(UTC)
        hours = CallingHours.of(("09:00", "17:00"), [(now.weekday() + 2) % 7])
        runner = CampaignRunner(
            book, ("d", "r", "t", -1), {"agent_id": "a", "from_number": "+14155550100"}, None, None,  # type: ignore[arg-type]
            None, Pacing(50, 600), RedialPolicy.of(), hours, now + timedelta(minutes=1), now,  # type: ignore[arg-type]
            logging.getLogger("campaign"),
        )  # fmt: skip
        started = time.perf_counter()
        runner.round(now)
        print(f"one round (all closed, settled): {time.perf_counter() - started:.1f} s, {_rss_mb():.0f} MB")
        started = time.perf_counter()
        summary = write_results(runner.results(), Path(folder) / "results.jsonl")
        print(f"write {summary['contacts']} rows: {time.perf_counter() - started:.1f} s, {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
