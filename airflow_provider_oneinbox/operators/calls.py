"""Operators that place and hang up OneInbox calls."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxInputError,
    OneInboxQuotaExceededError,
    OneInboxTransportError,
    OneInboxValidationError,
)
from airflow_provider_oneinbox.links.oneinbox import OneInboxCallLink
from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator, default_deferrable
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS, WaitPolicy
from airflow_provider_oneinbox.rules.results import not_placed_result
from airflow_provider_oneinbox.task_errors import (
    AirflowException,
    AirflowFailException,
    airflow_error,
    fail_on_oneinbox_errors,
)
from airflow_provider_oneinbox.validation import require_json_object, require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.ledger import (
        IDEMPOTENCY_METADATA_KEY,
        STATE_STORE_ATTEMPT_KEY,
        STATE_STORE_CALL_ID_KEY,
        PlacedCallLedger,
        call_idempotency_key,
    )
    from airflow_provider_oneinbox.waiter import CallWaiter

__all__ = [
    "IDEMPOTENCY_METADATA_KEY",
    "STATE_STORE_ATTEMPT_KEY",
    "STATE_STORE_CALL_ID_KEY",
    "OneInboxPlaceCallOperator",
    "OneInboxStopCallOperator",
    "call_idempotency_key",
]

#: Names kept importable from here; they live in :mod:`airflow_provider_oneinbox.ledger`, which is
#: loaded when a task runs, not when a DAG file is parsed.
_LEDGER_NAMES = frozenset(
    {"IDEMPOTENCY_METADATA_KEY", "STATE_STORE_ATTEMPT_KEY", "STATE_STORE_CALL_ID_KEY", "call_idempotency_key"}
)


def __getattr__(name: str) -> Any:
    if name in _LEDGER_NAMES:
        from airflow_provider_oneinbox import ledger

        return getattr(ledger, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CallNotPlaced(AirflowFailException):
    """
    The call was refused for good before it existed (invalid arguments, or the API rejected
    them): it fails the task, or with ``failures_as_results=True`` becomes a ``not_placed`` result.

    :param message: The task's error message.
    :param reason: The refusal itself.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _refusal(exc: OneInboxError, action: str) -> AirflowException:
    """
    :func:`airflow_error`, as a :class:`CallNotPlaced` when the call was refused for its arguments or
    for the daily quota (refused for good today: a ``not_placed`` result with ``failures_as_results``).
    """
    error = airflow_error(exc, action)
    refused = OneInboxInputError | OneInboxValidationError | OneInboxQuotaExceededError
    if not exc.transient and isinstance(exc, refused):
        return CallNotPlaced(str(error), reason=str(exc))
    return error


