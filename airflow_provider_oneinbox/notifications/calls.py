"""``OneInboxCallNotifier``: phone a human when a task fails, a deadline passes or an approval waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_oneinbox.rules.notify import DEFAULT_ACKNOWLEDGE_OUTCOMES

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oneinbox.notifications.facts import NotificationFacts
    from airflow_provider_oneinbox.notifications.placing import NotifyOutcome

__all__ = ["DEFAULT_ESCALATION_DAG_ID", "OneInboxCallNotifier", "send_oneinbox_call_notification"]

#: The escalation DAG's id (``example_dags/oneinbox_notify_escalation.py`` builds it).
DEFAULT_ESCALATION_DAG_ID = "oneinbox_notify_escalation"
#: Most escalation numbers after the first call.
MAX_ESCALATION_NUMBERS = 5


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _seconds(field: str, value: float | timedelta, *, allow_zero: bool) -> float:
    from airflow_provider_oneinbox.validation import require_positive_number

    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return require_positive_number(field, seconds, allow_zero=allow_zero)


class OneInboxCallNotifier(BaseNotifier):
    """
    Phone someone through a OneInbox agent that says what happened; at most once per notification.

    Use it as ``on_failure_callback`` / ``on_retry_callback``, in a human-in-the-loop operator's
    ``notifiers``, or as a Deadline Alert's callback (``SyncCallback`` on Airflow 3.3+, which runs it
    on an executor's worker; see ``docs/notifications.md``). The call's ``variables`` tell the
    agent: ``alert`` (``task_failed``, ``task_retry``, ``approval_requested``, ``deadline_missed``,
    ``dag_failed``), ``summary`` (one sentence), ``dag_id``, ``run_id``, ``task_id``,
    ``try_number``, ``error`` (the exception's first line, at most 200 characters, with the
    connection's key redacted), ``log_url`` (built from ``[api] base_url``) and, where they apply,
    ``deadline_time``, ``approval_subject``, ``approval_options``, ``approval_url`` (the page where
    the request is answered). Never a secret or a log.

    **At most one call per (DAG run, task, try) and notifier**, however often Airflow runs the
    callback: the call carries an idempotency key in its metadata, and a bounded search of the
    agent's recent calls comes before the one ``POST /v1/calls`` (never retried blindly). A search
    that cannot finish places nothing. **Cool-down**: a call of this notifier in the same DAG run
    within ``cooldown`` silences the next one (a storm of failing tasks rings once).

    **Escalation**: with ``escalation_numbers``, once the first call is placed the notifier starts
    one run of the escalation DAG (``escalation_dag_id``, built by
    :func:`~airflow_provider_oneinbox.notifications.escalation.escalation_dag`), which waits for the
    call deferrably and, unless its outcome is one of ``acknowledge_outcomes``, calls the next
    number, and so on. Starting it needs the notifier to run in a task process (task callbacks,
    human-in-the-loop notifiers); elsewhere it logs that it could not.

    A failure to notify (API down, a bad number, a refused call) is logged as an error and never
    raised: the task's own outcome stays what it was.

    :param to_number: Number to call, E.164 (templated); checked now unless templated.
    :param agent_id: The agent that speaks (templated).
    :param from_number: Caller number, E.164, registered with OneInbox (templated).
    :param variables: More variables for the agent (templated); they win over the facts above.
    :param oneinbox_conn_id: Airflow connection to the OneInbox API.
    :param notifier_id: This notifier's identity in its keys: two notifiers with different ids
        each ring once. Default: derived from ``to_number`` and ``agent_id`` as written.
    :param cooldown: Seconds (or a ``timedelta``) a call of this notifier silences the notifier in
        the same DAG run; ``0`` turns the cool-down off (then each task try still rings once).
    :param escalation_numbers: Numbers to call in turn while no call is acknowledged (templated).
    :param acknowledge_outcomes: Call outcomes that acknowledge (case-insensitive).
    :param escalation_dag_id: The escalation DAG to start.
    :param search_limit: At most this many of the agent's recent calls are read before calling.
    :param context: Set by Airflow when it builds the notifier itself (a Deadline Alert).
    """

    template_fields: Sequence[str] = (
        "to_number",
        "agent_id",
        "from_number",
        "variables",
        "escalation_numbers",
    )

    def __init__(
        self,
        *,
        to_number: str,
        agent_id: str,
        from_number: str,
        variables: dict[str, Any] | None = None,
        oneinbox_conn_id: str = "oneinbox_default",
        notifier_id: str | None = None,
        cooldown: float | timedelta = 900,
        escalation_numbers: Sequence[str] = (),
        acknowledge_outcomes: Sequence[str] = DEFAULT_ACKNOWLEDGE_OUTCOMES,
        escalation_dag_id: str = DEFAULT_ESCALATION_DAG_ID,
        search_limit: int = 1000,
        context: Context | None = None,
    ) -> None:
        from airflow_provider_oneinbox.validation import (
            require_int_between,
            require_string_list,
            require_text,
        )

        super().__init__(context=context)
        numbers = [escalation_numbers] if isinstance(escalation_numbers, str) else list(escalation_numbers)
        if len(numbers) > MAX_ESCALATION_NUMBERS:
            from airflow_provider_oneinbox.exceptions import OneInboxInputError

            raise OneInboxInputError(
                "escalation_numbers",
                f"at most {MAX_ESCALATION_NUMBERS} numbers, got {len(numbers)}; call a group number instead "
                "of a longer chain",
            )
        self.to_number = self._checked_number("to_number", to_number)
        self.from_number = self._checked_number("from_number", from_number)
        self.escalation_numbers = [self._checked_number("escalation_numbers", n) for n in numbers]
        self.agent_id = agent_id if _templated(agent_id) else require_text("agent_id", agent_id)
        self.variables = variables
        self.oneinbox_conn_id = require_text("oneinbox_conn_id", oneinbox_conn_id)
        self.notifier_id = notifier_id or f"{to_number}|{agent_id}"
        self.cooldown = timedelta(seconds=_seconds("cooldown", cooldown, allow_zero=True))
        self.acknowledge_outcomes = require_string_list("acknowledge_outcomes", list(acknowledge_outcomes))
        self.escalation_dag_id = require_text("escalation_dag_id", escalation_dag_id)
        self.search_limit = require_int_between("search_limit", search_limit, 1)

    @staticmethod
    def _checked_number(field: str, value: Any) -> Any:
        if _templated(value):
            return value
        from airflow_provider_oneinbox.models.phone import require_phone_number

        return require_phone_number(field, value)

    def __call__(self, *args: Any) -> None:
        """
        Render the templated fields and :meth:`notify`, as ``BaseNotifier`` does; a template that
        cannot render is logged too, never raised (a human-in-the-loop step must not fail for it).

        :param args: The context, as Airflow passes it.
        """
        try:
            super().__call__(*args)
        except Exception as exc:
            self.log.error(
                "OneInboxCallNotifier placed no call: %s. The task's own outcome is unchanged.",
                self._redacted(f"{type(exc).__name__}: {exc}"),
            )

    def notify(self, context: Context) -> None:
        """
        Place the call (on the worker running the callback); log, never raise, if it cannot.

        :param context: The context Airflow passed.
        """
        try:
            self._notify(context)
        except Exception as exc:
            self.log.error(
                "OneInboxCallNotifier placed no call to %s: %s. The task's own outcome is unchanged.",
                self.to_number,
                self._redacted(f"{type(exc).__name__}: {exc}"),
            )

    async def async_notify(self, context: Context) -> None:
        """
        Refuse to place a call from the triggerer; say what to use instead.

        ``POST /v1/calls`` is never sent from a trigger (a triggerer restart or handover runs it
        again). Airflow runs ``AsyncCallback`` Deadline Alerts here: use
        ``SyncCallback(OneInboxCallNotifier, kwargs=...)`` (Airflow 3.3+), which runs on a worker.

        :param context: The context Airflow passed.
        """
        message = (
            "OneInboxCallNotifier placed no call: Airflow ran it in the triggerer (an AsyncCallback), "
            "and POST /v1/calls is never sent from a trigger (a restart or handover would run it again). "
            "Use SyncCallback(OneInboxCallNotifier, kwargs={...}) for the Deadline Alert (Airflow 3.3+): "
            "it runs on an executor's worker. See docs/notifications.md."
        )
        self.log.error(message)
        raise RuntimeError(message)

    def _hook(self) -> Any:
        if getattr(self, "_hook_instance", None) is None:
            from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

            self._hook_instance = OneInboxHook(self.oneinbox_conn_id)
        return self._hook_instance

    def _redacted(self, text: str) -> str:
        hook = getattr(self, "_hook_instance", None)
        settings = hook.__dict__.get("settings") if hook is not None else None
        if settings is None:
            return text
        from airflow_provider_oneinbox.hooks.redaction import redact

        return redact(text, settings.api_key)

    def _notify(self, context: Context) -> NotifyOutcome:
        from airflow_provider_oneinbox.notifications.facts import facts_of
        from airflow_provider_oneinbox.notifications.placing import place_notification_call
        from airflow_provider_oneinbox.rules.notify import notification_key, run_notification_key

        facts = facts_of(context)
        key = notification_key(
            self.notifier_id, facts.dag_id, facts.run_id, facts.task_id, facts.map_index, facts.try_number
        )
        run_key = run_notification_key(self.notifier_id, facts.dag_id, facts.run_id)
        hook = self._hook()
        arguments = self._arguments(facts, key, run_key, hook)
        outcome = place_notification_call(
            hook,
            arguments,
            key=key,
            run_key=run_key,
            since=facts.since,
            cooldown=self.cooldown,
            search_limit=self.search_limit,
            log=self.log,
        )
        if outcome.action == "not_placed":
            self.log.error(
                "OneInboxCallNotifier placed no call to %s (%s): %s. The task's own outcome is unchanged.",
                arguments["to_number"],
                facts.summary(),
                self._redacted(outcome.reason),
            )
        elif outcome.call is not None and outcome.action != "cooling_down" and self.escalation_numbers:
            from airflow_provider_oneinbox.notifications.escalation import request_escalation

            request_escalation(self, outcome.call, arguments, key, log=self.log)
        return outcome

    def _arguments(self, facts: NotificationFacts, key: str, run_key: str, hook: Any) -> dict[str, Any]:
        """The checked ``create_call`` arguments: the facts as variables, both keys in the metadata."""
        from airflow.configuration import conf

        from airflow_provider_oneinbox.hooks.api import call_request
        from airflow_provider_oneinbox.placed_calls import IDEMPOTENCY_METADATA_KEY
        from airflow_provider_oneinbox.rules.notify import NOTIFY_RUN_METADATA_KEY, required_actions_url

        base_url = conf.get("api", "base_url", fallback=None) or "http://localhost:8080/"
        error = self._redacted_with(hook, facts.error)
        told: dict[str, Any] = {
            "alert": facts.kind,
            "summary": self._redacted_with(hook, facts.summary()),
            "dag_id": facts.dag_id,
            "run_id": facts.run_id,
            "task_id": facts.task_id or "",
            "try_number": str(facts.try_number) if facts.task_id else "",
            "error": error,
            "log_url": facts.link(base_url),
            **facts.extra,
        }
        if facts.kind == "approval_requested" and facts.task_id:
            told["approval_url"] = required_actions_url(
                base_url, facts.dag_id, facts.run_id, facts.task_id, facts.map_index
            )
        variables = {name: value for name, value in told.items() if value}
        variables.update(self.variables or {})
        metadata = {
            "airflow_dag_id": facts.dag_id,
            "airflow_run_id": facts.run_id,
            "airflow_task_id": facts.task_id,
            "airflow_map_index": facts.map_index,
            "airflow_try_number": facts.try_number,
            "airflow_notification": facts.kind,
            IDEMPOTENCY_METADATA_KEY: key,
            NOTIFY_RUN_METADATA_KEY: run_key,
        }
        request = call_request(
            agent_id=self.agent_id,
            to_number=self.to_number,
            from_number=self.from_number,
            variables=variables,
            metadata=metadata,
        )
        return request.arguments()

    @staticmethod
    def _redacted_with(hook: Any, text: str) -> str:
        from airflow_provider_oneinbox.hooks.redaction import redact

        try:
            api_key = hook.settings.api_key
        except Exception:
            return text
        return redact(text, api_key)


#: The notifier's function form, as Airflow's own providers name theirs.
send_oneinbox_call_notification = OneInboxCallNotifier
