"""RFC 8414 discovery and RFC 7662 introspection against real loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth import discovery
from telnyx_oauth._token_request import basic_authorization
from telnyx_oauth.discovery import (
    IntrospectionError,
    adiscover,
    aintrospect_token,
    clear_metadata_cache,
    discover,
    introspect_token,
)
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError, InvalidClientError, TokenRequestError
from telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    TokenEndpointConfig,
    request_token,
)
from tests.integration.loopback import LoopbackServer, QuietHandler
from tests.secret_scan import secret_scan_fixture, secret_variants  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

WELL_KNOWN = "/.well-known/oauth-authorization-server"


class MetadataServer(LoopbackServer):
    """A loopback HTTP server answering GET `WELL_KNOWN` with a set status and JSON body."""

    def __init__(self) -> None:
        self.status = 404
        self.body: Any = {"error": "not_found"}
        self.hits = 0
        self.delay_seconds = 0.0
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == WELL_KNOWN:
                    outer.hits += 1
                    time.sleep(outer.delay_seconds)
                payload = json.dumps(outer.body).encode()
                self.answer(outer.status if self.path == WELL_KNOWN else 404, payload)

        super().__init__(Handler)

    def publish(self, **fields: Any) -> None:
        self.status = 200
        self.body = {"issuer": self.origin, **fields}


@pytest.fixture(autouse=True)
def _fresh_metadata_cache() -> Iterator[None]:
    clear_metadata_cache()
    yield
    clear_metadata_cache()


@pytest.fixture
def metadata_server() -> Iterator[MetadataServer]:
    server = MetadataServer()
    yield server
    server.close()


def _config(emulator: TelnyxEmulator, secret: str | None = None) -> TokenEndpointConfig:
    return TokenEndpointConfig(
        token_url=emulator.token_url,
        client_id=emulator.client_id,
        client_secret=SecretStr(secret or emulator.client_secret),
    )


# --- discovery ---------------------------------------------------------------------------------


def test_discover_uses_the_emulators_published_metadata(emulator: TelnyxEmulator) -> None:
    metadata = discover(emulator.base_url)
    assert metadata.source == "metadata"
    assert metadata.token_endpoint == emulator.token_url
    assert metadata.authorization_endpoint == f"{emulator.base_url}/oauth/authorize"
    assert metadata.introspection_endpoint == f"{emulator.base_url}/oauth/introspect"
    assert metadata.issuer == emulator.base_url.removesuffix("/v2")
    assert metadata.scopes_supported


async def test_adiscover_uses_the_emulators_published_metadata(emulator: TelnyxEmulator) -> None:
    metadata = await adiscover(emulator.base_url)
    assert metadata.source == "metadata"
    assert metadata.authorization_endpoint == f"{emulator.base_url}/oauth/authorize"


def test_discover_takes_endpoints_that_differ_from_defaults_from_metadata_once(
    metadata_server: MetadataServer,
) -> None:
    origin = metadata_server.origin
    metadata_server.publish(
        token_endpoint=f"{origin}/custom/token",
        authorization_endpoint=f"{origin}/custom/authorize",
    )
    first = discover(metadata_server.base_url)
    second = discover(metadata_server.base_url + "/")
    assert first == second
    assert first.token_endpoint == f"{origin}/custom/token"
    assert first.authorization_endpoint == f"{origin}/custom/authorize"
    # Not published: the default applies to that one endpoint.
    assert first.introspection_endpoint == f"{metadata_server.base_url}/oauth/introspect"
    assert metadata_server.hits == 1


async def test_adiscover_shares_the_cache_with_discover(metadata_server: MetadataServer) -> None:
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    discover(metadata_server.base_url)
    metadata = await adiscover(metadata_server.base_url)
    assert metadata.token_endpoint == f"{metadata_server.origin}/t"
    assert metadata_server.hits == 1


def test_discover_falls_back_to_defaults_when_nothing_is_published_and_remembers_it(
    metadata_server: MetadataServer,
) -> None:
    base = metadata_server.base_url
    first = discover(base)
    discover(base)
    assert first.source == "defaults"
    assert first.token_endpoint == f"{base}/oauth/token"
    assert first.authorization_endpoint == f"{base}/oauth/authorize"
    assert first.introspection_endpoint == f"{base}/oauth/introspect"
    assert metadata_server.hits == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_discover_remembers_a_transient_failure_for_a_while_then_asks_again(
    metadata_server: MetadataServer, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata_server.status = status
    assert discover(metadata_server.base_url).source == "defaults"
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    assert discover(metadata_server.base_url).source == "defaults"
    assert metadata_server.hits == 1, "a failed metadata document is fetched again at once"
    monkeypatch.setattr(discovery, "RETRY_FAILED_METADATA_SECONDS", 0.0)
    assert discover(metadata_server.base_url).token_endpoint == f"{metadata_server.origin}/t"
    assert metadata_server.hits == 2


async def test_adiscover_cut_short_by_its_caller_is_remembered_as_a_failure(
    metadata_server: MetadataServer,
) -> None:
    # The token refresh bounds discovery with asyncio.wait_for; a metadata endpoint that hangs
    # must not cost that wait again at every refresh.
    metadata_server.delay_seconds = 2.0
    for _ in range(2):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(adiscover(metadata_server.base_url), 0.3)
    assert (await adiscover(metadata_server.base_url)).source == "defaults"
    assert metadata_server.hits == 1


def test_discover_falls_back_to_defaults_when_the_server_is_unreachable() -> None:
    server = MetadataServer()
    base = server.base_url
    server.close()
    metadata = discover(base)
    assert metadata.source == "defaults"
    assert metadata.token_endpoint == f"{base}/oauth/token"


def test_discover_ignores_metadata_of_another_issuer(
    metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    metadata_server.body["issuer"] = "https://evil.example"
    _refused(metadata_server, caplog)


def _refused(metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture) -> None:
    """The document is not followed, the defaults apply, it is not fetched again, and a warning
    says why (once)."""
    caplog.set_level(logging.WARNING, logger=discovery.logger.name)
    for _ in range(2):
        metadata = discover(metadata_server.base_url)
        assert metadata.source == "defaults"
        assert metadata.token_endpoint == f"{metadata_server.base_url}/oauth/token"
    assert metadata_server.hits == 1
    warnings = [r for r in caplog.records if r.name == discovery.logger.name]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert metadata_server.base_url.removesuffix("/v2") in warnings[0].getMessage()


def test_discover_refuses_metadata_without_an_issuer(
    metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    del metadata_server.body["issuer"]
    _refused(metadata_server, caplog)


def test_discover_refuses_an_issuer_other_than_the_origin(
    metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    metadata_server.body["issuer"] = metadata_server.base_url
    _refused(metadata_server, caplog)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://idp.example.com/oauth/token",
        "http://tokens.example.com/oauth/token",
        "http://localhost:1/oauth/token",  # loopback, but not the issuer's host
    ],
)
def test_discover_refuses_an_endpoint_off_the_issuers_host(
    metadata_server: MetadataServer, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_server.publish(token_endpoint=endpoint)
    _refused(metadata_server, caplog)


def test_discover_refuses_an_endpoint_on_another_port_of_the_issuers_host(
    metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Another port of the same host may be another server (another emulator, here).
    other = MetadataServer()
    other.close()
    metadata_server.publish(authorization_endpoint=f"{other.base_url}/oauth/authorize")
    _refused(metadata_server, caplog)


def test_discover_refuses_a_body_that_is_not_a_json_object_and_remembers_it(
    metadata_server: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_server.status = 200
    metadata_server.body = ["not", "metadata"]
    _refused(metadata_server, caplog)


def test_discover_refuses_plain_http_on_a_dot_localhost_name() -> None:
    # `*.localhost` names may be resolved by DNS, off this machine: only localhost, 127.0.0.0/8
    # and ::1 are loopback.
    with pytest.raises(ConfigurationError, match="plain http"):
        discover("http://api.localhost:8080/v2")


def test_discover_rejects_an_insecure_base_url() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        discover("http://api.example.com/v2")


# --- introspection -----------------------------------------------------------------------------


def test_introspect_token_reports_an_issued_token_active(emulator: TelnyxEmulator) -> None:
    config = _config(emulator)
    token = request_token(config, ClientCredentialsGrant())
    url = discover(emulator.base_url).introspection_endpoint
    info = introspect_token(config, token.access_token, introspection_url=url)
    assert info.active is True
    assert info.client_id == emulator.client_id
    assert info.scope == token.scope
    assert info.token_type == "Bearer"
    assert info.expires_at is not None
    assert abs((info.expires_at - token.expires_at).total_seconds()) < 5


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_aintrospect_token_reports_a_revoked_token_inactive(
    emulator: TelnyxEmulator, auth_method: Any
) -> None:
    config = TokenEndpointConfig(
        token_url=emulator.token_url,
        client_id=emulator.client_id,
        client_secret=SecretStr(emulator.client_secret),
        auth_method=auth_method,
    )
    token = request_token(config, ClientCredentialsGrant())
    emulator.revoke_all_tokens()
    url = f"{emulator.base_url}/oauth/introspect"
    info = await aintrospect_token(config, token.access_token, introspection_url=url)
    assert info.active is False
    assert info.client_id is None


def test_introspect_token_with_a_wrong_secret_raises_invalid_client_without_secrets(
    emulator: TelnyxEmulator,
) -> None:
    token = request_token(_config(emulator), ClientCredentialsGrant())
    wrong = "wrong-secret-value"
    url = f"{emulator.base_url}/oauth/introspect"
    with pytest.raises(InvalidClientError) as caught:
        introspect_token(_config(emulator, wrong), token.access_token, introspection_url=url)
    message = str(caught.value)
    assert caught.value.error == "invalid_client"
    assert "Check client_id and client_secret" in message
    assert wrong not in message
    assert token.access_token.get_secret_value() not in message


def test_introspect_token_at_a_wrong_url_raises_introspection_error(
    emulator: TelnyxEmulator,
) -> None:
    with pytest.raises(IntrospectionError) as caught:
        introspect_token(_config(emulator), "x", introspection_url=f"{emulator.base_url}/nope")
    assert caught.value.status_code == 404
    assert "/oauth/introspect" in str(caught.value)


def test_introspect_token_unreachable_raises_introspection_error() -> None:
    server = MetadataServer()
    url = f"{server.base_url}/oauth/introspect"
    server.close()
    config = TokenEndpointConfig(token_url=url, client_id="c", client_secret=SecretStr("s"))
    with pytest.raises(IntrospectionError, match="could not be reached") as caught:
        introspect_token(config, "x", introspection_url=url)
    assert caught.value.status_code is None


def test_introspect_token_refuses_plain_http_on_a_public_host(emulator: TelnyxEmulator) -> None:
    with pytest.raises(ConfigurationError, match="introspection_url"):
        introspect_token(
            _config(emulator), "x", introspection_url="http://example.com/oauth/introspect"
        )


# --- what an echoing server gets back into our errors ------------------------------------------

ECHO = "{echo}"
ORIGIN = "{origin}"
ERROR_TEXT_LIMIT = 200  # the longest piece of server text an error or log line quotes
CONTROL = "\x1b[31m\r\nforged log line\x00"


class EchoServer(LoopbackServer):
    """A loopback server that puts everything it received into its answer, as some servers do.

    `status` and `body` are what it answers (to any method and path); every `ECHO` in the body is
    replaced by the request line, headers and body it received, plus terminal control characters.
    """

    def __init__(self) -> None:
        self.status = 400
        self.body: Any = {"error": "invalid_request", "error_description": ECHO}
        self.content_type = "application/json"
        outer = self

        class Handler(QuietHandler):
            def _echo(self) -> None:
                received = f"{self.requestline}\n{self.headers}\n{self.received_body().decode()}"
                echoed = (received + CONTROL) * 3
                if isinstance(outer.body, str):
                    payload = outer.body.replace(ECHO, echoed)
                else:
                    payload = json.dumps(outer.body)
                    payload = payload.replace(json.dumps(ECHO)[1:-1], json.dumps(echoed)[1:-1])
                payload = payload.replace(ORIGIN, outer.origin)
                self.answer(outer.status, payload.encode(), outer.content_type)

            do_GET = do_POST = _echo

        super().__init__(Handler)


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


# Characters that change under percent-, form- and base64-encoding, so each form differs.
ODD_SECRET = "s3cr3t/+&=?%ü-value"
ODD_TOKEN = "tok/+&=?-access-token-value"


def _assert_shown_safely(*texts: str | None, secrets: list[str], limit: int) -> None:
    for text in texts:
        if text is None:
            continue
        for secret in secrets:
            leaked = sorted(v for v in secret_variants(secret) if v in text)
            assert not leaked, f"{leaked} in {text!r}"
        assert not any(not char.isprintable() for char in text), repr(text)
        assert len(text) <= limit, len(text)


INTROSPECTION_ERROR_ANSWERS = [
    pytest.param(401, {"error": "invalid_client", "error_description": ECHO}, id="invalid_client"),
    pytest.param(400, {"error": ECHO, "error_description": ECHO}, id="echoed_error_code"),
    pytest.param(400, {"error": "invalid_request", "error_description": ECHO}, id="description"),
    pytest.param(500, ECHO, id="text_body"),
    pytest.param(200, {"active": "yes", "note": ECHO}, id="not_an_introspection"),
]


@pytest.mark.parametrize(("status", "body"), INTROSPECTION_ERROR_ANSWERS)
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_introspection_errors_show_nothing_an_echoing_server_got_from_us(
    echo_server: EchoServer, status: int, body: Any, auth_method: Any
) -> None:
    echo_server.status, echo_server.body = status, body
    if isinstance(body, str):
        echo_server.content_type = "text/plain"
    url = f"{echo_server.base_url}/oauth/introspect"
    config = TokenEndpointConfig(
        token_url=url,
        client_id="client-id",
        client_secret=SecretStr(ODD_SECRET),
        auth_method=auth_method,
    )
    basic = basic_authorization(config.client_id, config.client_secret).removeprefix("Basic ")
    with pytest.raises((TokenRequestError, IntrospectionError)) as caught:
        await aintrospect_token(config, SecretStr(ODD_TOKEN), introspection_url=url)
    error = caught.value
    secrets = [ODD_SECRET, ODD_TOKEN, basic]
    # Each piece of server text is bounded; the message quotes at most the code and description.
    _assert_shown_safely(str(error), repr(error), secrets=secrets, limit=3 * ERROR_TEXT_LIMIT + 400)
    if isinstance(error, TokenRequestError):
        _assert_shown_safely(
            error.error, error.error_description, secrets=secrets, limit=ERROR_TEXT_LIMIT
        )


DISCOVERY_ANSWERS = [
    pytest.param(404, ECHO, id="not_found"),
    pytest.param(500, ECHO, id="server_error"),
    pytest.param(200, ECHO, id="not_json"),
    pytest.param(200, {"issuer": ECHO, "token_endpoint": ECHO}, id="echoed_issuer"),
    pytest.param(200, {"token_endpoint": ECHO}, id="no_issuer"),
    pytest.param(200, {"issuer": ORIGIN, "token_endpoint": ECHO}, id="echoed_endpoint"),
    pytest.param(
        200, {"issuer": ORIGIN, "token_endpoint": f"https://x.example/{ECHO}"}, id="foreign_host"
    ),
]


@pytest.mark.parametrize(("status", "body"), DISCOVERY_ANSWERS)
def test_discovery_failures_log_only_bounded_printable_text_from_an_echoing_server(
    echo_server: EchoServer, status: int, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    echo_server.status, echo_server.body = status, body
    if isinstance(body, str):
        echo_server.content_type = "text/plain"
    secret = SecretStr(ODD_SECRET)
    # A caller's client that would authenticate its own requests: the metadata GET never does.
    basic = basic_authorization("client-id", secret)
    caplog.set_level(logging.DEBUG, logger=discovery.logger.name)
    with httpx.Client(headers={"Authorization": basic}, auth=("client-id", ODD_SECRET)) as http:
        metadata = discover(echo_server.base_url, client=http)
    assert metadata.source == "defaults"
    messages = [r.getMessage() for r in caplog.records if r.name == discovery.logger.name]
    assert messages, "say why the metadata was not used"
    _assert_shown_safely(*messages, secrets=[ODD_SECRET, basic.removeprefix("Basic ")], limit=600)
