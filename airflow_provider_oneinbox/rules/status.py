"""Statuses of a OneInbox call and which of them are final (a rule: standard library only)."""

from __future__ import annotations

from airflow_provider_oneinbox.rules._compat import StrEnum


class OneInboxCallStatus(StrEnum):
    """
    The documented lifecycle of a call: ``queued`` → ``initiated`` → ``in_progress`` → ``completed|failed``.

    The API may report statuses that are not documented (carriers know ``ringing``, ``busy``,
    ...). Such a status is not a member; :meth:`is_terminal` treats it as still running.
    """

    QUEUED = "queued"
    INITIATED = "initiated"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        """Statuses after which a call never changes again."""
        return frozenset({cls.COMPLETED.value, cls.FAILED.value})

    @classmethod
    def is_terminal(cls, status: str | None) -> bool:
        """Whether ``status`` is final; an unknown, missing or malformed status is not."""
        return isinstance(status, str) and status in cls.terminal_states()

    @classmethod
    def is_known(cls, status: str | None) -> bool:
        """Whether ``status`` is one of the documented statuses."""
        return isinstance(status, str) and status in cls._value2member_map_
