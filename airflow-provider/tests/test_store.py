"""The Variable token store against a dict-backed fake Variable: unit, no Airflow database.

A new `AirflowTokenCache` stands for a new task process: it holds nothing, so whatever it gets
without a token request came through the store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_telnyx_oauth.hooks import AirflowTokenCache, TelnyxOAuthHook
from airflow_provider_telnyx_oauth.store import FileLock, variable_key
from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import FakeVariables, connection_json


@pytest.fixture
def processes() -> Iterator[list[AirflowTokenCache]]:
    made: list[AirflowTokenCache] = []
    yield made
    for cache in made:
        cache.close()


def _hook(
    conn_id: str, variables: FakeVariables, tmp_path: Path, made: list[AirflowTokenCache]
) -> TelnyxOAuthHook:
    cache = AirflowTokenCache()
    made.append(cache)
    return TelnyxOAuthHook(conn_id, variables=variables, lock_directory=str(tmp_path), cache=cache)


def _set_conn(monkeypatch: pytest.MonkeyPatch, emulator: TelnyxEmulator, **changes: object) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_STORE", connection_json(emulator, **changes))
    return "telnyx_store"


def test_store_token_saved_in_variable_is_reused_by_next_process(
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    processes: list[AirflowTokenCache],
) -> None:
    conn_id = _set_conn(monkeypatch, emulator, extra={"token_lock": "file"})
    variables = FakeVariables()

    first = _hook(conn_id, variables, tmp_path, processes).get_token()
    second = _hook(conn_id, variables, tmp_path, processes).get_token()

    assert emulator.counters.token_requests == 1
    assert second.access_token == first.access_token
    stored = json.loads(variables.values[variable_key(conn_id)])
    assert stored["access_token"] == first.access_token.get_secret_value()
    assert stored["access_token_credentials"].startswith("scrypt1$")
    assert emulator.client_secret not in variables.values[variable_key(conn_id)]


def test_store_token_of_other_credentials_is_not_used(
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    processes: list[AirflowTokenCache],
) -> None:
    emulator.add_client("rotated-client", "rotated-secret")
    conn_id = _set_conn(monkeypatch, emulator)
    variables = FakeVariables()
    old = _hook(conn_id, variables, tmp_path, processes).get_token()

    _set_conn(monkeypatch, emulator, login="rotated-client", password="rotated-secret")
    new = _hook(conn_id, variables, tmp_path, processes).get_token()

    assert emulator.counters.token_requests == 2
    assert new.access_token != old.access_token


def test_store_malformed_variable_warns_and_requests_again(
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    processes: list[AirflowTokenCache],
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn_id = _set_conn(monkeypatch, emulator)
    variables = FakeVariables()
    variables.values[variable_key(conn_id)] = '{"access_token": "x", "access_token_credentials"'

    with caplog.at_level(logging.WARNING):
        token = _hook(conn_id, variables, tmp_path, processes).get_token()

    assert emulator.counters.token_requests == 1
    assert "malformed" in caplog.text
    assert json.loads(variables.values[variable_key(conn_id)])["access_token"] == (
        token.access_token.get_secret_value()
    )


@pytest.fixture
def rotating() -> Iterator[TelnyxEmulator]:
    """An emulator that rotates refresh tokens and issues one with client_credentials too."""
    with TelnyxEmulator(
        rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    ) as emulator:
        yield emulator


def test_store_with_file_lock_spends_the_shared_refresh_token(
    rotating: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    processes: list[AirflowTokenCache],
) -> None:
    conn_id = _set_conn(monkeypatch, rotating, extra={"token_lock": "file"})
    variables = FakeVariables()
    _hook(conn_id, variables, tmp_path, processes).get_token()
    assert json.loads(variables.values[variable_key(conn_id)])["refresh_token"]

    _hook(conn_id, variables, tmp_path, processes).get_token(force_refresh=True)

    assert rotating.counters.token_requests_by_grant == {
        "client_credentials": 1,
        "refresh_token": 1,
    }


def test_store_without_exclusive_lock_never_spends_a_refresh_token(
    rotating: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    processes: list[AirflowTokenCache],
) -> None:
    conn_id = _set_conn(monkeypatch, rotating, extra={"token_lock": "none"})
    variables = FakeVariables()
    hook = _hook(conn_id, variables, tmp_path, processes)
    hook.get_token()
    # Neither the Variable nor this process's own copy may lead to the refresh token.
    hook.get_token(force_refresh=True)
    _hook(conn_id, variables, tmp_path, processes).get_token(force_refresh=True)

    assert json.loads(variables.values[variable_key(conn_id)])["refresh_token"] is None
    assert rotating.counters.token_requests_by_grant == {"client_credentials": 3}


def test_file_lock_is_held_until_released(tmp_path: Path) -> None:
    first, second = FileLock("conn", str(tmp_path)), FileLock("conn", str(tmp_path))

    lease = first.try_acquire()
    assert lease is not None
    assert second.try_acquire() is None
    FileLock.release(lease)
    again = second.try_acquire()

    assert again is not None
    FileLock.release(again)