class OneInboxPlaceCallOperator(OneInboxBaseOperator):
    """
    Place an outbound OneInbox call, at most once per task instance, and optionally wait for it.

    **Never rings a phone twice.** Each task instance (DAG, run, task, map index; not the try)
    has an idempotency key, stored in the call's ``metadata`` under ``airflow_idempotency_key``
    (with ``airflow_dag_id/run_id/task_id/map_index``) and sent as an ``Idempotency-Key``
    header (OneInbox does not document honouring it). Before dialling, the operator looks for
    the call this task instance already placed: first in Airflow's task state store (3.3+,
    where the id is saved as soon as the call exists, and where the time of the first attempt
    is written *before* the POST), then, on a retry, among every call the agent created since
    that first attempt (else since the DAG run started), minus a 10-minute margin for clock
    skew, matching ``airflow_idempotency_key``. The search reads at most
    ``reattach_search_limit`` calls and five minutes; if it stops at that bound (or on a list
    page that makes no sense) it has not ruled the call out, and the try fails rather than
    dialling. A call found is reattached to, whatever its state: a failed call is reported,
    never redialled. Clearing a task counts as a retry: it reattaches rather than calling
    again; trigger a new DAG run to call again.

    If ``POST /v1/calls`` fails in a way that leaves the call's existence unknown (5xx, dropped
    connection), the same search runs at once; if the call is not found, the task fails (and
    retries) saying the call may or may not have been placed, and the retry searches again
    before dialling.

    As soon as the call exists, XComs ``call_id`` and ``call_url`` are pushed (the "OneInbox
    Call" link). Then it returns the call id, or with ``wait_for_completion=True`` waits like
    :class:`~airflow_provider_oneinbox.sensors.calls.OneInboxCallSensor` and returns the same
    result dict (XComs ``transcript`` and ``analysis`` too). Invalid arguments and permanent API
    errors (bad key, unknown agent, rejected body) fail the task without retries, before dialling.

    Works with dynamic task mapping, e.g. ``.partial(agent_id=..., from_number=...)
    .expand(to_number=[...])`` or ``.expand_kwargs([{"to_number": ..., "variables": {...}}])``:
    each map index places (at most) one call.

    :param agent_id: The OneInbox agent that speaks (templated).
    :param to_number: Number to call, E.164 such as ``"+14155550123"`` (templated).
    :param from_number: Caller number, E.164, registered with OneInbox (templated).
    :param variables: Values injected into the agent's first message and prompt, a JSON object
        (templated). Template values per run, e.g. ``{"customer_name": "{{ params.name }}",
        "order_id": "{{ dag_run.conf['order_id'] }}"}``; to template the whole dict from one
        expression, set ``render_template_as_native_obj=True`` on the DAG.
    :param webhook_url: URL receiving this call's events (templated).
    :param metadata: Your own data stored with the call (templated); its keys win over the
        ``airflow_*`` ones added here, except ``airflow_idempotency_key``.
    :param overrides: Per-call ``llm``/``transcriber``/``tts``/``first_message`` overrides (templated).
    :param scheduled_at: When to place the call, timezone-aware ``datetime`` or ISO 8601 string
        (templated). With ``wait_for_completion``, ``timeout`` must cover the delay.
    :param oneinbox_conn_id: Airflow connection to the OneInbox API.
    :param wait_for_completion: Wait for the call to end and return its result instead of its id.
    :param deferrable: Wait in the triggerer (frees the worker slot) rather than polling here.
        Not given: the deployment's ``[operators] default_deferrable`` if it sets one
        (``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE`` or ``airflow.cfg``), else ``True`` (see
        :func:`~airflow_provider_oneinbox.operators._base.default_deferrable`).
    :param poll_interval: Seconds between two status polls while waiting (> 0).
    :param timeout: Seconds to wait for the call (>= ``poll_interval``); ``execution_timeout``
        also bounds the wait, deferred or not.
    :param analysis_grace_period: Seconds to keep waiting for post-call data after the call
        ended; then the result has ``analysis_missing=True``.
    :param fail_on_outcomes: Outcomes (case-insensitive) that fail the task without retries.
    :param skip_on_outcomes: Outcomes (case-insensitive) that skip the task.
    :param hang_up_on_timeout: Hang up a call still running when ``timeout`` passes (the task
        then fails without retries either way).
    :param hang_up_on_kill: Hang up a call being awaited when the task is killed.
    :param max_consecutive_errors: Failed polls in a row with a transient error (429, 5xx,
        network) tolerated while waiting; each poll is one request, its pauses doubling from
        ``poll_interval`` (at least a 429's ``Retry-After``, at most 300 s).
    :param reattach_search_limit: At most this many of the agent's calls are read when searching
        for the call an earlier try placed (100 per request); a search that reaches it without
        covering the window fails the try rather than dialling. 0 disables the search: a retry
        that finds no call id in the task state store then fails without dialling, since it
        cannot rule out a call already placed.
    :param failures_as_results: Return a result instead of failing the task when the call ends
        ``failed`` (the call's result, ``status`` ``"failed"``) or is refused for its arguments
        before it exists (an invalid number, a body the API rejects: ``status`` ``"not_placed"``
        and the refusal in ``reason``), so that a mapped campaign's results line up with its
        contacts. Other failures (a bad key, an unknown agent, the API down, a timeout) still fail
        the task.
    :param shared_polling: While deferred, learn the call's status from the triggerer's shared
        poller for ``agent_id`` (one list request for many waits, e.g. a mapped campaign; see
        :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`). ``False``
        polls ``GET /v1/calls/{id}`` for this call alone.
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "to_number",
        "from_number",
        "variables",
        "webhook_url",
        "metadata",
        "overrides",
        "scheduled_at",
    )
    template_fields_renderers = {"variables": "json", "metadata": "json", "overrides": "json"}
    operator_extra_links = (OneInboxCallLink(),)
    ui_color = "#dff4f0"

    #: How this operator waits for its call: a :class:`~airflow_provider_oneinbox.waiting.CallWaiter`
    #: subclass to wait differently; ``None`` for ``CallWaiter`` itself (imported when a task runs).
    waiter_class: type[CallWaiter] | None = None
    #: This task instance's placed call ledger (set by ``execute``).
    _ledger: PlacedCallLedger
    #: Whether this try's create failed before anything reached the API (set by ``_place_call``).
    _create_never_sent: bool = False

    def __init__(
        self,
        *,
        agent_id: str,
        to_number: str,
        from_number: str,
        variables: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        metadata: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        scheduled_at: str | datetime | None = None,
        oneinbox_conn_id: str = "oneinbox_default",
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = 10,
        timeout: float | timedelta = 3600,
        analysis_grace_period: float = 60,
        fail_on_outcomes: Collection[str] = (),
        skip_on_outcomes: Collection[str] = (),
        hang_up_on_timeout: bool = True,
        hang_up_on_kill: bool = True,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        reattach_search_limit: int = 5000,
        shared_polling: bool = True,
        failures_as_results: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(oneinbox_conn_id=oneinbox_conn_id, **kwargs)
        self.failures_as_results = bool(failures_as_results)
        self.agent_id = agent_id
        self.to_number = to_number
        self.from_number = from_number
        self.variables = variables
        self.webhook_url = webhook_url
        self.metadata = metadata
        self.overrides = overrides
        self.scheduled_at = scheduled_at
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        if isinstance(reattach_search_limit, bool) or not isinstance(reattach_search_limit, int):
            raise ValueError(f"reattach_search_limit must be an int >= 0, got {reattach_search_limit!r}.")
        if reattach_search_limit < 0:
            raise ValueError(f"reattach_search_limit must be >= 0, got {reattach_search_limit}.")
        self.reattach_search_limit = reattach_search_limit
        self.wait_policy = WaitPolicy.of(
            poll_interval=poll_interval,
            timeout=timeout,
            analysis_grace_period=analysis_grace_period,
            fail_on_outcomes=fail_on_outcomes,
            skip_on_outcomes=skip_on_outcomes,
            hang_up_on_timeout=hang_up_on_timeout,
            hang_up_on_kill=hang_up_on_kill,
            max_consecutive_errors=max_consecutive_errors,
            shared_polling=shared_polling,
        )
        self._waiter: CallWaiter | None = None

    @property
    def waiter(self) -> CallWaiter:
        """This task run's waiter (made on first use, for this very task object)."""
        if self._waiter is None or self._waiter.task is not self:
            from airflow_provider_oneinbox.waiter import CallWaiter

            waiter_class = self.waiter_class or CallWaiter
            self._waiter = waiter_class(self, self.wait_policy, failures_as_results=self.failures_as_results)
        return self._waiter

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Resume after the trigger fired: validate its event and finish the task.

        :param context: The task context.
        :param event: The trigger's event (see
            :class:`~airflow_provider_oneinbox.triggers.calls.OneInboxCallTrigger`).
        """
        return self.waiter.complete(context, event)

    def on_kill(self) -> None:
        """Hang up the call awaited when the task is killed (unless ``hang_up_on_kill=False``)."""
        if self._waiter is not None:
            self._waiter.on_kill()

    def execute(self, context: Context) -> Any:
        """Find or place this task instance's call, save and push its id and link, then return or wait."""
        try:
            return self._find_or_place(context)
        except CallNotPlaced as exc:
            if not self.failures_as_results:
                raise
            self.log.warning("%s Returning it as a result (failures_as_results=True).", exc)
            return not_placed_result(to_number=self.to_number, agent_id=self.agent_id, reason=exc.reason)

    def _find_or_place(self, context: Context) -> Any:
        request = self._validated_request()
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        from airflow_provider_oneinbox import ledger as ledgers  # when a task runs, not at DAG parse

        key = ledgers.call_idempotency_key(ti.dag_id, ti.run_id, ti.task_id, map_index)
        metadata = self._call_metadata(ti, key, request.pop("metadata"))
        hook = self.hook
        store = context.get("task_state_store")
        self._ledger = ledger = ledgers.PlacedCallLedger(
            hook,
            store,
            key=key,
            agent_id=request["agent_id"],
            search_limit=self.reattach_search_limit,
            log=self.log,
        )
        attempt = ledger.load_attempt()
        ledger.since = self._earliest_attempt(context, attempt)
        call = self._find_placed_call(hook, store, ti.try_number, key, request["agent_id"], attempt)
        if call is None:
            if not self._mark_attempt(store, key, attempt) and isinstance(attempt, dict):
                # The store says no call was ever sent, and cannot be told that one may be now: a
                # later try would trust the old record and dial without searching.
                raise AirflowException(
                    "Could not record in the task state store that a call may be placed; not dialling "
                    "(a retry tries again)."
                )
            try:
                call = self._place_call(hook, request, metadata, key)
            except AirflowException:
                if self._create_never_sent and not ledgers.may_have_sent(attempt):
                    self._mark_attempt(store, key, attempt, sent=False)
                raise
        call_id = str(call["id"])
        self._save_call_id(store, call_id)
        self.waiter.push_call_ref(context, call_id)
        if not self.wait_for_completion:
            return call_id
        return self.waiter.wait(context, call_id, call, deferrable=self.deferrable)

    def _validated_request(self) -> dict[str, Any]:
        """
        The ``create_call`` arguments, checked once after templating and before any request.

        They are the fields of one :class:`~airflow_provider_oneinbox.models.requests.CallRequest`
        (numbers that can exist, ``scheduled_at`` an ISO 8601 string): what ``_place_call`` sends,
        with the ``airflow_*`` keys added to ``metadata``.
        """
        # At run time, not at DAG parse: the models import pydantic and phonenumbers.
        from airflow_provider_oneinbox.hooks.api import call_request

        try:
            request = call_request(
                agent_id=self.agent_id,
                to_number=self.to_number,
                from_number=self.from_number,
                variables=self.variables,
                webhook_url=self.webhook_url,
                scheduled_at=self.scheduled_at,
                metadata=self.metadata,
                overrides=self.overrides,
            )
        except OneInboxError as exc:
            raise _refusal(exc, f"Task {self.task_id}: checking the call's arguments") from None
        return request.arguments()

    def _call_metadata(self, ti: Any, key: str, user_metadata: dict[str, Any] | None) -> dict[str, Any]:
        from airflow_provider_oneinbox.ledger import IDEMPOTENCY_METADATA_KEY

        metadata: dict[str, Any] = {
            "airflow_dag_id": ti.dag_id,
            "airflow_run_id": ti.run_id,
            "airflow_task_id": ti.task_id,
            "airflow_map_index": ti.map_index,
            **(user_metadata or {}),
            IDEMPOTENCY_METADATA_KEY: key,
        }
        try:
            return require_json_object("metadata", metadata)
        except OneInboxError as exc:
            raise airflow_error(exc, f"Task {self.task_id}: checking the call's metadata") from None

    # The steps below delegate to the ledger; they stay methods so that a subclass (and the tests'
    # crash simulations) can step in between them.

    def _read_store(self, store: Any, key: str) -> Any:
        return self._ledger.read(key)

    def _save_call_id(self, store: Any, call_id: str) -> None:
        """Remember the call in Airflow's task state store (3.3+), the first place a retry looks."""
        self._ledger.save_call_id(call_id)

    def _mark_attempt(self, store: Any, key: str, attempt: Any, *, sent: bool | None = None) -> bool:
        """Record when the call may first have been placed: :meth:`PlacedCallLedger.mark_attempt`."""
        return self._ledger.mark_attempt(sent=sent)

    @staticmethod
    def _earliest_attempt(context: Context, attempt: Any) -> datetime:
        """The earliest time this task instance can have placed its call: :func:`earliest_attempt`."""
        from airflow_provider_oneinbox.ledger import earliest_attempt

        return earliest_attempt(attempt, context.get("dag_run"), context["ti"])

    def _find_placed_call(
        self, hook: OneInboxHook, store: Any, try_number: int, key: str, agent_id: str, attempt: Any = None
    ) -> dict[str, Any] | None:
        """The call an earlier try of this task instance placed, or ``None`` if there is none."""
        return self._ledger.find_placed(
            try_number, search=lambda: self._search_placed_call(hook, key, agent_id)
        )

    def _search_placed_call(self, hook: OneInboxHook, key: str, agent_id: str) -> dict[str, Any] | None:
        """
        The call carrying ``key`` among the agent's calls created since the first attempt, or ``None``
        once the search has ruled it out; fails the try when the search stops at a bound.
        """
        return self._ledger.search()

    def _place_call(
        self, hook: OneInboxHook, request: dict[str, Any], metadata: dict[str, Any], key: str
    ) -> dict[str, Any]:
        from airflow_provider_oneinbox.ledger import may_have_placed

        arguments = {**request, "metadata": metadata}
        self._create_never_sent = False
        try:
            call = hook.create_call(**arguments, idempotency_key=key)
        except OneInboxError as exc:
            self._create_never_sent = isinstance(exc, OneInboxTransportError) and not exc.request_sent
            if not may_have_placed(exc):
                raise _refusal(exc, f"Placing the call to {request['to_number']}") from None
            return self._find_uncertain_call(hook, request, key, str(exc))
        if not call.get("id"):
            return self._find_uncertain_call(hook, request, key, "the API answered without a call id")
        self.log.info("Placed call %s to %s (%s).", call.get("id"), request["to_number"], call.get("status"))
        return call

    def _find_uncertain_call(
        self, hook: OneInboxHook, request: dict[str, Any], key: str, failure: str
    ) -> dict[str, Any]:
        """After a create that may have placed the call: the call if a search finds it, else fail the try."""
        return self._ledger.recover_uncertain_create(
            failure,
            request["to_number"],
            search=lambda: self._search_placed_call(hook, key, request["agent_id"]),
        )


