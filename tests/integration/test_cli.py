"""`create-block`, `token` and `check`, in-process against a real Prefect API."""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr
from typer.testing import CliRunner

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.cli import app
from telnyx_oauth._identity import credential_stamp
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block

pytestmark = pytest.mark.usefixtures("prefect_api")

runner = CliRunner()


def _name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def _load(name: str) -> TelnyxOAuthCredentials:
    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert isinstance(block, TelnyxOAuthCredentials)
    return block


def _saved(emulator: TelnyxEmulator, **overrides: object) -> str:
    name = _name()
    make_block(emulator, **overrides).save(name, _sync=True)  # type: ignore[call-arg]
    return name


def _no_token_in(text: str, emulator: TelnyxEmulator) -> None:
    for token in emulator.issued_access_tokens() + emulator.issued_refresh_tokens():
        assert token not in text


# --- create-block ------------------------------------------------------------------------------


def test_create_block_from_env_saves_it_and_never_prints_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", "env-client")
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", "env-secret-value")
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9/v2")
    monkeypatch.setenv("TELNYX_OAUTH_SCOPE", "messaging")
    name = _name()
    result = runner.invoke(app, ["create-block", name])
    assert result.exit_code == 0, result.output
    assert f"Created block {name!r}" in result.output
    assert "env-secret-value" not in result.output
    block = _load(name)
    assert block.client_id == "env-client"
    assert block.client_secret.get_secret_value() == "env-secret-value"
    assert block.base_url == "http://127.0.0.1:9/v2"
    assert block.scope == "messaging"


