"""First contact: the README's own code keeps its promise, and configuration does what it says."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate
from pydantic import SecretStr

from prefect_telnyx_oauth import (
    ConfigurationError,
    InvalidClientError,
    TelnyxOAuthCredentials,
    TokenEndpointUnavailableError,
)
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_code_run_three_times_makes_one_token_request(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = readme_python_blocks()
    assert len(blocks) >= 2  # the one-time setup, then the flow
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("TELNYX_BASE_URL", emulator.base_url)
    for _ in range(3):  # three runs of the script, each like a new process
        reset_token_caches()
        for code in blocks:
            exec(compile(code, str(README), "exec"), {"__name__": "__main__"})
    assert emulator.counters.token_requests == 1
    assert emulator.counters.api_requests_by_status == {200: 3}


async def test_overwrite_keeps_the_saved_token_only_for_the_same_credentials(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("overwritten", overwrite=True)
    first = await (await TelnyxOAuthCredentials.aload("overwritten")).aget_token()
    await make_block(emulator).asave("overwritten", overwrite=True)
    kept = await TelnyxOAuthCredentials.aload("overwritten")
    assert kept.access_token == first.access_token
    emulator.add_client("other-client", "other-secret-0123456789")
    other = make_block(emulator, client_id="other-client", client_secret="other-secret-0123456789")
    await other.asave("overwritten", overwrite=True)
    dropped = await TelnyxOAuthCredentials.aload("overwritten")
    assert dropped.access_token is None
    assert dropped.client_id == "other-client"


# -- configuration ----------------------------------------------------------------------------


def test_environment_fills_fields_the_block_leaves_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9/v2")
    monkeypatch.setenv("TELNYX_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("TELNYX_TOKEN_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("TELNYX_OAUTH_SCOPE", "messaging")
    block = TelnyxOAuthCredentials(client_id="c", client_secret="s", timeout_seconds=7)
    assert block.base_url == "http://127.0.0.1:9/v2"  # environment > default
    assert block.timeout_seconds == 7  # a value given to the block > environment
    assert block.token_max_attempts == 2
    assert block.scope == "messaging"
    assert block.refresh_leeway_seconds == 60  # neither: the default


async def test_saved_field_wins_over_the_environment_on_load(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_block(emulator, timeout_seconds=3).asave("precedence", overwrite=True)
    monkeypatch.setenv("TELNYX_TIMEOUT_SECONDS", "9")
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9/v2")
    loaded = await TelnyxOAuthCredentials.aload("precedence")
    assert loaded.timeout_seconds == 3
    assert loaded.base_url == emulator.base_url


def test_token_max_attempts_from_the_environment_limits_the_attempts(
    emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_TOKEN_MAX_ATTEMPTS", "1")
    emulator.fail_next_token_requests(10, status=503)
    with pytest.raises(TokenEndpointUnavailableError):
        make_block(emulator).get_token()
    assert emulator.counters.token_requests == 1


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("token_endpoint_auth_method", "private_key_jwt", "token_endpoint_auth_method"),
        ("token_request_format", "xml", "token_request_format"),
        ("grant_type", "password", "grant_type"),
        ("timeout_seconds", math.nan, "timeout_seconds"),
        ("token_deadline_seconds", -1, "token_deadline_seconds"),
        ("token_max_attempts", 0, "token_max_attempts"),
        ("client_secret", "   ", "client_secret"),
        ("client_secret", "secret-with-a-line-end\n", "client_secret"),
        ("scopes", "messaging", "Did you mean 'scope'"),
    ],
)
def test_bad_value_raises_configuration_error_naming_the_field(
    field: str, value: Any, named: str
) -> None:
    values = {"client_id": "c", "client_secret": "s", field: value}
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        TelnyxOAuthCredentials(**values)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELNYX_TIMEOUT_SECONDS", "nan"),
        ("TELNYX_TIMEOUT_SECONDS", "ten"),
        ("TELNYX_TOKEN_MAX_ATTEMPTS", "0"),
        ("TELNYX_BASE_URL", "http://api.example.com/v2"),
    ],
)
def test_bad_environment_value_names_the_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        TelnyxOAuthCredentials(client_id="c", client_secret="s")


async def test_document_from_an_earlier_version_with_an_unknown_field_still_loads(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("older-version", overwrite=True)
    async with get_client() as client:
        data = {"retired_field": "from an earlier version"}
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=data, merge_existing_data=True),
        )
    loaded = await TelnyxOAuthCredentials.aload("older-version")
    assert loaded.client_id == emulator.client_id
    from prefect.blocks.core import Block

    generic = await Block.aload("telnyx-oauth-credentials/older-version")  # how Prefect resolves
    assert isinstance(generic, TelnyxOAuthCredentials)  # a block reference in parameters


def test_assigning_a_plain_string_secret_keeps_it_secret() -> None:
    block = TelnyxOAuthCredentials(client_id="c", client_secret="s")
    block.client_secret = "rotated-secret-value"  # type: ignore[assignment]
    assert isinstance(block.client_secret, SecretStr)
    assert "rotated-secret-value" not in repr(block)
    with pytest.raises(ConfigurationError, match="client_secret"):
        block.client_secret = "with-a-line-end\n"  # type: ignore[assignment]
    copy = block.model_copy(update={"client_secret": "copied-secret-value"})
    assert isinstance(copy.client_secret, SecretStr)
    assert "copied-secret-value" not in repr(copy)


# -- the secret never comes back in an error, in any form ----------------------------------------


def test_echoing_server_gets_every_form_of_the_secret_masked(
    emulator: TelnyxEmulator,
) -> None:
    from tests.secret_scan import secret_variants

    secret = "s3cr3t value+with/odd=chars&more"

    def echo(request: httpx.Request) -> httpx.Response:
        seen = f"{request.headers.get('authorization')} {request.content.decode()}"
        body = {"error": "invalid_client", "error_description": f"got {seen} {seen!r}"}
        return httpx.Response(401, json=body)

    for method in ("client_secret_basic", "client_secret_post"):
        for body_format in ("form", "json"):
            block = make_block(
                emulator,
                client_secret=secret,
                token_endpoint_auth_method=method,
                token_request_format=body_format,
            )
            from telnyx_oauth.token_client import ClientCredentialsGrant, request_token

            endpoint = block._token_source().endpoint
            with (
                httpx.Client(transport=httpx.MockTransport(echo)) as client,
                pytest.raises(InvalidClientError) as info,
            ):
                request_token(endpoint, ClientCredentialsGrant(), client=client)
            text = str(info.value)
            assert "got" in text  # the description is shown, masked
            leaks = [v for v in secret_variants(secret) if v in text]
            assert leaks == [], (method, body_format, text)
