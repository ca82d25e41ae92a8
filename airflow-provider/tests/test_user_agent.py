"""The User-Agent the token endpoint sees from the provider: its product token, then the core's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import airflow_provider_telnyx_oauth
import telnyx_oauth._version
from airflow_provider_telnyx_oauth.hooks import AirflowTokenCache, TelnyxOAuthHook
from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import FakeVariables, connection_json


def test_the_hook_puts_the_providers_product_token_before_the_cores(
    emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_UA", connection_json(emulator))
    cache = AirflowTokenCache()
    try:
        hook = TelnyxOAuthHook(
            "telnyx_ua", variables=FakeVariables(), lock_directory=str(tmp_path), cache=cache
        )
        hook.get_token()
    finally:
        cache.close()
    provider = f"airflow-provider-telnyx-oauth/{airflow_provider_telnyx_oauth.__version__}"
    core = f"telnyx-oauth-core/{telnyx_oauth._version.__version__} httpx/{httpx.__version__}"
    assert emulator.counters.token_requests_by_user_agent == {f"{provider} {core}": 1}