def test_create_block_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", "env-client")
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", "env-secret")
    name = _name()
    args = ["create-block", name, "--client-id", "flag-client", "--base-url", "https://p.example"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    block = _load(name)
    assert (block.client_id, block.base_url) == ("flag-client", "https://p.example")
    assert block.client_secret.get_secret_value() == "env-secret"


def test_create_block_prompts_for_a_missing_secret_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", "env-client")
    name = _name()
    result = runner.invoke(app, ["create-block", name], input="typed-secret-123\n")
    assert result.exit_code == 0, result.output
    assert "Telnyx OAuth client secret" in result.output
    assert "typed-secret-123" not in result.output
    assert _load(name).client_secret.get_secret_value() == "typed-secret-123"


def test_create_block_refuses_an_existing_name_and_replaces_it_only_with_overwrite() -> None:
    name = _name()
    first = ["create-block", name, "--client-id", "first", "--client-secret", "s1"]
    assert runner.invoke(app, first).exit_code == 0

    second = ["create-block", name, "--client-id", "second", "--client-secret", "s2"]
    refused = runner.invoke(app, second)
    assert refused.exit_code == 1
    assert f"Block {name!r} already exists. Pass --overwrite to replace it." in refused.output
    assert _load(name).client_id == "first"

    replaced = runner.invoke(app, [*second, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert f"Replaced block {name!r}" in replaced.output
    assert _load(name).client_id == "second"
    assert _load(name).client_secret.get_secret_value() == "s2"


@pytest.mark.parametrize("bad", ["Upper", "under_score", "sp ace"])
def test_create_block_rejects_an_invalid_name(bad: str) -> None:
    result = runner.invoke(app, ["create-block", bad, "--client-id", "c", "--client-secret", "s"])
    assert result.exit_code == 1
    assert "lowercase letters, digits and dashes" in result.output


def test_create_block_names_a_plain_http_base_url_as_the_problem() -> None:
    args = ["create-block", _name(), "--client-id", "c", "--client-secret", "s"]
    result = runner.invoke(app, [*args, "--base-url", "http://api.example.com/v2"])
    assert result.exit_code == 1
    assert "ConfigurationError" in result.output
    assert "plain http" in result.output


# --- token -------------------------------------------------------------------------------------


def test_token_without_a_stored_token_says_so_and_requests_nothing(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    result = runner.invoke(app, ["token", "--block", name])
    assert result.exit_code == 0, result.output
    assert "none stored yet" in result.output
    assert "--refresh" in result.output
    assert emulator.counters.token_requests == 0


def test_token_refresh_gets_and_stores_a_token_and_shows_its_status_not_its_value(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    result = runner.invoke(app, ["token", "--block", name, "--refresh"])
    assert result.exit_code == 0, result.output
    assert emulator.counters.token_requests == 1
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["Grant"].strip() == "client_credentials"
    assert lines["Valid now"].strip() == "yes"
    assert lines["Refresh token"].strip() == "none"
    assert lines["Time left"].strip().startswith(("59m", "1h"))
    assert lines["Scope"].strip()
    _no_token_in(result.output, emulator)
    # Stored: a plain `token` now reads it back from the block document without a request.
    again = runner.invoke(app, ["token", "--block", name])
    assert "Valid now:" in again.output
    assert "none stored yet" not in again.output
    assert emulator.counters.token_requests == 1
    _no_token_in(again.output, emulator)


def test_token_show_prints_the_stored_access_token(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    runner.invoke(app, ["token", "--block", name, "--refresh"])
    result = runner.invoke(app, ["token", "--block", name, "--show"])
    assert result.exit_code == 0, result.output
    assert f"Access token:  {emulator.issued_access_tokens()[-1]}" in result.output


def test_token_reports_an_expired_stored_token_as_not_valid(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    issued_at = datetime.now(timezone.utc) - timedelta(hours=2)
    block.access_token = SecretStr("stored-expired-token")
    block.access_token_issued_at = issued_at
    block.access_token_expires_at = issued_at + timedelta(hours=1)
    block.refresh_token = SecretStr("stored-refresh-token")
    block.access_token_credentials = SecretStr(credential_stamp(block.credential_parts()))
    name = _name()
    block.save(name, _sync=True)  # type: ignore[call-arg]
    result = runner.invoke(app, ["token", "--block", name])
    assert result.exit_code == 0, result.output
    assert "Valid now:     no" in result.output
    assert "Time left:     expired 1h" in result.output
    assert "Refresh token: held" in result.output
    assert "stored-expired-token" not in result.output
    assert "stored-refresh-token" not in result.output
    assert emulator.counters.token_requests == 0


def test_token_refresh_failure_prints_the_typed_error_and_exits_non_zero(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator, client_secret="wrong-secret-xyz")
    result = runner.invoke(app, ["token", "--block", name, "--refresh"])
    assert result.exit_code == 1
    assert "InvalidClientError" in result.output
    assert "wrong-secret-xyz" not in result.output


def test_token_for_a_missing_block_says_how_to_create_it() -> None:
    result = runner.invoke(app, ["token", "--block", "no-such-block"])
    assert result.exit_code == 1
    assert "prefect-telnyx-oauth create-block no-such-block" in result.output


# --- check -------------------------------------------------------------------------------------


def test_check_gets_a_token_calls_balance_and_prints_ok(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    result = runner.invoke(app, ["check", "--block", name])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK: block {name!r} got a token valid until")
    assert "available credit 100.00 USD" in result.output
    assert emulator.counters.token_requests == 1
    assert emulator.counters.api_requests_by_status == {200: 1}
    _no_token_in(result.output, emulator)


def test_check_with_a_wrong_secret_prints_the_typed_error_and_hint(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator, client_secret="wrong-secret-xyz")
    result = runner.invoke(app, ["check", "--block", name])
    assert result.exit_code == 1
    assert "InvalidClientError" in result.output
    assert "Check client_id and client_secret" in result.output
    assert "wrong-secret-xyz" not in result.output
    assert emulator.counters.api_requests == 0


def test_check_reports_a_failing_api_with_its_typed_error(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    emulator.fail_next_api_requests(10, status=403)
    result = runner.invoke(app, ["check", "--block", name])
    assert result.exit_code == 1
    assert "TelnyxAPIError" in result.output
    _no_token_in(result.output, emulator)


@pytest.mark.parametrize(
    "args",
    [["create-block", "any", "--client-id", "c", "--client-secret", "s"], ["check", "-b", "any"]],
)
def test_commands_name_the_prefect_api_they_could_not_reach(args: list[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api"
    with temporary_settings({PREFECT_API_URL: closed}):
        result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Could not reach the Prefect API at {closed}")
