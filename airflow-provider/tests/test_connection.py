"""The connection type as Airflow sees it, and bad connections failing like the Prefect block."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.models import TelnyxToken
from tests.conftest import connection_json


def test_provider_declares_connection_form_as_data() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()  # what the API server builds the connection form from
    hook = ProvidersManagerTaskRuntime().hooks["telnyx_oauth"]
    behaviour = manager.field_behaviours["telnyx_oauth"]
    widgets = manager.connection_form_widgets

    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_telnyx_oauth.hooks.TelnyxOAuthHook"
    assert behaviour["relabeling"] == {
        "login": "Client ID",
        "password": "Client secret",
        "host": "Base URL",
    }
    for field in ("scope", "token_url", "auth_method", "body_format", "token_lock"):
        assert f"extra__telnyx_oauth__{field}" in widgets


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"password": None}, "password (Client secret) is empty"),
        ({"login": ""}, "login (Client ID) is empty"),
        ({"host": "http://api.example.com/v2"}, "plain http on a non-loopback host"),
        ({"extra": {"token_url": "http://auth.example.com/token"}}, "token_url"),
        ({"extra": {"auth_method": "private_key_jwt"}}, "auth_method must be one of"),
    ],
)
def test_bad_connection_raises_configuration_error_naming_the_field(
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, object],
    named: str,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_BAD", connection_json(emulator, **changes))

    with pytest.raises(ConfigurationError, match=re.escape(named)) as raised:
        TelnyxOAuthHook("telnyx_bad").get_token()

    assert emulator.client_secret not in str(raised.value)
    assert emulator.counters.token_requests == 0


def test_hook_outside_a_task_keeps_token_in_memory_with_a_warning(
    emulator: TelnyxEmulator, telnyx_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        first = TelnyxOAuthHook(telnyx_conn).get_token()
        second = TelnyxOAuthHook(telnyx_conn).get_token()

    assert first.access_token == second.access_token
    assert emulator.counters.token_requests == 1
    assert "outside an Airflow task" in caplog.text


def test_hook_client_sends_bearer_and_recovers_from_revoked_token(
    emulator: TelnyxEmulator, telnyx_conn: str
) -> None:
    hook = TelnyxOAuthHook(telnyx_conn)
    with hook.get_conn() as client:
        assert client.get("/balance").status_code == 200
        emulator.revoke_all_tokens()
        assert client.get("/balance").status_code == 200

    assert emulator.counters.token_requests == 2


def test_hook_async_twins_share_the_token(emulator: TelnyxEmulator, telnyx_conn: str) -> None:
    hook = TelnyxOAuthHook(telnyx_conn)

    async def use() -> tuple[TelnyxToken, httpx.Response]:
        token = await hook.aget_token()
        async with hook.aget_conn() as client:
            return token, await client.get("/balance")

    token, response = asyncio.run(use())

    assert response.status_code == 200
    assert hook.get_token().access_token == token.access_token
    assert emulator.counters.token_requests == 1


def test_every_token_is_registered_with_the_secrets_masker(
    emulator: TelnyxEmulator, telnyx_conn: str
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    with httpx.Client(base_url=emulator.base_url, auth=TelnyxOAuthHook(telnyx_conn).get_auth()):
        token = TelnyxOAuthHook(telnyx_conn).get_token()
    raw = token.access_token.get_secret_value()

    assert raw not in str(redact(f"Authorization: Bearer {raw}"))
