"""`prefect-telnyx-oauth authorize` end to end: the emulator's consent, an httpx client as browser.

The browser follows the emulator's `/oauth/authorize` redirect to the command's loopback listener,
as a real one would. In-process tests drive `authorize_block` (its `open_url` is the browser);
subprocess tests run the real console command and read the URL it prints.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.cli import app
from prefect_telnyx_oauth.cli._authorize import AuthorizationFailed, authorize_block
from prefect_telnyx_oauth.cli._blocks import exchange_authorization_code
from telnyx_oauth._identity import stamp_matches
from telnyx_oauth.discovery import clear_metadata_cache
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import InvalidGrantError
from telnyx_oauth.pkce import build_authorization_url, generate_pkce_pair
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


def _assert_connected(name: str, emulator: TelnyxEmulator) -> TelnyxOAuthCredentials:
    """The block holds the emulator's newest refresh token, from one code exchange."""
    assert emulator.counters.token_requests_by_grant == {"authorization_code": 1}
    stored = _load(name)
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == emulator.issued_refresh_tokens()[-1]
    assert stored.grant_type == "authorization_code"
    return stored


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
    stored = _assert_connected(name, emulator)
    assert stored.access_token is not None
    assert stored.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]
    assert stored.access_token_credentials is not None
    assert stamp_matches(
        stored.access_token_credentials.get_secret_value(), stored.credential_parts()
    )
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


def test_token_after_authorize_shows_the_granted_scope(emulator: TelnyxEmulator) -> None:
    name = _saved(emulator)
    token = authorize_block(name, open_url=browser, echo=lambda _: None, timeout_seconds=60)
    assert token.scope  # the emulator grants the client's scopes when none is asked for

    status = CliRunner().invoke(app, ["token", "--block", name])

    assert status.exit_code == 0, status.output
    assert "Grant:         authorization_code\n" in status.output
    assert f"Scope:         {token.scope}\n" in status.output


def test_refused_refresh_of_a_connected_block_names_authorize_not_client_credentials(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    authorize_block(name, open_url=browser, echo=lambda _: None, timeout_seconds=60)
    emulator.revoke_all_tokens()

    result = CliRunner().invoke(app, ["token", "--block", name, "--refresh"])

    assert result.exit_code == 1
    assert f"`prefect-telnyx-oauth authorize --block {name}`" in result.stderr
    assert "client_credentials" not in result.stderr
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }


def test_authorize_survives_probes_without_our_state_then_completes(
    emulator: TelnyxEmulator,
) -> None:
    # Any local process (or a web page) may request the listener's port: only the redirect that
    # carries this authorization's state may end it.
    name = _saved(emulator)
    probes: list[httpx.Response] = []
    seen: list[httpx.Response] = []

    def probe_then_consent(url: str) -> None:
        listener = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        probes.append(httpx.get(f"{listener}?code=probe-code&state=wrong-state", timeout=30))
        probes.append(httpx.get(listener, timeout=30))
        probes.append(httpx.get(f"{listener}?error=access_denied&state=wrong", timeout=30))
        seen.append(browser(url))

    authorize_block(name, open_url=probe_then_consent, echo=lambda _: None, timeout_seconds=60)

    assert [probe.status_code for probe in probes] == [400, 400, 400]
    for probe in probes:
        assert "Authorization received" not in probe.text
        assert "not the redirect of this authorization" in probe.text
    assert seen[0].status_code == 200
    assert "Authorization received" in seen[0].text
    _assert_connected(name, emulator)


def test_authorize_completes_while_a_silent_connection_holds_the_listener(
    emulator: TelnyxEmulator,
) -> None:
    # A local process that connects and sends nothing must not keep the browser's redirect
    # waiting (the listener gives an idle connection 10 s; the browser here waits 5 s).
    name = _saved(emulator)
    seen: list[httpx.Response] = []
    idle: list[socket.socket] = []

    def idle_then_consent(url: str) -> None:
        listener = urlsplit(parse_qs(urlsplit(url).query)["redirect_uri"][0])
        idle.append(socket.create_connection((listener.hostname, listener.port)))
        with httpx.Client(follow_redirects=True, timeout=5) as client:
            seen.append(client.get(url))

    try:
        authorize_block(name, open_url=idle_then_consent, echo=lambda _: None, timeout_seconds=60)
    finally:
        for connection in idle:
            connection.close()
    assert "Authorization received" in seen[0].text
    _assert_connected(name, emulator)


