"""Hostile review of the issue 17 fixes: each test is a defect found by attacking a fixed point.

Every test here failed when written (it is marked `xfail(strict=True)` until the lead fixes it,
so the suite stays green and a fix that makes it pass shows up as an unexpected pass). The peers
are real: loopback HTTP servers (`tests/integration/loopback.py`) for a gateway and an echoing
server, the emulator, and the Prefect test harness for block documents.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.cli._authorize import authorize_block
from telnyx_oauth._redact import secret_forms
from telnyx_oauth.discovery import clear_metadata_cache
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.token_client import ClientCredentialsGrant, TokenEndpointConfig, request_token
from tests.integration.loopback import LoopbackServer, QuietHandler

SECRET = "s3cr3t/with+slash=and more"


@pytest.fixture(autouse=True)
def _fresh_metadata_cache() -> Iterator[None]:
    clear_metadata_cache()
    yield
    clear_metadata_cache()


def _leaks(text: str, secret: str) -> list[str]:
    """The forms of `secret` (raw, encoded, inside base64) that appear in `text`."""
    return sorted(form for form in secret_forms(secret) if form in text)


# --- §2: every error path masks every form of what was sent -----------------------------------


class _RedirectEchoHandler(QuietHandler):
    """A token endpoint that redirects to a URL echoing the credentials it received, as a
    misconfigured gateway or a hostile server might (the path, not only the query)."""

    def do_POST(self) -> None:
        self.received_body()
        basic = self.headers.get("Authorization", "").partition(" ")[2]
        self.send_response(307)
        self.send_header(
            "Location", f"https://elsewhere.example/echo/{quote(SECRET, safe='')}/{basic}?q=1"
        )
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_redirect_error_from_an_echoing_token_endpoint_masks_the_client_secret() -> None:
    server = LoopbackServer(_RedirectEchoHandler)
    try:
        config = TokenEndpointConfig(
            token_url=f"{server.base_url}/oauth/token",
            client_id="review-client",
            client_secret=SecretStr(SECRET),
        )
        with pytest.raises(TelnyxOAuthError) as caught:
            request_token(config, ClientCredentialsGrant())
    finally:
        server.close()
    message = str(caught.value)
    assert "307" in message  # the error is the redirect's
    assert _leaks(message, SECRET) == []


# --- §2: authorize sends the client secret only where the user pointed it ----------------------


class _GatewayHandler(QuietHandler):
    """A corporate gateway: the Telnyx API under /telnyx/v2, and at its origin the metadata of
    its own identity provider (issuer = the origin, endpoints under /idp on that origin)."""

    idp_token_requests: list[dict[str, str]]
    api_token_requests: list[dict[str, str]]

    def do_GET(self) -> None:
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        parts = urlsplit(self.path)
        if parts.path == "/.well-known/oauth-authorization-server":
            metadata = {
                "issuer": origin,
                "authorization_endpoint": f"{origin}/idp/authorize",
                "token_endpoint": f"{origin}/idp/token",
            }
            self.answer(200, json.dumps(metadata).encode())
        elif parts.path in ("/idp/authorize", "/telnyx/v2/oauth/authorize"):
            query = parse_qs(parts.query)
            target = (
                query["redirect_uri"][0]
                + "?"
                + urlencode({"code": "review-code", "state": query["state"][0]})
            )
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.answer(404, b"{}")

    def do_POST(self) -> None:
        received = {
            "path": self.path,
            "authorization": self.headers.get("Authorization", ""),
            "body": self.received_body().decode(),
        }
        if self.path.startswith("/idp/"):
            type(self).idp_token_requests.append(received)
            self.answer(400, b'{"error": "invalid_grant"}')
        else:
            type(self).api_token_requests.append(received)
            token = {
                "access_token": "review-access",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "review-refresh",
            }
            self.answer(200, json.dumps(token).encode())


@pytest.mark.usefixtures("prefect_api")
def test_authorize_never_sends_the_client_secret_to_a_gateway_identity_provider() -> None:
    handler = type(
        "Gateway", (_GatewayHandler,), {"idp_token_requests": [], "api_token_requests": []}
    )
    server = LoopbackServer(handler)
    try:
        name = f"review-{uuid.uuid4().hex[:10]}"
        TelnyxOAuthCredentials(
            client_id="review-client",
            client_secret=SecretStr(SECRET),
            base_url=f"{server.origin}/telnyx/v2",
        ).save(name, _sync=True)  # type: ignore[call-arg]

        def consent(url: str) -> Any:
            with httpx.Client(follow_redirects=True, timeout=30) as browser:
                return browser.get(url)

        with contextlib.suppress(Exception):
            authorize_block(name, open_url=consent, echo=lambda _: None, timeout_seconds=30)
    finally:
        server.close()
    # The user named base_url (discover_token_endpoint is off): the gateway's IdP gets nothing.
    assert handler.idp_token_requests == []
    assert [r["path"] for r in handler.api_token_requests] == ["/telnyx/v2/oauth/token"]


# --- §1/§5: the scope a user granted is the scope the connection refreshes with ---------------


def _consenting_browser(url: str) -> httpx.Response:
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        return browser.get(url)


@pytest.mark.usefixtures("prefect_api")
def test_authorize_with_a_narrower_scope_still_refreshes(emulator: Any) -> None:
    name = f"review-{uuid.uuid4().hex[:10]}"
    TelnyxOAuthCredentials(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        base_url=emulator.base_url,
        scope="messaging numbers",
    ).save(name, _sync=True)  # type: ignore[call-arg]
    granted = authorize_block(
        name,
        scope="messaging",
        open_url=_consenting_browser,
        echo=lambda _: None,
        timeout_seconds=60,
    )
    assert granted.scope == "messaging"

    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    # What happens at the first refresh, an hour later: the connection must go on.
    token = block.get_token(force_refresh=True)

    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }


# --- §1: a re-save never puts back a refresh token the server has retired ----------------------


@pytest.mark.usefixtures("prefect_api")
def test_resave_of_a_block_loaded_before_another_workers_refresh_keeps_the_connection(
    emulator_factory: Any,
) -> None:
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    from prefect_telnyx_oauth.testing import reset_token_caches

    emulator = emulator_factory(rotate_refresh_tokens=True)
    name = f"review-{uuid.uuid4().hex[:10]}"
    TelnyxOAuthCredentials(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        base_url=emulator.base_url,
    ).save(name, _sync=True)  # type: ignore[call-arg]
    authorize_block(name, open_url=_consenting_browser, echo=lambda _: None, timeout_seconds=60)

    # A flow loads the connected block (and keeps it, e.g. to adjust a setting).
    held = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    # Meanwhile another worker refreshes (rotation retires the refresh token `held` carries). An
    # interpreter started on its own, as a worker is: not a fork of this process.
    worker = (
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as T; "
        f"T.load({name!r}, _sync=True).get_token(force_refresh=True)"
    )
    env = os.environ | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run(
        [sys.executable, "-c", worker], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }

    # The flow saves its copy with a changed setting: an ordinary re-save of the same client.
    held.timeout_seconds = 20.0
    held.save(name, overwrite=True, _sync=True)  # type: ignore[call-arg]

    # The next run, in a fresh process, must still act as the user.
    reset_token_caches()
    fresh = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    fresh.get_token(force_refresh=True)
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 2,
    }


# --- §1: a rotated refresh token reaches the shared store even after a store hiccup -------------


class _HiccupStore:
    """A shared store (think: the Prefect API) whose first read fails after 100 ms, as an API
    restarting under a worker does; every later call works and takes 100 ms."""

    def __init__(self, token: Any) -> None:
        self.token = token
        self.reads = 0
        self.writes = 0

    @contextlib.asynccontextmanager
    async def session(self) -> Any:
        yield self

    async def read(self) -> Any:
        import asyncio

        from telnyx_oauth.errors import TokenStoreUnavailableError

        await asyncio.sleep(0.1)
        self.reads += 1
        if self.reads == 1:
            raise TokenStoreUnavailableError("the store restarted")
        return self.token

    async def write(self, token: Any) -> None:
        import asyncio

        await asyncio.sleep(0.1)
        self.writes += 1
        self.token = token

    async def try_lock(self) -> object | None:
        return "lease"

    async def unlock(self, lease: object) -> None:
        return None

    async def renew(self, lease: object) -> None:
        return None


def test_a_refresh_after_a_store_hiccup_still_saves_the_rotated_refresh_token(
    emulator_factory: Any,
) -> None:
    from telnyx_oauth.token_cache import TokenCache, TokenSource

    emulator = emulator_factory(rotate_refresh_tokens=True)
    emulator.set_refresh_token_on_client_credentials(True)
    endpoint = TokenEndpointConfig(
        token_url=emulator.token_url,
        client_id=emulator.client_id,
        client_secret=SecretStr(emulator.client_secret),
    )
    first = request_token(endpoint, ClientCredentialsGrant())
    assert first.refresh_token is not None
    store = _HiccupStore(first)  # the shared document holds the first token
    source = TokenSource(
        key="review-hiccup",
        endpoint=endpoint,
        label="review block",
        store=store,
        seed=first,
        user_grant=True,  # a connected user: the refresh token is the connection
        deadline_seconds=30.0,
    )
    with TokenCache() as cache:
        renewed = cache.get(source, force_refresh=True).token

    assert renewed.refresh_token is not None
    assert emulator.counters.token_requests_by_grant.get("refresh_token") == 1
    # Every other worker reads the store: it must hold the live refresh token, not the retired.
    # (compared as a boolean: a failure must not print a refresh token)
    live = store.token.refresh_token.get_secret_value() == renewed.refresh_token.get_secret_value()
    assert live, "the shared store still holds the retired refresh token"


# --- §2: a short secret is masked too -------------------------------------------------------------


class _EchoBodyHandler(QuietHandler):
    """A token endpoint that quotes the request body it received in `error_description`."""

    def do_POST(self) -> None:
        body = self.received_body().decode()
        answer = {"error": "invalid_client", "error_description": f"bad client in {body}"}
        self.answer(401, json.dumps(answer).encode())


def test_a_short_client_secret_echoed_by_the_server_is_masked() -> None:
    short = "Zq7w"  # the block accepts it: no minimum length
    TelnyxOAuthCredentials(client_id="review-client", client_secret=short)
    server = LoopbackServer(_EchoBodyHandler)
    try:
        config = TokenEndpointConfig(
            token_url=f"{server.base_url}/oauth/token",
            client_id="review-client",
            client_secret=SecretStr(short),
            auth_method="client_secret_post",
        )
        with pytest.raises(TelnyxOAuthError) as caught:
            request_token(config, ClientCredentialsGrant())
    finally:
        server.close()
    assert "invalid_client" in str(caught.value)
    assert short not in str(caught.value)


# --- §1: the same consent written in another order is the same connection ------------------------


@pytest.mark.usefixtures("prefect_api")
def test_resave_with_the_same_scopes_in_another_order_keeps_the_connection(
    emulator: Any,
) -> None:
    name = f"review-{uuid.uuid4().hex[:10]}"
    values = {
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "base_url": emulator.base_url,
    }
    TelnyxOAuthCredentials(**values, scope="messaging numbers").save(  # type: ignore[call-arg]
        name, _sync=True
    )
    authorize_block(name, open_url=_consenting_browser, echo=lambda _: None, timeout_seconds=60)

    TelnyxOAuthCredentials(**values, scope="numbers messaging").save(  # type: ignore[call-arg]
        name, overwrite=True, _sync=True
    )

    saved = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert saved.grant_type == "authorization_code"
    assert saved.refresh_token is not None


# --- §1/§6: an edit in Prefect's V1 UI keeps the user connection ---------------------------------


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.xfail(
    strict=True,
    reason="review: Prefect's V1 block edit form sends only the schema's properties with "
    "merge_existing_data=false, so the hidden token fields (the refresh token) are erased",
)
def test_an_edit_in_the_v1_ui_keeps_the_connected_users_refresh_token(emulator: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentUpdate

    from prefect_telnyx_oauth.testing import reset_token_caches

    name = f"review-{uuid.uuid4().hex[:10]}"
    TelnyxOAuthCredentials(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        base_url=emulator.base_url,
    ).save(name, _sync=True)  # type: ignore[call-arg]
    authorize_block(name, open_url=_consenting_browser, echo=lambda _: None, timeout_seconds=60)

    # What the V1 form (Switch to V1 UI, docs/blocks.md) PATCHes when a person changes the
    # timeout: the values it read (secrets masked), mapped over the schema's `properties` only
    # (its object mapper), and `updateBlockDocument`'s default mergeExistingData: false.
    properties = TelnyxOAuthCredentials.model_json_schema()["properties"]
    with get_client(sync_client=True) as client:
        shown = client.read_block_document_by_name(
            name, "telnyx-oauth-credentials", include_secrets=False
        )
        form = {key: value for key, value in shown.data.items() if key in properties}
        form["timeout_seconds"] = 20.0
        client.update_block_document(
            shown.id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=form, merge_existing_data=False),
        )

    reset_token_caches()  # the next run, in a new process
    edited = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert edited.timeout_seconds == 20.0
    assert edited.grant_type == "authorization_code"
    edited.get_token(force_refresh=True)
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }
