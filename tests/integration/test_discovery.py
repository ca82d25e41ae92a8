"""RFC 8414 discovery and RFC 7662 introspection against real loopback servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from prefect_telnyx_oauth.discovery import (
    IntrospectionError,
    adiscover,
    aintrospect_token,
    clear_metadata_cache,
    discover,
    introspect_token,
)
from prefect_telnyx_oauth.emulator import TelnyxEmulator
from prefect_telnyx_oauth.errors import ConfigurationError, InvalidClientError
from prefect_telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    TokenEndpointConfig,
    request_token,
)
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

WELL_KNOWN = "/.well-known/oauth-authorization-server"


class MetadataServer:
    """A loopback HTTP server answering GET `WELL_KNOWN` with a set status and JSON body."""

    def __init__(self) -> None:
        self.status = 404
        self.body: Any = {"error": "not_found"}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == WELL_KNOWN:
                    outer.hits += 1
                payload = json.dumps(outer.body).encode()
                self.send_response(outer.status if self.path == WELL_KNOWN else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.base_url = f"{self.origin}/v2"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, **fields: Any) -> None:
        self.status = 200
        self.body = {"issuer": self.origin, **fields}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
def test_discover_asks_again_after_a_transient_failure(
    metadata_server: MetadataServer, status: int
) -> None:
    metadata_server.status = status
    assert discover(metadata_server.base_url).source == "defaults"
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    assert discover(metadata_server.base_url).token_endpoint == f"{metadata_server.origin}/t"
    assert metadata_server.hits == 2


def test_discover_falls_back_to_defaults_when_the_server_is_unreachable() -> None:
    server = MetadataServer()
    base = server.base_url
    server.close()
    metadata = discover(base)
    assert metadata.source == "defaults"
    assert metadata.token_endpoint == f"{base}/oauth/token"


def test_discover_ignores_metadata_of_another_issuer(metadata_server: MetadataServer) -> None:
    metadata_server.publish(token_endpoint=f"{metadata_server.origin}/t")
    metadata_server.body["issuer"] = "https://evil.example"
    metadata = discover(metadata_server.base_url)
    assert metadata.source == "defaults"
    assert metadata.token_endpoint == f"{metadata_server.base_url}/oauth/token"


def test_discover_ignores_a_body_that_is_not_a_json_object(
    metadata_server: MetadataServer,
) -> None:
    metadata_server.status = 200
    metadata_server.body = ["not", "metadata"]
    assert discover(metadata_server.base_url).source == "defaults"


def test_discover_rejects_a_published_plain_http_endpoint(metadata_server: MetadataServer) -> None:
    metadata_server.publish(token_endpoint="http://tokens.example.com/oauth/token")
    with pytest.raises(ConfigurationError, match="token_endpoint published at"):
        discover(metadata_server.base_url)


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
