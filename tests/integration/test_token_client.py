"""`request_token`/`arequest_token` against the emulator on a real loopback socket.

Every grant with every client authentication and body format, with a client secret that only a
correct RFC 6749 §2.3.1 encoding gets through; then the retry behaviour as the server counts it.
Waits that are not under test are recorded instead of slept.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import InvalidClientError, TokenEndpointUnavailableError
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_client import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    TokenEndpointConfig,
    arequest_token,
    request_token,
)
from tests.secret_scan import SecretScan, secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

CLIENT_ID = "acme prod:client"
CLIENT_SECRET = "p%ss:w+rd wïth ünïcode✓ 100%"
REDIRECT_URI = "http://127.0.0.1/callback"
TTL = 900


@pytest.fixture
def emu(
    emulator_factory: Callable[..., TelnyxEmulator], secret_scan: SecretScan
) -> Iterator[TelnyxEmulator]:
    """An emulator that knows our special-character client, and hands its tokens to the scan."""
    emulator = emulator_factory(token_ttl_seconds=TTL, refresh_token_on_client_credentials=True)
    emulator.add_client(CLIENT_ID, CLIENT_SECRET)
    secret_scan.add_client(CLIENT_ID, CLIENT_SECRET)
    yield emulator
    for token in emulator.issued_access_tokens() + emulator.issued_refresh_tokens():
        secret_scan.add_secret(token)


def config_for(emulator: TelnyxEmulator, **overrides: object) -> TokenEndpointConfig:
    return TokenEndpointConfig.from_base_url(
        emulator.base_url,
        **{"client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)} | overrides,
    )


def authorization_code(emulator: TelnyxEmulator, scan: SecretScan) -> AuthorizationCodeGrant:
    """Run the authorize step (PKCE S256) as a browser would, and return the grant to redeem."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    # This step is the browser's, not the library's: httpcore logs response headers at DEBUG, and
    # the redirect's Location carries the code. Keep it out of the scanned logs.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        answer = _authorize(emulator, challenge)
    finally:
        logging.disable(previous)
    assert answer.status_code == 302
    code = dict(parse_qsl(urlsplit(answer.headers["location"]).query))["code"]
    scan.add_secret(code)
    scan.add_secret(verifier)
    return AuthorizationCodeGrant(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)


def _authorize(emulator: TelnyxEmulator, challenge: str) -> httpx.Response:
    return httpx.get(
        f"{emulator.base_url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )


def assert_accepted_by_the_api(emulator: TelnyxEmulator, token: TelnyxToken) -> None:
    assert httpx.get(f"{emulator.base_url}/balance", headers=token.headers()).status_code == 200


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "refresh_token", "authorization_code"]
)
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("body_format", ["form", "json"])
def test_request_token_every_grant_auth_method_and_format_gets_a_working_token(
    emu: TelnyxEmulator,
    secret_scan: SecretScan,
    grant_type: str,
    auth_method: str,
    body_format: str,
) -> None:
    config = config_for(emu, auth_method=auth_method, body_format=body_format)
    if grant_type == "client_credentials":
        token = request_token(config, ClientCredentialsGrant(scope="messaging"))
        assert token.scope == "messaging"
    elif grant_type == "refresh_token":
        first = request_token(config, ClientCredentialsGrant())
        assert first.refresh_token is not None
        token = request_token(config, RefreshTokenGrant(first.refresh_token))
        assert token.access_token != first.access_token
    else:
        token = request_token(config, authorization_code(emu, secret_scan))

    assert_accepted_by_the_api(emu, token)
    assert emu.counters.token_requests_by_grant[grant_type] == 1
    assert set(emu.counters.token_requests_by_status) == {200}
    assert token.issued_at is not None
    assert token.expires_at - token.issued_at == timedelta(seconds=TTL)


def test_request_token_latency_never_lengthens_the_token_life(emu: TelnyxEmulator) -> None:
    emu.set_token_latency(0.5)
    token = request_token(config_for(emu), ClientCredentialsGrant())
    answered_at = utc_now()
    assert token.issued_at is not None
    assert answered_at - token.issued_at >= timedelta(seconds=0.5)
    assert token.expires_at == token.issued_at + timedelta(seconds=TTL)


