"""
A local fake of the OneInbox API, so DAGs, tests, demos and benchmarks run with no account and no network.

It models the API as documented (``/v1/`` paths, ``Authorization: Bearer`` keys, FastAPI-shaped errors,
the call lifecycle ``queued → initiated → in_progress → completed|failed`` with post-call data arriving a
few seconds *after* the end), on a simulated clock that tests can speed up or jump forward.

Start it::

    python -m airflow_provider_oneinbox.simulator --port 8765 --speed 20

or in-process::

    from airflow_provider_oneinbox.simulator import OneInboxSimulator

    with OneInboxSimulator(speed=20) as sim:
        requests.post(f"{sim.base_url}/v1/calls", headers={"Authorization": f"Bearer {sim.api_key}"}, ...)

Scenarios (see :data:`SCENARIOS`) are chosen by the last two digits of ``to_number``::

  ends in  scenario        what happens (simulated seconds)
  01       booked          rings 2 s, talks 30 s, completed; outcome "Appointment Booked"
  02       not_connected   rings 10 s, no answer; completed, duration 0, "Not Connected", end_reason no_answer
  03       voicemail       rings 4 s, voicemail picks up, agent leaves a 15 s message; "Voicemail"
  04       failed          status failed after 3 s, end_reason carrier_error, analysis.outcome null
  05       long            rings 2 s, talks 600 s (agent max duration); "Interested"
  06       unknown_status  undocumented status "ringing" for 5 s, then talks 20 s; "Interested"
  07       not_interested  rings 2 s, talks 12 s; "Not Interested", end_reason user_hangup
  08       no_analysis     talks 20 s; messages arrive, but analysis and outcome stay null forever
  ..       default         any other number: rings 2 s, talks 20 s; "Interested"

Faults (:class:`FaultSettings`, ``POST /_sim/faults`` or :meth:`OneInboxSimulator.set_faults`): 429 with
``Retry-After``, 5xx, latency, dropped connections, and the lost response of a ``POST /v1/calls`` that did
create the call; :meth:`OneInboxSimulator.refuse_connections` stops listening for a while.
Admin endpoints under ``/_sim/`` (no auth, never faulted, not counted): ``faults``, ``stats``, ``reset``,
``requests``, ``advance``, ``configure``, ``health``, ``docs``.

Assumptions beyond the documentation: the ``Idempotency-Key`` header is accepted and ignored (the API
documents none, so a retried create makes a second call); 409 for a number already registered; webhook
signatures (``X-OneInbox-Signature``) follow peers' HMAC-SHA256 scheme.
"""

from __future__ import annotations

from airflow_provider_oneinbox.simulator.core import DEFAULT_API_KEY, OneInboxSimulator
from airflow_provider_oneinbox.simulator.faults import FaultSettings
from airflow_provider_oneinbox.simulator.scenarios import SCENARIOS, ScenarioSpec, scenario_for
from airflow_provider_oneinbox.simulator.state import SEED_AGENT_IDS

__all__ = [
    "DEFAULT_API_KEY",
    "SCENARIOS",
    "SEED_AGENT_IDS",
    "FaultSettings",
    "OneInboxSimulator",
    "ScenarioSpec",
    "scenario_for",
]
