"""`prefect-telnyx-oauth authorize` end to end: the emulator's consent, an httpx client as browser.

The browser follows the emulator's `/oauth/authorize` redirect to the command's loopback listener,
as a real one would. In-process tests drive `authorize_block` (its `open_url` is the browser);
subprocess tests run the real console command and read the URL it prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth._identity import stamp_matches
from prefect_telnyx_oauth.cli import app
from prefect_telnyx_oauth.cli._authorize import AuthorizationFailed, authorize_block
from prefect_telnyx_oauth.cli._blocks import exchange_authorization_code
from prefect_telnyx_oauth.discovery import clear_metadata_cache
from prefect_telnyx_oauth.emulator import TelnyxEmulator
from prefect_telnyx_oauth.errors import InvalidGrantError
from prefect_telnyx_oauth.pkce import build_authorization_url, generate_pkce_pair
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("prefect_api", "secret_scan")


@pytest.fixture(autouse=True)
def _fresh_metadata_cache() -> Iterator[None]:
    clear_metadata_cache()
    yield
    clear_metadata_cache()


def _saved(emulator: TelnyxEmulator) -> str:
    name = f"auth-{uuid.uuid4().hex[:10]}"
    make_block(emulator).save(name, _sync=True)  # type: ignore[call-arg]
    return name


def _load(name: str) -> TelnyxOAuthCredentials:
    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert isinstance(block, TelnyxOAuthCredentials)
    return block


def browser(url: str) -> httpx.Response:
    """A consenting user: open the URL and follow every redirect, back to the listener."""
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        return client.get(url)


def _redirect_of(url: str) -> str:
    """Where the emulator's consent sends the browser (the listener URL with code and state)."""
    response = httpx.get(url, follow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def _with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode(query | changes)))


