"""The block on a real Prefect API: schema, validation, persistence, reuse, UI edits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from prefect import flow
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr

from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError, InvalidClientError
from telnyx_oauth.models import utc_now
from telnyx_oauth.token_cache import default_cache
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

CACHE_FIELDS = (
    "access_token",
    "access_token_expires_at",
    "access_token_issued_at",
    "refresh_token",
    "access_token_credentials",
)


async def read_document(name: str, *, include_secrets: bool = True) -> dict[str, Any]:
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            name, "telnyx-oauth-credentials", include_secrets=include_secrets
        )
    return dict(document.data)


class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return TelnyxOAuthCredentials

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # The upstream check downloads the logo; nothing in this suite leaves loopback.
        assert str(block._logo_url).startswith("https://")


def test_block_schema_hides_token_cache_fields_from_the_ui_form() -> None:
    schema = TelnyxOAuthCredentials.model_json_schema()
    shown = set(schema["properties"])
    assert not shown & set(CACHE_FIELDS)
    assert {"client_id", "client_secret", "scope", "base_url"} <= shown
    # Hidden from the form, but still secrets: encrypted and masked like client_secret.
    assert {"client_secret", "access_token", "refresh_token"} <= set(schema["secret_fields"])


def test_block_metadata_is_stable() -> None:
    assert TelnyxOAuthCredentials.get_block_type_name() == "Telnyx OAuth Credentials"
    assert TelnyxOAuthCredentials.get_block_type_slug() == "telnyx-oauth-credentials"
    assert TelnyxOAuthCredentials._documentation_url


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"client_id": "  "}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"base_url": "http://api.telnyx.com/v2"}, "http://api.telnyx.com/v2"),
        ({"refresh_leeway_seconds": -1}, "refresh_leeway_seconds"),
    ],
)
def test_block_bad_input_raises_configuration_error_naming_it(
    overrides: dict[str, Any], named: str
) -> None:
    values: dict[str, Any] = {"client_id": "cid", "client_secret": "sec"} | overrides
    with pytest.raises(ConfigurationError, match=named):
        TelnyxOAuthCredentials(**values)


def test_block_from_env_reads_telnyx_variables(
    monkeypatch: pytest.MonkeyPatch, emulator: TelnyxEmulator
) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("TELNYX_BASE_URL", emulator.base_url)
    monkeypatch.setenv("TELNYX_OAUTH_SCOPE", "messaging")
    block = TelnyxOAuthCredentials.from_env()
    assert block.scope == "messaging"
    assert block.get_token().scope == "messaging"


def test_block_from_env_without_secret_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="TELNYX_CLIENT_ID"):
        TelnyxOAuthCredentials.from_env()


def test_block_repr_never_shows_secrets(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    token = block.get_token()
    text = repr(block) + str(block) + repr(token)
    assert emulator.client_secret not in text
    assert token.access_token.get_secret_value() not in text


def test_unsaved_block_keeps_token_in_memory_across_copies(emulator: TelnyxEmulator) -> None:
    first = make_block(emulator).get_token()
    second = make_block(emulator).get_token()
    assert first.access_token == second.access_token
    assert emulator.counters.token_requests == 1


def test_block_with_other_secret_is_never_answered_from_the_cached_token(
    emulator: TelnyxEmulator,
) -> None:
    make_block(emulator).get_token()
    with pytest.raises(InvalidClientError):
        make_block(emulator, client_secret=emulator.client_secret[::-1]).get_token()
    assert emulator.counters.token_requests == 2


def test_invalidate_token_makes_the_next_call_request_a_new_one(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    first = block.get_token()
    block.invalidate_token()
    second = block.get_token()
    assert first.access_token != second.access_token
    assert emulator.counters.token_requests == 2


def test_force_refresh_returns_a_new_token(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    first = block.get_token()
    assert block.get_token(force_refresh=True).access_token != first.access_token


async def test_saved_block_token_is_persisted_encrypted_and_masked(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("persisted", overwrite=True)
    token = await block.aget_token()
    stored = await read_document("persisted")
    assert stored["access_token"] == token.access_token.get_secret_value()
    assert stored["access_token_expires_at"]
    masked = await read_document("persisted", include_secrets=False)
    assert masked["access_token"] != token.access_token.get_secret_value()
    assert set(masked["access_token"]) == {"*"}


async def test_token_reused_across_flow_runs_through_the_block_document(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("reuse-across-runs", overwrite=True)

    @flow
    async def pipeline() -> str:
        block = await TelnyxOAuthCredentials.aload("reuse-across-runs")
        token = get_telnyx_token(block)
        return token.expires_at.isoformat()

    first = await pipeline()
    default_cache.clear()  # flow run 2 behaves like a new process
    second = await pipeline()
    assert first == second
    assert emulator.counters.token_requests == 1


async def test_saved_block_rereads_document_before_requesting(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    # Worker A loaded the block before worker B refreshed: A must take B's token, not request.
    await make_block(emulator).asave("reread", overwrite=True)
    worker_a = await TelnyxOAuthCredentials.aload("reread")
    worker_b = await TelnyxOAuthCredentials.aload("reread")
    token_b = await worker_b.aget_token()
    default_cache.clear()
    token_a = await worker_a.aget_token()
    assert token_a.access_token == token_b.access_token
    assert emulator.counters.token_requests == 1


async def test_ui_edit_of_client_secret_survives_a_worker_token_write(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("ui-edit-secret", overwrite=True)
    worker = await TelnyxOAuthCredentials.aload("ui-edit-secret")
    ui_copy = await TelnyxOAuthCredentials.aload("ui-edit-secret")
    ui_copy.client_secret = SecretStr("rotated-in-the-ui")
    await ui_copy.asave("ui-edit-secret", overwrite=True)

    await worker.aget_token()  # the old secret still works at Telnyx; the worker writes nothing
    stored = await read_document("ui-edit-secret")
    assert stored["client_secret"] == "rotated-in-the-ui"
    assert not stored.get("access_token")


async def test_ui_edit_of_other_fields_survives_and_token_is_still_saved(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("ui-edit-leeway", overwrite=True)
    worker = await TelnyxOAuthCredentials.aload("ui-edit-leeway")
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "ui-edit-leeway", "telnyx-oauth-credentials"
        )
        await client.update_block_document(
            document.id, BlockDocumentUpdate(data={"refresh_leeway_seconds": 120})
        )
    token = await worker.aget_token()
    stored = await read_document("ui-edit-leeway")
    assert stored["refresh_leeway_seconds"] == 120
    assert stored["client_secret"] == emulator.client_secret
    assert stored["access_token"] == token.access_token.get_secret_value()


async def test_expired_saved_token_is_refreshed_with_its_refresh_token(
    prefect_api: None, emulator_factory: Any
) -> None:
    emu = emulator_factory(refresh_token_on_client_credentials=True)
    await make_block(emu).asave("refresh-grant", overwrite=True)
    block = await TelnyxOAuthCredentials.aload("refresh-grant")
    first = await block.aget_token()
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "refresh-grant", "telnyx-oauth-credentials"
        )
        past = (utc_now() - timedelta(minutes=1)).isoformat()
        await client.update_block_document(
            document.id, BlockDocumentUpdate(data={"access_token_expires_at": past})
        )
    default_cache.clear()
    reloaded = await TelnyxOAuthCredentials.aload("refresh-grant")
    second = await reloaded.aget_token()
    assert second.access_token != first.access_token
    assert emu.counters.token_requests_by_grant == {"client_credentials": 1, "refresh_token": 1}


async def test_rejected_refresh_token_falls_back_to_client_credentials(
    prefect_api: None, emulator_factory: Any
) -> None:
    emu = emulator_factory(refresh_token_on_client_credentials=True, token_ttl_seconds=4)
    block = make_block(emu, refresh_leeway_seconds=0)
    await block.aget_token()
    emu.revoke_all_tokens()  # the refresh token dies too
    block.invalidate_token()
    token = await block.aget_token()
    assert token.access_token.get_secret_value() in emu.issued_access_tokens()
    assert emu.counters.token_requests_by_grant == {"client_credentials": 2, "refresh_token": 1}


async def test_async_callers_share_one_request_without_blocking_the_loop(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(0.3)
    ticks = 0
    seen_at_arrival: list[int] = []
    tokens: set[str] = set()

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.02)
            ticks += 1

    async def fetch() -> None:
        token = await make_block(emulator).aget_token()
        seen_at_arrival.append(ticks)
        tokens.add(token.access_token.get_secret_value())

    await asyncio.gather(ticker(), *(fetch() for _ in range(50)))
    assert len(tokens) == 1
    assert emulator.counters.token_requests == 1
    # A blocked event loop could not have ticked while the token request was in flight.
    assert min(seen_at_arrival) >= 1


async def test_force_refresh_replaces_a_token_known_only_to_the_block_document(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("force-stored", overwrite=True)
    first = await (await TelnyxOAuthCredentials.aload("force-stored")).aget_token()
    default_cache.clear()
    fresh_copy = await TelnyxOAuthCredentials.aload("force-stored")
    fresh_copy.access_token = None  # this copy has never seen the stored token
    forced = await fresh_copy.aget_token(force_refresh=True)
    assert forced.access_token != first.access_token
    assert (await read_document("force-stored"))["access_token"] == (
        forced.access_token.get_secret_value()
    )
    assert emulator.counters.token_requests == 2
