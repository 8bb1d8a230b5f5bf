"""
A local fake of the OneInbox API, so DAGs, tests, demos and benchmarks run with no account and no network.

It is written from the published API reference, not from this provider's client: where the reference
allows several shapes, an option chooses (the default is the shape the reference describes most
directly). It models ``/v1/`` paths, ``Authorization: Bearer`` keys, FastAPI-shaped errors (some with a
``code``), the call lifecycle ``queued → initiated → in_progress → completed|failed`` with post-call data
arriving a few seconds *after* the end, a daily quota, inbound traffic, on a simulated clock that tests
can speed up or jump forward.

It needs the provider's ``simulator`` extra (``pip install 'airflow-provider-oneinbox[simulator]'``);
without it, importing a name from here raises :class:`~.extra.SimulatorNotInstalledError` saying so.
Start it::

    python -m airflow_provider_oneinbox.simulator --port 8765 --speed 20

or in-process::

    from airflow_provider_oneinbox.simulator import OneInboxSimulator

    with OneInboxSimulator(speed=20) as sim:
        requests.post(f"{sim.base_url}/v1/calls", headers={"Authorization": f"Bearer {sim.api_key}"}, ...)

Options (:class:`SimOptions`; constructor kwargs, :meth:`OneInboxSimulator.configure`,
``POST /_sim/configure``, CLI flags; :meth:`OneInboxSimulator.reset` restores the constructor's values):

  post_call_shape           ``analysis`` before post-call processing (live, or ended and not yet analysed):
                            ``nulls`` (default) ``{"outcome": null, "summary": null}``, ``empty`` ``{}``,
                            ``null``. ``messages`` is ``[]`` and ``transcript`` null until then.
  transcript_shape          ``string`` (default, the deprecated string) or ``list`` (``[{role, content}]``)
  id_style                  ``uuid`` (default; a path id that is not a UUID gets FastAPI's 422) or
                            ``prefixed`` (``call_...``, ``phn_...``). Seeded agents keep ``agt_sales``,
                            ``agt_support`` and ``agt_survey`` in both styles.
  max_calls_per_day         daily quota of ``POST /v1/calls`` (00:00 UTC, simulated clock); None: unlimited
  quota_refusal_status      429 (default, ``Retry-After`` until the reset) or 403 past the quota
  max_calls_per_second      creates accepted per rolling simulated second, workspace-wide; None: off
  max_concurrent_calls      live calls (queued, initiated, in progress) per agent; None: off
  inbound_calls_per_minute  inbound calls per registered number per simulated minute (default 0: off)
  recording_bytes           size of every served recording (default 64 KiB; streamed, deterministic per call)
  recording_base_url        where ``recording_url`` links point (default: the simulator, which serves
                            ``/_recordings/{id}.mp3?expires=&signature=``: no API key, 403 once expired)

Scenarios (see :data:`SCENARIOS`) are chosen by the last two digits of ``to_number`` (for inbound calls,
of the registered number called)::

  ends in  scenario        what happens (simulated seconds)
  01       booked          rings 2 s, talks 30 s, completed; outcome "Appointment Booked"
  02       not_connected   rings 10 s, no answer; completed, duration 0, "Not Connected", end_reason no_answer
  03       voicemail       rings 4 s, voicemail picks up, agent leaves a 15 s message; "Voicemail"
  04       failed          status failed after 3 s, end_reason carrier_error; then a summary, outcome null
  05       long            rings 2 s, talks 600 s (agent max duration); "Interested"
  06       unknown_status  undocumented status "ringing" for 5 s, then talks 20 s; "Interested"
  07       not_interested  rings 2 s, talks 12 s; "Not Interested", end_reason user_hangup
  08       no_post_call    talks 20 s, completes; no post-call data ever (messages [], analysis unprocessed)
  09       outcome_null    talks 8 s; messages and summary arrive, analysis.outcome stays null for good
  ..       default         any other number: rings 2 s, talks 20 s; "Interested"

Faults (:class:`FaultSettings`, ``POST /_sim/faults`` or :meth:`OneInboxSimulator.set_faults`): 429 with
``Retry-After``, 5xx, latency, dropped connections, and the lost response of a ``POST /v1/calls`` that did
create the call; :meth:`OneInboxSimulator.refuse_connections` stops listening for a while.
Admin endpoints under ``/_sim/`` (no auth, never faulted, not counted): ``faults``, ``stats``, ``reset``,
``requests``, ``advance``, ``configure``, ``health``, ``docs``.

Assumptions beyond the reference (each named where it is implemented):

- the ``Idempotency-Key`` header is accepted and ignored (the API documents none, so a retried create
  makes a second call); 409 for a number already registered;
- a create past the daily quota is refused with 429 (or 403, switchable) and
  ``{"detail": ..., "code": "DAILY_CALL_LIMIT_REACHED"}``; unlimited usage reports ``null`` limits;
- a create past ``max_concurrent_calls`` or ``max_calls_per_second`` is refused with 429,
  ``Retry-After`` and ``code`` ``CONCURRENCY_LIMIT_REACHED`` or ``RATE_LIMITED``, creating nothing;
  ``GET /_sim/stats`` (``limits``) records the peaks of live calls and of creates per 1 s and 60 s;
- an unknown ``overrides.tts.voice_id`` (or agent ``voice_id``) is 400 with ``code: VOICE_NOT_FOUND``;
  the known voices are :data:`~.seed.KNOWN_VOICE_IDS`;
- a failed call (scenario 04) is still summarised by the post-call pipeline, outcome null;
- stopping a call that already ended answers 200 with the record unchanged (the reference: a no-op);
- webhook signatures (``X-OneInbox-Signature``) follow peers' HMAC-SHA256 scheme; a failed delivery is
  retried twice (5 s, 30 s simulated) and every attempt is listed at ``/v1/webhooks/{id}/deliveries``;
- inbound calls arrive evenly spaced on each registered number, routed to its inbound routing's agent,
  else the fallback agent; one caller in five withholds its number (``from_number`` null).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.simulator.extra import SimulatorNotInstalledError, require_simulator_extra

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator.core import DEFAULT_API_KEY, OneInboxSimulator
    from airflow_provider_oneinbox.simulator.faults import FaultSettings
    from airflow_provider_oneinbox.simulator.options import SimOptions
    from airflow_provider_oneinbox.simulator.scenarios import SCENARIOS, ScenarioSpec, scenario_for
    from airflow_provider_oneinbox.simulator.seed import SEED_AGENT_IDS

# Imported on first use, once the extra is known to be there (PEP 562): importing the package
# itself (as ``python -m`` does before ``__main__``) needs nothing beyond the standard library.
_EXPORTS = {
    "DEFAULT_API_KEY": "core",
    "OneInboxSimulator": "core",
    "FaultSettings": "faults",
    "SimOptions": "options",
    "SCENARIOS": "scenarios",
    "ScenarioSpec": "scenarios",
    "scenario_for": "scenarios",
    "SEED_AGENT_IDS": "seed",
}

__all__ = [
    "DEFAULT_API_KEY",
    "SCENARIOS",
    "SEED_AGENT_IDS",
    "FaultSettings",
    "OneInboxSimulator",
    "ScenarioSpec",
    "SimOptions",
    "SimulatorNotInstalledError",
    "scenario_for",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_simulator_extra()
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
