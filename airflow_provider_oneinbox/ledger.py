"""
The placed call ledger: which call a task instance placed, so that no try dials it twice.

OneInbox documents no idempotency for ``POST /v1/calls``. The ledger makes placing a call
at-most-once per idempotency key from three parts, each usable on its own:

* the **key** (:func:`call_idempotency_key`, :func:`contact_idempotency_key`), the same on every
  try, carried in the call's metadata under :data:`IDEMPOTENCY_METADATA_KEY`;
* **Airflow's task state store** (3.3+): the time of the first attempt is written *before* the
  POST (from then on a call may exist), ``sent=False`` after a create that certainly never left,
  and the call id as soon as the call exists;
* **the search** of the agent's calls for the key
  (:func:`~airflow_provider_oneinbox.placed_calls.search_placed_calls`), bounded in calls read
  and in time, which answers "was it placed?" when the store cannot: on Airflow 3.1 (no store),
  after a crash between the POST and saving the id, and after a create whose answer was lost.

Why not the Task SDK's ``ResumableJobMixin`` (3.3; ``airflow.providers.common.compat.sdk`` hands
out a stand-in below 3.3): it stores one job id under ``external_id_key`` *after* the submit and
(1) resubmits when the stored job failed, (2) resubmits when the worker died between the submit and
saving the id, (3) has nothing for a submit whose answer was lost, and (4) on Airflow 3.1 its
stand-in submits on every try. Each of those rings a phone twice. What the ledger keeps of it is the
part that fits: the id under one fixed store key (:data:`STATE_STORE_CALL_ID_KEY`), saved before
anything else happens, read first on a retry; the "attempt written before the POST" record, the
search and the uncertain-create recovery are its own. On 3.1 the fallback is the search alone.

:class:`PlacedCallLedger` serves one key (one task instance's call);
:class:`~airflow_provider_oneinbox.campaign_ledger.CampaignLedger` many (a campaign's contacts).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxMalformedResponseError,
    OneInboxNotFoundError,
    OneInboxResponseTooLargeError,
    OneInboxServerError,
    OneInboxTransportError,
)
from airflow_provider_oneinbox.placed_calls import (
    IDEMPOTENCY_METADATA_KEY,
    SEARCH_TIME_BUDGET_SECONDS,
    parse_created_at,
    search_placed_call,
)
from airflow_provider_oneinbox.task_errors import AirflowException, AirflowFailException, airflow_error

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

__all__ = [
    "IDEMPOTENCY_METADATA_KEY",
    "STATE_STORE_ATTEMPT_KEY",
    "STATE_STORE_CALL_ID_KEY",
    "PlacedCallLedger",
    "StateStore",
    "call_idempotency_key",
    "contact_idempotency_key",
    "earliest_attempt",
    "may_have_placed",
    "may_have_sent",
]

#: Task state store key (Airflow 3.3+) holding the id of the call a task instance placed.
STATE_STORE_CALL_ID_KEY = "oneinbox_call_id"
#: Task state store key (Airflow 3.3+) written before the first ``POST /v1/calls``:
#: ``{"idempotency_key", "attempted_at", "sent"}``, so a retry knows from when to search.
STATE_STORE_ATTEMPT_KEY = "oneinbox_call_attempt"

Call = dict[str, Any]


class StateStore(Protocol):
    """What the ledger uses of Airflow's ``context["task_state_store"]`` (3.3+): JSON values by key."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON, not ``None``) under ``key``."""


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def call_idempotency_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """
    The key that identifies "the call of this task instance", the same on every try.

    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The task's id.
    :param map_index: The map index (``-1`` when not mapped).
    """
    return f"airflow-{_digest([dag_id, run_id, task_id, map_index])}"


def contact_idempotency_key(
    dag_id: str, run_id: str, task_id: str, map_index: int, contact_key: str, attempt: int = 1
) -> str:
    """
    The key of one call of a campaign: one contact's ``attempt``-th call, the same on every try.

    It never equals a :func:`call_idempotency_key` (the contact and attempt are part of the digest).

    :param dag_id: The DAG's id.
    :param run_id: The DAG run's id.
    :param task_id: The task's id.
    :param map_index: The map index (``-1`` when not mapped).
    :param contact_key: The contact's stable identity within the campaign (e.g. a CRM id).
    :param attempt: Which call to this contact (1 for the first; a redial after no answer is 2).
    """
    return f"airflow-{_digest([dag_id, run_id, task_id, map_index, contact_key, attempt])}"


def may_have_placed(exc: OneInboxError) -> bool:
    """
    Whether a failed ``POST /v1/calls`` may have created the call all the same.

    :param exc: The error the create raised.
    """
    if isinstance(exc, OneInboxTransportError):
        return exc.request_sent
    if isinstance(exc, OneInboxServerError | OneInboxMalformedResponseError | OneInboxResponseTooLargeError):
        # A 5xx, or an answer the hook could not use (not JSON, too large, wrong-typed fields):
        # the API may well have created the call.
        return True
    return type(exc) is OneInboxError and (exc.status_code is None or 200 <= exc.status_code < 300)