class OneInboxStopCallOperator(OneInboxBaseOperator):
    """
    Hang up a OneInbox call (``POST /v1/calls/{id}/stop``); returns ``{"call_id", "status", "end_reason"}``.

    Stopping is safe to repeat. Post-call data (transcript, analysis) arrives a few seconds
    later: wait for it with :class:`~airflow_provider_oneinbox.sensors.calls.OneInboxCallSensor`.

    :param call_id: Id of the call to hang up (templated).
    :param oneinbox_conn_id: Airflow connection to the OneInbox API.
    """

    template_fields: Sequence[str] = ("call_id",)
    operator_extra_links = (OneInboxCallLink(),)
    ui_color = "#f4dfdf"

    def __init__(self, *, call_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call_id = call_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Hang up the call and return its id, status and end reason."""
        with fail_on_oneinbox_errors(f"Hanging up OneInbox call {self.call_id!r}"):
            call_id = require_text("call_id", self.call_id)
            call = self.hook.stop_call(call_id)
        with contextlib.suppress(OneInboxError):
            self.oneinbox_call_url = self.hook.call_url(call_id)
        self.log.info(
            "Hung up call %s: status %s, end_reason %s.", call_id, call.get("status"), call.get("end_reason")
        )
        return {
            "call_id": call.get("id", call_id),
            "status": call.get("status"),
            "end_reason": call.get("end_reason"),
        }
