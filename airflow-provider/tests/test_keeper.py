"""The keeper DAG: on a schedule, one run at a time, refreshing only a token about to expire.

Between runs the process cache is cleared, as each scheduled run is a new task process: what a
run knows of the token comes from the connection's Variable.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_telnyx_oauth.hooks import provider_cache
from airflow_provider_telnyx_oauth.store import variable_key
from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import EXAMPLE_DAGS, connection_json


def _keeper():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(EXAMPLE_DAGS).get_dag("telnyx_oauth_keeper")


def _run_twice(emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch) -> int:
    from airflow.models.variable import Variable
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_DEFAULT", connection_json(emulator))
    Variable.delete(variable_key("telnyx_default"))
    keeper = _keeper()
    for _ in range(2):
        provider_cache.clear()
        assert keeper.test().state == DagRunState.SUCCESS
    return emulator.counters.token_requests


def test_keeper_is_scheduled_one_run_at_a_time(airflow_db: str) -> None:
    keeper = _keeper()

    assert keeper.max_active_runs == 1
    assert keeper.schedule == timedelta(minutes=10)


def test_keeper_keeps_a_token_with_time_left(
    airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TelnyxEmulator(token_ttl_seconds=3600) as emulator:
        assert _run_twice(emulator, monkeypatch) == 1


def test_keeper_refreshes_a_token_expiring_within_its_window(
    airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TelnyxEmulator(token_ttl_seconds=600) as emulator:  # 10 min left < 15 min window
        assert _run_twice(emulator, monkeypatch) == 2
