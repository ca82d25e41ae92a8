"""A block in authorization-code mode: a connected account, refreshed, never silently replaced.

The code comes from the emulator's real `/oauth/authorize` (an httpx client plays the browser and
reads the redirect), and is exchanged through the block's own `exchange_authorization_code`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate

from prefect_telnyx_oauth import (
    ConfigurationError,
    InvalidGrantError,
    TelnyxOAuthCredentials,
    get_telnyx_token,
)
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from telnyx_oauth.pkce import build_authorization_url, generate_pkce_pair
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

REDIRECT = "http://127.0.0.1/callback"


def connect(block: TelnyxOAuthCredentials, emulator: TelnyxEmulator) -> None:
    """Authorize in the emulator as a browser would, then exchange the code on the block."""
    pair = generate_pkce_pair()
    url = build_authorization_url(
        f"{emulator.base_url}/oauth/authorize",
        block.client_id,
        REDIRECT,
        None,
        "state-1234567890",
        pair.challenge,
    )
    redirect = httpx.get(url, follow_redirects=False)
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    block.exchange_authorization_code(code, REDIRECT, pair.verifier)


async def test_later_run_refreshes_with_the_rotated_refresh_token_and_persists_it(
    prefect_api: None, emulator_factory: Any
) -> None:
    emulator = emulator_factory(rotate_refresh_tokens=True)
    block = make_block(emulator)
    await block.asave("connected", overwrite=True)
    connect(block, emulator)
    first_refresh = emulator.issued_refresh_tokens()[-1]
    async with get_client() as client:  # the saved access token has expired since
        past = {"access_token_expires_at": (utc_now() - timedelta(minutes=1)).isoformat()}
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=past, merge_existing_data=True),
        )
    reset_token_caches()  # a later flow run, in another process

    @flow
    async def later_run() -> str:
        return get_telnyx_token("connected").access_token.get_secret_value()

    await later_run()
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }
    saved = await TelnyxOAuthCredentials.aload("connected")
    assert saved.grant_type == "authorization_code"
    assert saved.refresh_token is not None
    assert saved.refresh_token.get_secret_value() == emulator.issued_refresh_tokens()[-1]
    assert saved.refresh_token.get_secret_value() != first_refresh


async def test_revoked_refresh_token_names_authorize_and_never_falls_back(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("revoked-account", overwrite=True)
    connect(block, emulator)
    emulator.revoke_all_tokens()
    reset_token_caches()
    loaded = await TelnyxOAuthCredentials.aload("revoked-account")
    loaded.invalidate_token()
    with pytest.raises(InvalidGrantError) as info:
        await loaded.aget_token(force_refresh=True)
    assert "prefect-telnyx-oauth authorize --block revoked-account" in str(info.value)
    assert "client_credentials" not in emulator.counters.token_requests_by_grant


def test_unsaved_block_keeps_the_exchanged_tokens_in_this_process(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    connect(block, emulator)
    assert block.grant_type == "authorization_code"
    assert (
        block.get_token().access_token.get_secret_value() == (emulator.issued_access_tokens()[-1])
    )
    assert emulator.counters.token_requests == 1


def test_wrong_verifier_is_an_invalid_grant_and_stores_nothing(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    pair = generate_pkce_pair()
    url = build_authorization_url(
        f"{emulator.base_url}/oauth/authorize", block.client_id, REDIRECT, None, "s" * 16,
        pair.challenge,
    )  # fmt: skip
    location = httpx.get(url, follow_redirects=False).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(InvalidGrantError):
        block.exchange_authorization_code(code, REDIRECT, generate_pkce_pair().verifier)
    assert block.access_token is None


def test_authorization_code_block_without_a_refresh_token_says_to_authorize(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator, grant_type="authorization_code")
    with pytest.raises(ConfigurationError, match="prefect-telnyx-oauth authorize"):
        block.get_token()
    assert emulator.counters.token_requests == 0
