"""A stand-in for Airflow's task state store, for code that runs outside a task."""

from __future__ import annotations

import json
from typing import Any


class JsonTaskStore:
    """
    What ``context["task_state_store"]`` (Airflow 3.3's ``TaskStateStoreAccessor``) does, in memory.

    The accessor only works inside a running task (it talks to the supervisor); this one keeps its
    contract: values are stored as JSON text and read back as fresh objects, ``None`` is refused,
    a missing key gives ``default``. It counts round trips, remembers the largest value written,
    and can fail on demand.

    :param fail_sets: How many of the next ``set`` calls raise (nothing is stored).
    """

    def __init__(self, fail_sets: int = 0) -> None:
        self.values: dict[str, str] = {}
        self.gets = 0
        self.sets = 0
        self.largest = 0
        self.fail_sets = fail_sets
        self.fail_gets = 0

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (a fresh copy), or ``default``."""
        self.gets += 1
        if self.fail_gets:
            self.fail_gets -= 1
            raise RuntimeError("the API server did not answer")
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` as JSON."""
        self.sets += 1
        if value is None:
            raise ValueError("Cannot set value as None")
        if self.fail_sets:
            self.fail_sets -= 1
            raise RuntimeError("the API server did not answer")
        text = json.dumps(value)
        self.largest = max(self.largest, len(text.encode()))
        self.values[key] = text