def test_request_token_503_twice_then_token_takes_exactly_three_requests(
    emu: TelnyxEmulator,
) -> None:
    emu.fail_next_token_requests(2, status=503)
    delays: list[float] = []
    token = request_token(config_for(emu), ClientCredentialsGrant(), sleep=delays.append)
    assert_accepted_by_the_api(emu, token)
    assert emu.counters.token_requests == 3
    assert emu.counters.token_requests_by_status == {503: 2, 200: 1}
    assert len(delays) == 2


def test_request_token_429_waits_at_least_retry_after_before_the_next_attempt(
    emu: TelnyxEmulator,
) -> None:
    emu.rate_limit_next_token_requests(1, retry_after=1)
    request_token(config_for(emu), ClientCredentialsGrant())
    first, second = emu.counters.token_request_times
    assert second - first >= 1.0
    assert emu.counters.token_requests_by_status == {429: 1, 200: 1}


def test_request_token_always_503_raises_unavailable_after_exactly_three_requests(
    emu: TelnyxEmulator,
) -> None:
    emu.fail_next_token_requests(10, status=503)
    with pytest.raises(TokenEndpointUnavailableError) as info:
        request_token(config_for(emu), ClientCredentialsGrant(), sleep=lambda _: None)
    assert (info.value.status_code, info.value.attempts) == (503, 3)
    assert emu.counters.token_requests == 3
    assert emu.token_url in str(info.value)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_request_token_wrong_secret_is_one_request_and_invalid_client(
    emu: TelnyxEmulator, auth_method: str
) -> None:
    config = config_for(
        emu, client_secret=SecretStr("not-the-right-secret"), auth_method=auth_method
    )
    with pytest.raises(InvalidClientError) as info:
        request_token(config, ClientCredentialsGrant(), sleep=lambda _: None)
    assert (info.value.status_code, info.value.error) == (401, "invalid_client")
    assert repr(CLIENT_ID) in str(info.value)
    assert emu.counters.token_requests == 1


def test_request_token_with_the_callers_client_works_over_a_real_socket(
    emu: TelnyxEmulator,
) -> None:
    with httpx.Client(timeout=30) as client:
        token = request_token(config_for(emu), ClientCredentialsGrant(), client=client)
        assert_accepted_by_the_api(emu, token)


async def test_arequest_token_every_grant_gets_a_working_token(
    emu: TelnyxEmulator, secret_scan: SecretScan
) -> None:
    config = config_for(emu, auth_method="client_secret_post", body_format="json")
    first = await arequest_token(config, ClientCredentialsGrant())
    assert first.refresh_token is not None
    refreshed = await arequest_token(config, RefreshTokenGrant(first.refresh_token))
    async with httpx.AsyncClient() as client:
        redeemed = await arequest_token(config, authorization_code(emu, secret_scan), client=client)
    for token in (first, refreshed, redeemed):
        assert_accepted_by_the_api(emu, token)
    assert emu.counters.token_requests_by_status == {200: 3}


async def test_arequest_token_503_twice_then_token_takes_exactly_three_requests(
    emu: TelnyxEmulator,
) -> None:
    emu.fail_next_token_requests(2, status=502)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    await arequest_token(config_for(emu), ClientCredentialsGrant(), sleep=record)
    assert emu.counters.token_requests == 3
    assert len(delays) == 2


async def test_arequest_token_429_waits_at_least_retry_after(emu: TelnyxEmulator) -> None:
    emu.rate_limit_next_token_requests(1, retry_after=1, body="html")
    await arequest_token(config_for(emu), ClientCredentialsGrant())
    first, second = emu.counters.token_request_times
    assert second - first >= 1.0


async def test_arequest_token_always_503_and_401_are_typed_errors(emu: TelnyxEmulator) -> None:
    async def no_wait(seconds: float) -> None:
        return None

    emu.fail_next_token_requests(3, status=503)
    with pytest.raises(TokenEndpointUnavailableError) as info:
        await arequest_token(config_for(emu), ClientCredentialsGrant(), sleep=no_wait)
    assert (info.value.attempts, emu.counters.token_requests) == (3, 3)
    wrong = config_for(emu, client_secret=SecretStr("not-the-right-secret"))
    with pytest.raises(InvalidClientError):
        await arequest_token(wrong, ClientCredentialsGrant(), sleep=no_wait)
    assert emu.counters.token_requests == 4
