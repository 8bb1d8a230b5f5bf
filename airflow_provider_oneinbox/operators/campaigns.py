"""
``OneInboxCampaignOperator``: many contacts called from one task, paced, inside calling hours.

Design (the loop, what survives a resume and where, quota and 429 policy, pacing after restarts,
stop, results): ``docs/campaigns.md``. The loop's steps are
:class:`~airflow_provider_oneinbox.campaigns.runner.CampaignRunner`'s; this module only wires
them to Airflow.

Between deferrals the worker saves the contacts' progress in the task state store
(:mod:`~airflow_provider_oneinbox.campaigns.progress`, Airflow 3.3+), so a resume reads only the
unsettled contacts; on Airflow 3.1 a resume rebuilds from the ledger's walk (bounded by
``reattach_search_limit``). Everything heavier than the standard library is imported in
``execute``: a DAG file importing this module pays for parsing only.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator, default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.campaigns.runner import CampaignRunner

__all__ = ["LAST_START_KEY", "QUOTA_POLICIES", "OneInboxCampaignOperator"]

#: Task state store key of the deferring worker's latest create start (ISO 8601).
LAST_START_KEY = "oneinbox_campaign_last_start"
#: What to do when the daily quota left is below the contacts to call.
QUOTA_POLICIES = ("fail", "fit", "ignore")


class OneInboxCampaignOperator(OneInboxBaseOperator):
    """
    Call every contact of a campaign from one task: paced, within calling hours, redialled, each
    ``(contact, attempt)`` at most once across retries (the campaign ledger).

    :param agent_id: The agent that speaks (templated).
    :param from_number: Caller number, E.164 (templated).
    :param contacts: A list of dicts (``to_number``, optional ``key``, ``variables``, ``metadata``,
        ``timezone``), an XComArg, or a path / URL / ``ObjectStoragePath`` of a CSV or JSON Lines file
        (templated).
    :param on_invalid: ``"fail"`` (any invalid contact fails the task before any call) or ``"skip"``
        (invalid contacts are reported in the results, reason ``invalid: ...``).
    :param max_concurrent_calls: Most live calls at once.
    :param calls_per_minute: Most call starts per minute (enforced as a spacing between starts).
    :param calling_hours: ``("09:00", "20:00")`` in the callee's time zone; ``None`` for any time.
    :param calling_days: Days open in the callee's zone: ``"weekdays"``, ``"mon-sat"``, ``"mon,wed,fri"``,
        names or numbers (0 = Monday); default every day.
    :param deadline: When waiting ends (aware datetime, or a ``timedelta`` from the task's start).
    :param redial_outcomes: Outcomes redialled, e.g. ``["Not Connected", "Voicemail"]``.
    :param max_attempts: Most calls per contact, the first included.
    :param redial_after: Delay from a call's end to its redial (``timedelta`` or seconds).
    :param quota_policy: ``"fail"``, ``"fit"`` or ``"ignore"`` (see the design).
    :param results_path: Where the JSON Lines results go (path, URL, ``ObjectStoragePath``), or ``None``.
    :param poll_interval: Seconds between list reads of the live calls.
    :param progress_interval: Seconds between progress lines in the log.
    :param reattach_search_limit: Calls read at most by the ledger's walk (0 turns it off).
    :param analysis_grace_period: Seconds an ended call's outcome is awaited before it is settled
        without one (a redial depends on the outcome).
    :param min_defer_seconds: With ``deferrable=True``, the worker defers only when nothing but a
        call's end can happen for longer than this; shorter gaps it sleeps through.
    :param transcripts: With ``results_path``, fetch each settled call's transcript once at the end
        (``GET /v1/calls/{id}``, one at a time) and write them beside the results; never into XCom or
        the log.
    :param deferrable: Wait in the triggerer (:class:`~airflow_provider_oneinbox.triggers.campaign.
        OneInboxCampaignTrigger`) between rounds, when nothing but a call's end can happen for
        longer than ``min_defer_seconds`` and no call ended in the last ``min_defer_seconds`` (while
        calls end often, the worker polls them itself: a deferral per call would cost more). Default:
        ``[operators] default_deferrable`` when the deployment sets it, else ``True`` (as the other
        OneInbox waits).
    """

    template_fields: Sequence[str] = ("agent_id", "from_number", "contacts", "results_path")

    def __init__(
        self,
        *,
        agent_id: str,
        from_number: str,
        contacts: Any,
        on_invalid: str = "fail",
        max_concurrent_calls: int = 1,
        calls_per_minute: float = 60,
        calling_hours: Sequence[str] | None = None,
        calling_days: Any = None,
        deadline: datetime | timedelta | None = None,
        redial_outcomes: Sequence[str] | None = None,
        max_attempts: int = 1,
        redial_after: timedelta | float = timedelta(hours=1),
        quota_policy: str = "fit",
        results_path: Any = None,
        poll_interval: float = 5.0,
        progress_interval: float = 30.0,
        reattach_search_limit: int = 10_000,
        analysis_grace_period: float = 60.0,
        min_defer_seconds: float = 30.0,
        transcripts: bool = True,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if quota_policy not in QUOTA_POLICIES:
            raise OneInboxInputError(
                "quota_policy", f"expected one of {QUOTA_POLICIES}, got {quota_policy!r}"
            )
        self.agent_id, self.from_number, self.contacts = agent_id, from_number, contacts
        self.on_invalid = on_invalid
        self.max_concurrent_calls, self.calls_per_minute = max_concurrent_calls, calls_per_minute
        self.calling_hours, self.calling_days, self.deadline = calling_hours, calling_days, deadline
        self.redial_outcomes, self.max_attempts = redial_outcomes, max_attempts
        self.redial_after, self.quota_policy, self.results_path = redial_after, quota_policy, results_path
        self.poll_interval, self.progress_interval = poll_interval, progress_interval
        self.reattach_search_limit = reattach_search_limit
        self.analysis_grace_period = analysis_grace_period
        self.min_defer_seconds = min_defer_seconds
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.transcripts = transcripts
        self._runner: CampaignRunner | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        """Check everything, then place, poll and redial until every contact is final; write results."""
        return self._guarded(context, ended=(), last_start=None)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, last_start: str | None = None
    ) -> dict[str, Any]:
        """
        Resume after the campaign trigger fired: rebuild from the saved progress and go on.

        :param context: The task's context.
        :param event: ``{"reason", "ended"}``: the ids the trigger saw ended (settled without
            waiting for their outcome again: the trigger waited for it).
        :param last_start: The deferring worker's latest create start (ISO 8601), from the
            deferral's ``kwargs``: a triggerer merges them with the event on 3.1 and 3.3, while
            ``dag.test()``'s inline trigger drops them (the task state store copy serves there).
        """
        from airflow_provider_oneinbox.rules.campaign_events import campaign_event_from_payload

        wake = campaign_event_from_payload(event)
        if wake.reason == "error":
            # The worker reads the live calls itself on this resume; the trigger only lost its view.
            self.log.warning(
                "Campaign trigger could not watch the calls (%s): %s", wake.error_type, wake.message
            )
        return self._guarded(context, ended=wake.ended, last_start=last_start)

    def _guarded(self, context: Context, ended: Sequence[str], last_start: str | None) -> dict[str, Any]:
        from airflow_provider_oneinbox.kill_marker import mark_failed_by_itself
        from airflow_provider_oneinbox.task_errors import fail_on_oneinbox_errors

        try:
            # Bad input fails at once (no retry); a transient API error follows ``retries``.
            with fail_on_oneinbox_errors(f"Campaign {self.task_id}"):
                return self._advance(context, ended, last_start)
        except Exception:
            if self.oneinbox_resumed:
                # A copy of this try's trigger may live on in a stalled triggerer: its on_kill must
                # read this failure as the task's own, not as a user's kill (kill_marker.py).
                mark_failed_by_itself(context)
            raise

    def _advance(self, context: Context, ended: Sequence[str], last_start: str | None) -> dict[str, Any]:
        runner = self._build(context)
        runner.settle_now = set(ended)
        store = context.get("task_state_store")
        if isinstance(last_start, str):
            runner.last_start = datetime_fromisoformat(last_start)
        elif self.oneinbox_resumed and store is not None:
            # Pace from the deferring worker's exact latest start, not from the ledger's record plus
            # the create timeout (a crash's retry must assume that; a clean deferral need not).
            try:
                saved = store.get(LAST_START_KEY)
            except Exception as exc:
                self.log.warning("Could not read %s from the task state store: %s", LAST_START_KEY, exc)
                saved = None
            if isinstance(saved, str):
                runner.last_start = datetime_fromisoformat(saved)
        self._runner = runner
        poll_every = timedelta(seconds=self.poll_interval)
        runner.poll_every = poll_every
        quiet = timedelta(seconds=self.min_defer_seconds)
        last_progress = _time.monotonic()
        while True:
            runner.round(datetime.now(UTC))
            if runner.done():
                break
            if _time.monotonic() - last_progress >= self.progress_interval:
                self.log.info("Campaign: %s", runner.progress())
                last_progress = _time.monotonic()
            now = datetime.now(UTC)
            if self.deferrable:
                # Sleep through short gaps (a pacing slot a second away); defer only when nothing can
                # happen for a while except calls ending, which the trigger watches.
                wake = runner.next_wake(now, None)
                calm = runner.last_end is None or now - runner.last_end > quiet
                if wake - now > quiet and calm:
                    self._defer(runner, wake, store)
            wake = runner.next_wake(now, poll_every)
            _time.sleep(min(max((wake - datetime.now(UTC)).total_seconds(), 0.05), self.poll_interval))
        self.log.info("Campaign done: %s", runner.progress())
        return self._finish(runner)

    def _defer(self, runner: CampaignRunner, wake: datetime, store: Any) -> None:
        from airflow_provider_oneinbox.triggers.campaign import OneInboxCampaignTrigger

        live = [s.live for s in runner.states if s.live is not None]
        trigger = OneInboxCampaignTrigger(
            agent_id=self.agent_id,
            call_ids=live,
            wake_at=wake.isoformat() if wake < datetime.max.replace(tzinfo=UTC) else None,
            oneinbox_conn_id=self.oneinbox_conn_id,
            poll_interval=self.poll_interval,
            analysis_grace_period=self.analysis_grace_period,
        )
        self.log.info("Campaign: %s; deferring until a call ends or %s.", runner.progress(), wake.isoformat())
        if store is not None and not runner.save_progress():
            self.log.warning("Campaign: progress not saved; polling from the worker instead of deferring.")
            return
        self._runner = None  # the worker lets go: nothing to hang up from here
        last_start = None if runner.last_start is None else runner.last_start.isoformat()
        if store is not None and last_start is not None:
            try:  # one timestamp; a failure only costs the resume the create timeout's slack
                store.set(LAST_START_KEY, last_start)
            except Exception as exc:
                self.log.warning("Could not write %s to the task state store: %s", LAST_START_KEY, exc)
        self.defer(trigger=trigger, method_name="execute_complete", kwargs={"last_start": last_start})

    def on_kill(self) -> None:
        """Hang up every live call of the campaign, and say how many."""
        if self._runner is not None:
            stopped = self._runner.stop_all()
            self.log.warning("Campaign killed: hung up %d live call(s).", stopped)

    def _build(self, context: Context) -> CampaignRunner:
        from airflow_provider_oneinbox.campaign_ledger import CampaignLedger
        from airflow_provider_oneinbox.campaigns.contacts import load_contacts
        from airflow_provider_oneinbox.campaigns.hours import CallingHours
        from airflow_provider_oneinbox.campaigns.inflight import earlier_process_until
        from airflow_provider_oneinbox.campaigns.pacing import Pacing
        from airflow_provider_oneinbox.campaigns.progress import CampaignProgress
        from airflow_provider_oneinbox.campaigns.redial import RedialPolicy
        from airflow_provider_oneinbox.campaigns.runner import CampaignRunner
        from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
        from airflow_provider_oneinbox.ledger import earliest_attempt

        try:
            pacing = Pacing(self.max_concurrent_calls, self.calls_per_minute)
            redial = RedialPolicy.of(self.redial_outcomes, self.max_attempts, self.redial_after)
        except ValueError as exc:
            raise OneInboxInputError("campaign", str(exc)) from None
        hours = None if self.calling_hours is None else CallingHours.of(self.calling_hours, self.calling_days)
        book = load_contacts(self.contacts, on_invalid=self.on_invalid)  # type: ignore[arg-type]
        ti = context["ti"]
        store = context.get("task_state_store")
        ledger = CampaignLedger(
            self.hook, store, agent_id=self.agent_id, search_limit=self.reattach_search_limit, log=self.log
        )
        progress = None
        if store is not None:
            progress = CampaignProgress(
                store, contacts=len(book.contacts), log=self.log, try_number=ti.try_number or 1
            )
            progress.load()
        # A resume of this try with its progress read whole needs only the ledger's last page.
        fast = self.oneinbox_resumed and progress is not None and progress.usable
        ledger.load(tail_only=fast)
        since = earliest_attempt(None, context.get("dag_run"), ti)
        # Anchored on the run, not on this try or resume: the same deadline every time.
        deadline = since + self.deadline if isinstance(self.deadline, timedelta) else self.deadline
        map_index = ti.map_index if ti.map_index is not None else -1
        create_hook = OneInboxHook(oneinbox_conn_id=self.oneinbox_conn_id, max_retries=0)
        request = {"agent_id": self.agent_id, "from_number": self.from_number}
        runner = CampaignRunner(
            book, (ti.dag_id, ti.run_id, ti.task_id, map_index), request, self.hook, create_hook,
            ledger, pacing, redial, hours, deadline, since, self.log,
        )  # fmt: skip
        runner.analysis_grace = timedelta(seconds=self.analysis_grace_period)
        retry = (ti.try_number or 1) > 1 or self.oneinbox_resumed
        # Pace from the latest recorded attempt plus the create's timeout: the call may have started
        # that much after its record (see docs/campaigns.md, "Pacing after restarts").
        slack = timedelta(seconds=create_hook.settings.timeout)
        earlier = earlier_process_until(ti.try_number, self.oneinbox_resumed, datetime.now(UTC))
        runner.rebuild(
            search_unrecorded=(retry or store is None) and not fast,
            slack=slack,
            progress=progress,
            earlier_until=earlier,
        )
        if not self.oneinbox_resumed:  # a resume's calls are the campaign's own: it checked them
            self._check_quota(runner)
        self.log.info("Campaign: %d contacts, %d rejected.", len(book.contacts), len(book.rejected))
        return runner

    def _check_quota(self, runner: CampaignRunner) -> None:
        if self.quota_policy == "ignore":
            return
        needed = sum(1 for s in runner.states if not s.settled and not s.attempts)
        usage = self.hook.get_usage()
        remaining = usage.get("calls_remaining_today")
        if isinstance(remaining, int) and remaining < needed:
            message = f"the daily quota has {remaining} calls left and the campaign needs {needed}"
            if self.quota_policy == "fail":
                raise OneInboxInputError("quota_policy", f"{message}; no call placed (quota_policy='fail')")
            self.log.warning(
                "%s: placing what fits, then waiting for the reset (quota_policy='fit').", message
            )

    def _finish(self, runner: CampaignRunner) -> dict[str, Any]:
        from airflow_provider_oneinbox.campaigns.results import summarize, write_results
        from airflow_provider_oneinbox.campaigns.transcripts import fetch_transcripts

        if self.results_path is not None:
            texts = fetch_transcripts(self.hook, runner.results(), self.log) if self.transcripts else None
            return write_results(runner.results(), self.results_path, transcripts=texts)
        return {**summarize(runner.results()), "results": None, "transcripts": None}