def may_have_sent(attempt: Any) -> bool:
    """
    Whether an attempt record says an earlier try may have sent its create.

    :param attempt: The record as read from the task state store (anything).
    """
    return isinstance(attempt, dict) and attempt.get("sent") is not False


def earliest_attempt(attempt: Any, dag_run: Any = None, ti: Any = None) -> datetime:
    """
    The earliest time a task instance can have placed its call: the recorded attempt, else when its
    DAG run was due to run (``run_after``, which a clear leaves alone, unlike the run's
    ``start_date``), else when it started, else now.

    :param attempt: The attempt record from the task state store, or ``None``.
    :param dag_run: The context's ``dag_run``.
    :param ti: The context's ``ti``.
    """
    if isinstance(attempt, dict) and (at := parse_created_at(attempt.get("attempted_at"))):
        return at
    starts = [
        getattr(dag_run, "run_after", None),
        getattr(dag_run, "start_date", None),
        getattr(ti, "start_date", None),
    ]
    known = [start for start in starts if isinstance(start, datetime)]
    return min((s if s.tzinfo else s.replace(tzinfo=UTC) for s in known), default=datetime.now(UTC))


class PlacedCallLedger:
    """
    One idempotency key's ledger: its task state store records, and the search for its call.

    It never dials: the caller places the call between :meth:`mark_attempt` (which must succeed
    first when an earlier record says nothing was sent) and :meth:`save_call_id`.

    :param hook: The hook that reads and lists calls.
    :param store: Airflow's ``context["task_state_store"]`` (3.3+), or ``None`` (3.1: search only).
    :param key: The idempotency key the call carries in its metadata.
    :param agent_id: The agent the call is placed with (the search walks its calls).
    :param search_limit: At most this many calls are read by a search; 0 turns the search off
        (then a call that may exist and is not in the store fails the try, never dials).
    :param since: The earliest time the call can have been placed; :meth:`load_attempt` and
        :meth:`mark_attempt` move it. Defaults to now.
    :param time_budget: At most this many seconds per search.
    :param log: Where to log (the operator's ``self.log``).
    """

    def __init__(
        self,
        hook: OneInboxHook,
        store: StateStore | None,
        *,
        key: str,
        agent_id: str,
        search_limit: int,
        since: datetime | None = None,
        time_budget: float = SEARCH_TIME_BUDGET_SECONDS,
        log: Any = None,
    ) -> None:
        self.hook = hook
        self.store = store
        self.key = key
        self.agent_id = agent_id
        self.search_limit = search_limit
        self.since = since or datetime.now(UTC)
        self.time_budget = time_budget
        self.log = log or logging.getLogger(__name__)
        #: The attempt record as :meth:`load_attempt` found it (``None`` if absent or unread).
        self.attempt: Any = None

    def read(self, name: str) -> Any:
        """
        A task state store value, or ``None`` when absent, unreadable or there is no store.

        :param name: The store key.
        """
        if self.store is None:
            return None
        try:
            return self.store.get(name)
        except Exception as exc:
            self.log.warning("Could not read %s from the task state store: %s", name, exc)
            return None

    def load_attempt(self) -> Any:
        """Read the attempt record into :attr:`attempt` (and return it)."""
        self.attempt = self.read(STATE_STORE_ATTEMPT_KEY)
        return self.attempt

    def save_call_id(self, call_id: str) -> None:
        """
        Remember the call in the task state store, the first place a retry looks.

        :param call_id: The call's id.
        """
        if self.store is None:
            return
        try:
            self.store.set(STATE_STORE_CALL_ID_KEY, call_id)
        except Exception as exc:
            self.log.warning("Could not save call id %s to the task state store: %s", call_id, exc)

    def mark_attempt(self, *, sent: bool | None = None) -> bool:
        """
        Record in the task state store when the call may first have been placed.

        Written before dialling (``sent=None``: a call may exist from then on); after a create that
        certainly never reached the API, rewritten with ``sent=False`` so a retry knows no call can
        exist. An earlier try's record that a call may have been sent is never overwritten.

        :param sent: ``None`` before dialling, ``False`` once nothing can have been sent.
        :return: Whether the store now holds what was to be written (or needed nothing).
        """
        if self.store is None or (may_have_sent(self.attempt) and sent is None):
            return True
        now = datetime.now(UTC)
        at = self.since if sent is False else now
        try:
            self.store.set(
                STATE_STORE_ATTEMPT_KEY,
                {"idempotency_key": self.key, "attempted_at": at.isoformat(), "sent": sent},
            )
        except Exception as exc:
            self.log.warning("Could not record the call attempt in the task state store: %s", exc)
            return False
        finally:
            self.since = min(self.since, now)
        return True

    def find_placed(self, try_number: int, *, search: Callable[[], Call | None] | None = None) -> Call | None:
        """
        The call an earlier try placed, or ``None`` if there is none; fails the try when that is unknown.

        The stored id first; then, unless the record says nothing was sent or this is a first try
        with no record, the search.

        :param try_number: The task instance's try (a first try with no record has nothing to find).
        :param search: The search to run (default :meth:`search`).
        """
        stored_id = self.read(STATE_STORE_CALL_ID_KEY)
        if stored_id:
            try:
                call = self.hook.get_call(str(stored_id))
            except OneInboxNotFoundError:
                raise AirflowFailException(
                    f"Call {stored_id}, placed by an earlier try of this task, is not found (deleted, or "
                    "the connection now points at another workspace). Not dialling again: start a new DAG "
                    "run to call again."
                ) from None
            except OneInboxError as exc:
                raise airflow_error(exc, f"Reading call {stored_id}, placed by an earlier try") from None
            status = call.get("status")
            self.log.info("Reattaching to call %s placed by an earlier try (%s).", stored_id, status)
            return call
        if isinstance(self.attempt, dict) and self.attempt.get("sent") is False:
            self.log.info("No earlier try reached the API (it could not connect): no call can exist yet.")
            return None
        if try_number <= 1 and not isinstance(self.attempt, dict):
            return None
        if self.search_limit == 0:
            raise AirflowFailException(
                f"Try {try_number} of this task cannot tell whether an earlier try placed its call: "
                "the call id is not in the task state store and reattach_search_limit=0 turns the search "
                "off. Not dialling, so the number is not rung twice; raise reattach_search_limit to let "
                "retries reattach."
            )
        try:
            return (search or self.search)()
        except OneInboxError as exc:
            raise airflow_error(
                exc, "Looking for the call an earlier try may have placed (not dialling until that is known)"
            ) from None

    def search(self) -> Call | None:
        """
        The call carrying the key among the agent's calls created since :attr:`since` (its own
        record), or ``None`` once the search has ruled it out; fails the try when the search stops
        at a bound. List errors propagate as :class:`OneInboxError`.
        """
        since = self.since
        found = search_placed_call(
            self.hook,
            agent_id=self.agent_id,
            key=self.key,
            since=since,
            max_calls=self.search_limit,
            time_budget=self.time_budget,
        )
        if found.call is not None:
            self.log.info(
                "Reattaching to call %s placed by an earlier try (%s).",
                found.call.get("id"),
                found.call.get("status"),
            )
            # Its own record: a list item may leave out post-call data.
            return self.hook.get_call(str(found.call["id"]))
        if found.conclusive:
            self.log.info(
                "No call with key %s among agent %s's %d calls since %s: none was placed.",
                self.key,
                self.agent_id,
                found.examined,
                since.isoformat(),
            )
            return None
        message = (
            f"Could not rule out a call placed by an earlier try of this task: the search of agent "
            f"{self.agent_id}'s calls since {since.isoformat()} stopped because {found.reason}. Not "
            f"dialling, so the number is not rung twice (metadata {IDEMPOTENCY_METADATA_KEY}={self.key})."
        )
        if found.examined >= self.search_limit:
            raise AirflowFailException(f"{message} Raise reattach_search_limit for this busy agent.")
        raise AirflowException(f"{message} A retry searches again.")

    def recover_uncertain_create(
        self, failure: str, to_number: str, *, search: Callable[[], Call | None] | None = None
    ) -> Call:
        """
        After a create that may have placed the call: the call if a search finds it, else fail the try.

        :param failure: What went wrong with the create (for the messages).
        :param to_number: The number dialled (for the messages).
        :param search: The search to run (default :meth:`search`).
        """
        self.log.warning("Placing the call failed after it may have been sent (%s); looking for it.", failure)
        if self.search_limit == 0:
            raise AirflowFailException(
                f"Placing the call to {to_number} failed ({failure}): the call may or may not "
                f"have been placed, and reattach_search_limit=0 turns the search off, so a retry could not "
                f"rule it out either. Not retried, so the number is not rung twice (metadata "
                f"{IDEMPOTENCY_METADATA_KEY}={self.key})."
            )
        found = None
        try:
            found = (search or self.search)()
        except (OneInboxError, AirflowException) as search_exc:
            self.log.warning("Looking for the call failed too: %s", search_exc)
        if found is not None:
            return found
        raise AirflowException(
            f"Placing the call to {to_number} failed ({failure}): the call may or may not "
            f"have been placed, and it was not found. A retry of this task looks for it (metadata "
            f"{IDEMPOTENCY_METADATA_KEY}={self.key}) before dialling again."
        )
