"""Credentials go only where the user pointed them: `token_url`, or `base_url` + `/oauth/token`.

The peers are real loopback servers: two emulators (the Telnyx API behind a gateway, and another
identity provider) and a small gateway in front of the first one, which serves its own RFC 8414
metadata at its origin and forwards every other request, as a corporate API gateway does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError, TokenResponseError
from tests.integration.loopback import LoopbackServer, QuietHandler
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

WELL_KNOWN = "/.well-known/oauth-authorization-server"


class Gateway(LoopbackServer):
    """A loopback gateway: its own metadata at `WELL_KNOWN`, everything else forwarded upstream."""

    def __init__(self, upstream: str) -> None:
        self.metadata: dict[str, Any] = {}
        self.metadata_hits = 0
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == WELL_KNOWN:
                    outer.metadata_hits += 1
                    self.answer(200, json.dumps(outer.metadata).encode())
                else:
                    self.do_POST()

            def do_POST(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                forwarded = httpx.request(
                    self.command,
                    upstream + self.path,
                    headers=headers,
                    content=self.received_body(),
                )
                kind = forwarded.headers.get("content-type", "text/plain")
                self.answer(forwarded.status_code, forwarded.content, kind)

        super().__init__(Handler)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_token_caches()
    yield
    reset_token_caches()


@pytest.fixture
def telnyx(emulator_factory: Callable[..., TelnyxEmulator]) -> TelnyxEmulator:
    return emulator_factory()


@pytest.fixture
def other_idp(emulator_factory: Callable[..., TelnyxEmulator]) -> TelnyxEmulator:
    """Another identity provider that would accept the same client credentials."""
    return emulator_factory()


@pytest.fixture
def gateway(telnyx: TelnyxEmulator) -> Iterator[Gateway]:
    server = Gateway(telnyx.base_url.removesuffix("/v2"))
    yield server
    server.close()


def _block(base_url: str, emulator: TelnyxEmulator, **fields: Any) -> TelnyxOAuthCredentials:
    return TelnyxOAuthCredentials(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        base_url=base_url,
        **fields,
    )


def _idp_metadata(gateway: Gateway, idp: TelnyxEmulator, issuer: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "token_endpoint": idp.token_url,
        "authorization_endpoint": f"{idp.base_url}/oauth/authorize",
    }
    if issuer == "gateway":
        metadata["issuer"] = gateway.origin
    return metadata


@pytest.mark.parametrize("issuer", [None, "gateway"])
@pytest.mark.parametrize("discover_token_endpoint", [False, True])
def test_block_sends_credentials_to_base_url_token_path_not_to_a_gateways_idp(
    gateway: Gateway,
    telnyx: TelnyxEmulator,
    other_idp: TelnyxEmulator,
    issuer: str | None,
    discover_token_endpoint: bool,
) -> None:
    # The gateway's origin publishes its own identity provider's metadata: no issuer, or an
    # issuer that is the gateway itself but a token endpoint on another host.
    gateway.metadata = _idp_metadata(gateway, other_idp, issuer)
    fields = {"discover_token_endpoint": True} if discover_token_endpoint else {}
    block = _block(gateway.base_url, telnyx, **fields)

    block.get_token()

    assert other_idp.counters.token_requests == 0, "the client secret went to another host"
    assert telnyx.counters.token_requests == 1


def test_block_by_default_never_asks_for_server_metadata(gateway: Gateway, telnyx: Any) -> None:
    gateway.metadata = {"issuer": gateway.origin, "token_endpoint": f"{gateway.base_url}/x"}
    _block(gateway.base_url, telnyx).get_token(force_refresh=True)
    assert gateway.metadata_hits == 0
    assert telnyx.counters.token_requests == 1


def test_block_with_a_wrong_base_path_fails_at_the_first_token_request_naming_the_url(
    telnyx: TelnyxEmulator,
) -> None:
    # The emulator's origin publishes honest metadata, so discovery used to paper over the
    # wrong path for tokens, and the mistake showed only at the first API call.
    wrong = f"{telnyx.base_url}/v2"
    with pytest.raises(TokenResponseError) as caught:
        _block(wrong, telnyx).get_token()
    assert caught.value.status_code == 404
    assert f"{wrong}/oauth/token" in str(caught.value)
    assert "base_url" in str(caught.value)


def test_block_that_opts_into_discovery_uses_the_servers_strict_metadata(
    telnyx: TelnyxEmulator,
) -> None:
    # Same wrong path, but the user chose discovery: the emulator's metadata (issuer equal to
    # its origin, endpoints on its own host) names the real token endpoint.
    block = _block(f"{telnyx.base_url}/v2", telnyx, discover_token_endpoint=True)
    block.get_token()
    assert telnyx.counters.token_requests_by_status == {200: 1}


def test_discover_token_endpoint_reads_its_variable_and_an_explicit_value_wins(
    telnyx: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_DISCOVER_TOKEN_ENDPOINT", "true")
    assert _block(telnyx.base_url, telnyx).discover_token_endpoint is True
    explicit = _block(telnyx.base_url, telnyx, discover_token_endpoint=False)
    assert explicit.discover_token_endpoint is False


def test_discover_token_endpoint_variable_with_a_bad_value_names_it(
    telnyx: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_DISCOVER_TOKEN_ENDPOINT", "maybe")
    with pytest.raises(ConfigurationError, match="TELNYX_DISCOVER_TOKEN_ENDPOINT"):
        _block(telnyx.base_url, telnyx)


def test_a_404_with_an_oauth_style_body_still_names_the_url_tried() -> None:
    # A gateway with no route for the path answers 404 in OAuth words; no token endpoint answers
    # 404, so the message must still say which URL was tried and what to check.
    class NoRoute(QuietHandler):
        def do_POST(self) -> None:
            self.received_body()
            body = {"error": "not_found", "error_description": "no route"}
            self.answer(404, json.dumps(body).encode())

    server = LoopbackServer(NoRoute)
    try:
        block = TelnyxOAuthCredentials(
            client_id="client-id", client_secret="client-secret-value", base_url=server.base_url
        )
        with pytest.raises(TokenResponseError) as caught:
            block.get_token()
    finally:
        server.close()
    message = str(caught.value)
    assert f"{server.base_url}/oauth/token" in message
    assert "base_url" in message
    assert caught.value.status_code == 404