def test_authorize_ignores_a_redirect_with_another_state_until_the_timeout(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    pages: list[httpx.Response] = []

    def forged(url: str) -> None:
        pages.append(httpx.get(_with_params(_redirect_of(url), state="forged-state"), timeout=30))

    with pytest.raises(AuthorizationFailed, match=r"No authorization arrived within 1 s"):
        authorize_block(name, open_url=forged, echo=lambda _: None, timeout_seconds=1)
    assert pages[0].status_code == 400
    assert "state does not match" in pages[0].text
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


def _free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _can_bind(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            # As the listener (HTTPServer) binds: a port in TIME_WAIT is free to it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError:
        return False
    return True


def test_exact_matching_server_refuses_a_listener_on_a_random_port(emulator_factory: Any) -> None:
    # Why --redirect-uri exists: a server that compares redirect URIs as strings (Authlib's
    # default) does not take http://127.0.0.1:PORT/callback for the registered .../callback.
    emulator = emulator_factory(exact_redirect_uris=True)
    name = _saved(emulator)
    pages: list[httpx.Response] = []

    with pytest.raises(AuthorizationFailed, match="No authorization arrived"):
        authorize_block(
            name,
            open_url=lambda url: pages.append(browser(url)),
            echo=lambda _: None,
            timeout_seconds=1,
        )
    assert pages[0].status_code == 400
    assert pages[0].json()["error"] == "invalid_request"
    assert emulator.counters.token_requests == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_authorize_with_the_registered_redirect_uri_completes_on_an_exact_matching_server(
    emulator_factory: Any, host: str
) -> None:
    if host == "[::1]" and not _can_bind("::1", 0):
        pytest.skip("no IPv6 loopback on this machine")
    redirect_uri = f"http://{host}:{_free_port(host.strip('[]'))}/oauth/done"
    emulator = emulator_factory(exact_redirect_uris=True, redirect_uris=[redirect_uri])
    name = _saved(emulator)
    lines: list[str] = []
    seen: list[httpx.Response] = []

    authorize_block(
        name,
        redirect_uri=redirect_uri,
        open_url=lambda url: seen.append(browser(url)),
        echo=lines.append,
        timeout_seconds=60,
    )

    assert parse_qs(urlsplit(lines[1]).query)["redirect_uri"] == [redirect_uri]
    assert "Authorization received" in seen[0].text
    _assert_connected(name, emulator)


@pytest.mark.parametrize(
    "where", [{"port": 80}, {"redirect_uri": "http://127.0.0.1/callback"}], ids=["port", "uri"]
)
def test_authorize_on_port_80_sends_the_redirect_uri_without_it(
    emulator_factory: Any, where: dict[str, Any]
) -> None:
    if not _can_bind("127.0.0.1", 80):
        pytest.skip("port 80 cannot be bound here (not root, or in use)")
    # Registers exactly http://127.0.0.1/callback: the URI must not say :80.
    emulator = emulator_factory(exact_redirect_uris=True)
    name = _saved(emulator)
    lines: list[str] = []

    authorize_block(name, open_url=browser, echo=lines.append, timeout_seconds=60, **where)

    assert parse_qs(urlsplit(lines[1]).query)["redirect_uri"] == ["http://127.0.0.1/callback"]
    _assert_connected(name, emulator)


def test_authorize_on_the_busy_port_of_a_redirect_uri_says_what_to_do(
    emulator: TelnyxEmulator,
) -> None:
    name = _saved(emulator)
    busy = int(emulator.base_url.split(":")[2].split("/")[0])
    redirect_uri = f"http://127.0.0.1:{busy}/callback"
    with pytest.raises(AuthorizationFailed) as caught:
        authorize_block(name, redirect_uri=redirect_uri, open_url=None, echo=lambda _: None)
    assert str(caught.value) == (
        f"Cannot listen for the redirect URI {redirect_uri} (Address already in use). Free its "
        "port, or register another loopback redirect URI and pass that one."
    )


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


def test_authorize_command_with_redirect_uri_connects_on_an_exact_matching_server(
    emulator_factory: Any,
) -> None:
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    emulator = emulator_factory(exact_redirect_uris=True, redirect_uris=[redirect_uri])
    name = _saved(emulator)
    process = _command(
        "authorize",
        "--block",
        name,
        "--no-browser",
        "--timeout",
        "120",
        "--redirect-uri",
        redirect_uri,
    )
    try:
        url = _read_url(process)
        page = browser(url)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == [redirect_uri]
    assert page.status_code == 200
    assert process.returncode == 0, stderr
    assert f"Connected block {name!r}" in stdout
    _assert_connected(name, emulator)


@pytest.mark.parametrize(
    ("redirect_uri", "why"),
    [
        ("http://example.com:8765/callback", "its host is not loopback"),
        ("http://192.168.1.5:8765/callback", "its host is not loopback"),
        ("http://127.0.0.1.example.com/callback", "its host is not loopback"),
        ("https://127.0.0.1:8765/callback", "the listener serves plain http"),
        ("ftp://127.0.0.1:8765/callback", "it is not an http URI"),
        ("127.0.0.1:8765/callback", "it is not an http URI"),
        ("http://127.0.0.1:0/callback", "it must name the registered port"),
        ("http://127.0.0.1:99999/callback", "its port is not a number"),
        ("http://127.0.0.1:8765/callback#done", "a redirect URI has no fragment"),
    ],
)
def test_authorize_command_refuses_an_unusable_redirect_uri_before_any_request(
    emulator: TelnyxEmulator, redirect_uri: str, why: str
) -> None:
    # The block does not exist: the URI's error, not the missing block's, shows nothing was asked.
    result = CliRunner().invoke(
        app,
        ["authorize", "--block", "no-such-block", "--no-browser", "--redirect-uri", redirect_uri],
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: --redirect-uri {redirect_uri!r} cannot be used: {why}")
    assert "registered for the OAuth client" in lines[0]
    assert emulator.counters.token_requests == 0


def test_authorize_command_refuses_port_and_redirect_uri_together(emulator: TelnyxEmulator) -> None:
    result = CliRunner().invoke(
        app,
        [
            "authorize",
            "--block",
            "no-such-block",
            "--port",
            "8765",
            "--redirect-uri",
            "http://127.0.0.1:8765/callback",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: Pass --port or --redirect-uri, not both: the redirect URI names its port."
    )
