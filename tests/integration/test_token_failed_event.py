"""Token events on a real Prefect API: `.failed` once per failed refresh, and `.refreshed`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from prefect_telnyx_oauth import (
    InvalidClientError,
    InvalidGrantError,
    TelnyxOAuthCredentials,
    TokenEndpointUnavailableError,
)
from prefect_telnyx_oauth.events import TOKEN_FAILED, TOKEN_ISSUED, TOKEN_REFRESHED
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block
from tests.integration.test_authorization_code_block import connect
from tests.secret_scan import secret_scan_fixture, secret_variants  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")


async def failed_events(resource_id: str, count: int) -> list[Any]:
    """The failure events of `resource_id`, once `count` of them arrived (the server persists
    events asynchronously), or what arrived after ~20 s."""
    events: list[Any] = []
    async with get_client() as client:
        for _ in range(100):
            page = await client.read_events(
                EventFilter(
                    event=EventNameFilter(name=[TOKEN_FAILED]),
                    resource=EventResourceFilter(id=[resource_id]),
                ),
                limit=50,
            )
            events = list(page.events)
            if len(events) >= count:
                break
            await asyncio.sleep(0.2)
    return events


async def saved(block: TelnyxOAuthCredentials, name: str) -> tuple[TelnyxOAuthCredentials, str]:
    await block.asave(name, overwrite=True)
    loaded = await TelnyxOAuthCredentials.aload(name)
    return loaded, f"prefect.block-document.{loaded._block_document_id}"


async def test_refused_secret_emits_one_non_retryable_failed_event_without_the_secret(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    wrong = emulator.client_secret[::-1]
    block, resource_id = await saved(make_block(emulator, client_secret=wrong), "refused")

    with pytest.raises(InvalidClientError):
        await block.aget_token()

    events = await failed_events(resource_id, 1)
    assert len(events) == 1
    event = events[0]
    assert event.payload["error_class"] == "InvalidClientError"
    assert event.payload["error"] == "invalid_client"
    assert event.payload["retryable"] is False
    assert event.payload["grant"] == "client_credentials"
    assert event.payload["attempts"] == 1
    assert event.payload["block_name"] == "refused"
    assert event.resource["telnyx.oauth.retryable"] == "false"
    assert event.resource["telnyx.oauth.error"] == "invalid_client"
    text = event.model_dump_json()
    assert not any(variant in text for variant in secret_variants(wrong))


async def test_outage_emits_a_retryable_failed_event_counting_every_attempt(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block, resource_id = await saved(make_block(emulator), "outage")
    emulator.fail_next_token_requests(100, status=503)

    with pytest.raises(TokenEndpointUnavailableError):
        await block.aget_token()

    events = await failed_events(resource_id, 1)
    assert len(events) == 1
    payload = events[0].payload
    assert payload["error_class"] == "TokenEndpointUnavailableError"
    assert payload["retryable"] is True
    assert payload["status_code"] == 503
    assert payload["attempts"] == emulator.counters.token_requests == 3
    assert events[0].resource["telnyx.oauth.retryable"] == "true"


async def test_concurrent_callers_of_one_failed_refresh_make_one_event(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    wrong = emulator.client_secret[::-1]
    block, resource_id = await saved(make_block(emulator, client_secret=wrong), "herd")
    emulator.set_token_latency(0.3)  # every caller joins the one flight in flight

    results = await asyncio.gather(*(block.aget_token() for _ in range(5)), return_exceptions=True)

    assert all(isinstance(result, InvalidClientError) for result in results)
    assert emulator.counters.token_requests == 1
    await asyncio.sleep(2)  # a second event, if any, would have landed by now
    assert len(await failed_events(resource_id, 2)) == 1


class _EchoingTokenEndpoint(BaseHTTPRequestHandler):
    """A token endpoint that refuses everything and quotes the request back in its description:
    the Authorization header (the secret in base64) and the form body (the secret raw)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        description = f"refused {self.headers.get('authorization')} with {body}"
        answer = json.dumps({"error": "invalid_client", "error_description": description})
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_token_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingTokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/oauth/token"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_failed_event_masks_a_secret_the_server_echoes(
    prefect_api: None, emulator: TelnyxEmulator, echoing_token_url: str, auth_method: str
) -> None:
    secret = "s3cr3t-Echoed+Value/42"
    block = make_block(
        emulator,
        client_secret=secret,
        token_url=echoing_token_url,
        token_endpoint_auth_method=auth_method,
        token_request_format="form",
    )
    block, resource_id = await saved(block, f"echoed-{auth_method.rsplit('_', 1)[1]}")

    with pytest.raises(InvalidClientError):
        await block.aget_token()

    events = await failed_events(resource_id, 1)
    assert len(events) == 1
    assert events[0].payload["error_description"].startswith("refused")
    text = events[0].model_dump_json()
    assert not any(variant in text for variant in secret_variants(secret))


async def test_revoked_user_refresh_token_emits_a_non_retryable_invalid_grant_event(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("revoked-user", overwrite=True)
    connect(block, emulator)
    emulator.revoke_all_tokens()
    reset_token_caches()
    loaded = await TelnyxOAuthCredentials.aload("revoked-user")
    resource_id = f"prefect.block-document.{loaded._block_document_id}"
    loaded.invalidate_token()

    with pytest.raises(InvalidGrantError):
        await loaded.aget_token(force_refresh=True)

    events = await failed_events(resource_id, 1)
    assert len(events) == 1
    payload = events[0].payload
    assert payload["error"] == "invalid_grant"
    assert payload["retryable"] is False
    assert payload["grant"] == "authorization_code"
    assert events[0].resource["telnyx.oauth.retryable"] == "false"
    text = events[0].model_dump_json()
    for secret in emulator.issued_refresh_tokens():
        assert not any(variant in text for variant in secret_variants(secret))


async def _events_named(name: str, resource_id: str) -> list[Any]:
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(
                event=EventNameFilter(name=[name]),
                resource=EventResourceFilter(id=[resource_id]),
            ),
            limit=50,
        )
    return list(page.events)


async def test_refreshed_event_beside_issued_only_for_a_refresh_token_grant(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    user = make_block(emulator)
    await user.asave("refreshing-user", overwrite=True)
    connect(user, emulator)
    reset_token_caches()
    loaded = await TelnyxOAuthCredentials.aload("refreshing-user")
    user_resource = f"prefect.block-document.{loaded._block_document_id}"
    client_block, client_resource = await saved(make_block(emulator), "client-only")

    await loaded.aget_token(force_refresh=True)
    await client_block.aget_token()

    for _ in range(100):  # the server persists events asynchronously
        refreshed = await _events_named(TOKEN_REFRESHED, user_resource)
        issued = await _events_named(TOKEN_ISSUED, client_resource)
        if refreshed and issued:
            break
        await asyncio.sleep(0.2)
    assert [event.payload["grant"] for event in refreshed] == ["refresh_token"]
    assert "refresh_token" in [
        e.payload["grant"] for e in await _events_named(TOKEN_ISSUED, user_resource)
    ]
    assert [event.payload["grant"] for event in issued] == ["client_credentials"]
    assert await _events_named(TOKEN_REFRESHED, client_resource) == []