def test_authorize_stores_a_refresh_token_on_the_block(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    seen: list[httpx.Response] = []
    lines: list[str] = []

    token = authorize_block(
        name, open_url=lambda url: seen.append(browser(url)), echo=lines.append, timeout_seconds=60
    )

    assert seen[0].status_code == 200
    assert "Authorization received" in seen[0].text
    assert emulator.counters.token_requests_by_grant == {"authorization_code": 1}
    stored = _load(name)
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == emulator.issued_refresh_tokens()[-1]
    assert stored.access_token is not None
    assert stored.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]
    assert stored.access_token_credentials is not None
    assert stamp_matches(
        stored.access_token_credentials.get_secret_value(), stored.credential_parts()
    )
    assert stored.grant_type == "authorization_code"
    assert token.refresh_token is not None
    # The listener answered the redirect and closed: nothing listens on its port any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(seen[0].url, timeout=5)
    # The printed URL asks for PKCE S256 and carries no verifier.
    query = parse_qs(urlsplit(lines[1]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")


def test_authorize_then_the_block_serves_the_stored_token(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    authorize_block(name, open_url=browser, echo=lambda _: None, timeout_seconds=60)
    headers = _load(name).get_auth_headers()
    assert headers["Authorization"] == f"Bearer {emulator.issued_access_tokens()[-1]}"
    assert emulator.counters.token_requests_by_grant == {"authorization_code": 1}


def test_authorize_rejects_a_redirect_with_another_state(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)

    def forged(url: str) -> None:
        httpx.get(_with_params(_redirect_of(url), state="forged-state"), timeout=30)

    with pytest.raises(AuthorizationFailed, match="state does not match") as caught:
        authorize_block(name, open_url=forged, echo=lambda _: None, timeout_seconds=60)
    assert "nothing was saved" in str(caught.value)
    assert emulator.counters.token_requests == 0
    assert _load(name).refresh_token is None


def test_authorize_reports_denied_consent(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)

    def deny(url: str) -> None:
        state = parse_qs(urlsplit(url).query)["state"][0]
        listener = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        query = urlencode(
            {"error": "access_denied", "error_description": "The user said no.", "state": state}
        )
        page = httpx.get(f"{listener}?{query}", timeout=30)
        assert "did not authorize" in page.text

    with pytest.raises(AuthorizationFailed) as caught:
        authorize_block(name, open_url=deny, echo=lambda _: None, timeout_seconds=60)
    assert str(caught.value) == (
        "Telnyx did not authorize the connection (access_denied: The user said no.); "
        "nothing was saved."
    )
    assert emulator.counters.token_requests == 0
    assert _load(name).refresh_token is None


def test_authorize_reports_the_emulators_refusal_of_a_scope(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    with pytest.raises(AuthorizationFailed, match=r"did not authorize .*invalid_scope"):
        authorize_block(
            name, scope="no-such-scope", open_url=browser, echo=lambda _: None, timeout_seconds=60
        )
    assert emulator.counters.token_requests == 0


def test_authorize_times_out_when_no_redirect_arrives(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    with pytest.raises(AuthorizationFailed, match=r"No authorization arrived within 0\.5 s"):
        authorize_block(name, open_url=None, echo=lambda _: None, timeout_seconds=0.5)
    assert _load(name).refresh_token is None


def test_authorize_on_a_busy_port_says_to_use_port_0(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    busy = int(emulator.base_url.split(":")[2].split("/")[0])
    with pytest.raises(AuthorizationFailed, match="--port 0"):
        authorize_block(name, port=busy, open_url=None, echo=lambda _: None)


def test_authorize_closes_the_listener_when_opening_the_browser_fails(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    urls: list[str] = []

    def broken(url: str) -> None:
        urls.append(url)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        authorize_block(name, open_url=broken, echo=lambda _: None, timeout_seconds=60)
    listener = parse_qs(urlsplit(urls[0]).query)["redirect_uri"][0]
    with pytest.raises(httpx.ConnectError):
        httpx.get(listener, timeout=5)


def test_exchange_with_a_wrong_verifier_raises_invalid_grant_and_stores_nothing(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    block = _load(name)
    pair, wrong = generate_pkce_pair(), generate_pkce_pair()
    redirect_uri = "http://127.0.0.1:8765/callback"
    url = build_authorization_url(
        f"{emulator.base_url}/oauth/authorize",
        emulator.client_id,
        redirect_uri,
        None,
        "state-1",
        pair.challenge,
    )
    code = parse_qs(urlsplit(_redirect_of(url)).query)["code"][0]
    with pytest.raises(InvalidGrantError) as caught:
        exchange_authorization_code(
            block,
            token_url=emulator.token_url,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=wrong.verifier,
        )
    assert caught.value.error == "invalid_grant"
    assert wrong.verifier not in str(caught.value)
    assert code not in str(caught.value)
    assert _load(name).refresh_token is None


# --- the real command --------------------------------------------------------------------------


def _command(*args: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELNYX_")}
    env |= {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "BROWSER": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "prefect_telnyx_oauth.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("http"):
            return line.strip()
    _, stderr = process.communicate(timeout=60)
    pytest.fail(f"the command printed no URL; stderr: {stderr}")


def test_authorize_command_connects_the_block_and_prints_no_token(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    process = _command("authorize", "--block", name, "--no-browser", "--timeout", "120")
    try:
        page = browser(_read_url(process))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert page.status_code == 200
    assert process.returncode == 0, stderr
    assert f"Connected block {name!r}: scope " in stdout
    assert "refresh token stored" in stdout
    secrets = emulator.issued_access_tokens() + emulator.issued_refresh_tokens()
    assert secrets
    for secret in secrets:
        assert secret not in stdout + stderr
    assert _load(name).refresh_token is not None

    status = CliRunner().invoke(app, ["token", "--block", name])
    assert "Refresh token: held" in status.output
    assert "Valid now:     yes" in status.output
    for secret in secrets:
        assert secret not in status.output


def test_authorize_command_times_out_with_one_line_and_exit_1(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    result = CliRunner().invoke(
        app, ["authorize", "--block", name, "--no-browser", "--timeout", "1"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: No authorization arrived within 1 s; nothing was saved. Run the command again "
        "(or raise --timeout)."
    ]


def test_authorize_command_for_a_missing_block_exits_1(emulator: TelnyxEmulator) -> None:
    result = CliRunner().invoke(app, ["authorize", "--block", "missing-block", "--no-browser"])
    assert result.exit_code == 1
    assert "create-block missing-block" in result.stderr
