"""
Run a DAG scheduled on an asset through ``dag.test()`` as if asset events had triggered it.

``dag.test()`` creates a manual run with no consumed asset events. :func:`consuming` wraps the
function it creates the run with (``airflow.models.dagrun.get_or_create_dagrun``, imported by
``dag.test()`` at call time on Airflow 3.1 and 3.3) so that the run consumes real ``AssetEvent``
rows of the metadata DB, with the ``extra`` the triggerer gives a trigger's events
(``{"from_trigger": True, "payload": ...}``); the task then reads them from
``triggering_asset_events`` through Airflow's own execution API, as in a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC


@contextmanager
def consuming(asset_name: str, extras: Sequence[dict[str, Any]]) -> Iterator[None]:
    """
    While active, every run ``dag.test()`` creates consumes one new asset event of ``asset_name``
    per item of ``extras`` (its ``extra``), a millisecond apart, in order.

    :param asset_name: The asset's name (the DAG's schedule must include it, so that ``dag.test()``
        registers it in the metadata DB).
    :param extras: Each event's ``extra``.
    """
    from airflow.models import dagrun
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    original = dagrun.get_or_create_dagrun

    def create(*args: Any, session: Any, **kwargs: Any) -> Any:
        run = original(*args, session=session, **kwargs)
        asset = session.scalar(select(AssetModel).where(AssetModel.name == asset_name))
        assert asset is not None, f"no asset {asset_name!r} in the metadata DB: is the DAG scheduled on it?"
        start = datetime.now(UTC)
        for index, extra in enumerate(extras):
            event = AssetEvent(
                asset_id=asset.id, extra=extra, timestamp=start + timedelta(milliseconds=index)
            )
            session.add(event)
            run.consumed_asset_events.append(event)
        session.commit()
        return run

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dagrun, "get_or_create_dagrun", create)
        yield


def trigger_extra(payload: dict[str, Any]) -> dict[str, Any]:
    """
    The ``extra`` Airflow stores with an asset event a trigger fired (``Trigger.submit_event``).

    :param payload: The trigger event's payload.
    """
    return {"from_trigger": True, "payload": payload}


def forget_asset_watchers() -> None:
    """
    Delete every asset watcher and its trigger from the test process's metadata DB.

    ``dag.test()`` of a DAG whose asset has watchers registers their triggers; a real
    ``airflow triggerer`` that a later test starts on the same DB would pick them up and run them
    (or fail on them), so a test that registers watchers forgets them when it ends.
    """
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    try:  # Airflow 3.2+: a watcher is a row of its own
        from airflow.models.asset import AssetWatcherModel as watchers
    except ImportError:  # Airflow 3.1: an asset-trigger association
        from airflow.models.asset import asset_trigger_association_table as watchers  # type: ignore[no-redef,attr-defined]

    table = getattr(watchers, "__table__", watchers)
    with create_session() as session:
        trigger_ids = list(session.scalars(select(table.c.trigger_id)))
        session.execute(delete(table))
        if trigger_ids:
            session.execute(delete(Trigger).where(Trigger.id.in_(trigger_ids)))
