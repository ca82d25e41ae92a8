"""Edge cases of the token cache and the block store, found in review."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate, GlobalConcurrencyLimitCreate

from prefect_telnyx_oauth import TelnyxOAuthCredentials, TokenEndpointUnavailableError
from prefect_telnyx_oauth._prefect_store import lock_name
from telnyx_oauth import _shared_refresh
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_cache import TokenCache, default_cache
from telnyx_oauth.token_store import TokenStoreSession
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")


async def test_token_of_edited_credentials_is_never_served_after_reload(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("edited-creds", overwrite=True)
    first = await (await TelnyxOAuthCredentials.aload("edited-creds")).aget_token()
    emulator.add_client("second-client", "second-secret-value")
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "edited-creds", "telnyx-oauth-credentials"
        )
        # What the UI form does: a merging update of the credential fields only.
        data = {"client_id": "second-client", "client_secret": "second-secret-value"}
        await client.update_block_document(document.id, BlockDocumentUpdate(data=data))
    default_cache.clear()
    reloaded = await TelnyxOAuthCredentials.aload("edited-creds")
    second = await reloaded.aget_token()
    assert second.access_token != first.access_token
    assert emulator.counters.token_requests == 2


def test_failed_force_refresh_keeps_the_valid_token_usable(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    first = block.get_token()
    emulator.fail_next_token_requests(100, status=503)
    with pytest.raises(TokenEndpointUnavailableError):
        block.get_token(force_refresh=True)
    assert block.get_token().access_token == first.access_token
    assert make_block(emulator).get_token().access_token == first.access_token
    assert emulator.counters.token_requests == 1 + 3  # the first token, then 3 failed attempts


def test_refresh_uses_the_newest_refresh_token_not_a_stale_copy(
    emulator_factory: Any,
) -> None:
    emulator = emulator_factory(
        rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    )
    block = make_block(emulator)
    block.get_token()
    stale_copy = block.model_copy()  # holds the first refresh token in its fields
    block.get_token(force_refresh=True)  # rotates: the copy's refresh token is now spent
    stale_copy.get_token(force_refresh=True)
    assert emulator.counters.token_requests_by_grant == {
        "client_credentials": 1,
        "refresh_token": 2,
    }
    assert emulator.counters.token_requests_by_status == {200: 3}


async def test_inactive_lock_limit_is_refused_with_a_warning_not_ignored(
    prefect_api: None, emulator: TelnyxEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator)
    await block.asave("inactive-lock", overwrite=True)
    name = lock_name(block._block_document_id)  # type: ignore[arg-type]
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=1, active=False)
        )
    with caplog.at_level(logging.WARNING, logger="prefect_telnyx_oauth"):
        token = await block.aget_token()
    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[0]
    assert any("inactive" in r.getMessage() and name in r.getMessage() for r in caplog.records)


class _CountingSession:
    """The in-memory store a test may use (STYLE.md): counts lease renewals."""

    def __init__(self) -> None:
        self.renewals = 0

    async def read(self) -> TelnyxToken | None:
        return None

    async def write(self, token: TelnyxToken) -> None:
        return None

    async def try_lock(self) -> object | None:
        return "lease"

    async def unlock(self, lease: object) -> None:
        return None

    async def renew(self, lease: object) -> None:
        self.renewals += 1


class _CountingStore:
    def __init__(self) -> None:
        self.session_ = _CountingSession()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[TokenStoreSession]:
        yield self.session_


def test_lock_lease_is_renewed_while_a_slow_token_request_runs(
    emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shared_refresh, "RENEW_EVERY_SECONDS", 0.05)
    emulator.set_token_latency(0.5)
    store = _CountingStore()
    source = make_block(emulator)._token_source()
    cache = TokenCache()
    cache.get(dataclasses.replace(source, store=store))
    assert store.session_.renewals >= 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_forked_during_a_refresh_gets_its_own_token(emulator: TelnyxEmulator) -> None:
    emulator.set_token_latency(0.5)
    cache = TokenCache()
    source = make_block(emulator)._token_source()
    background = threading.Thread(target=cache.get, args=(source,))
    background.start()
    while emulator.counters.token_requests == 0:  # the parent's refresh is in flight
        time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # the child: its inherited flight has no thread behind it
        outcome = []
        worker = threading.Thread(target=lambda: outcome.append(cache.get(source)))
        worker.start()
        worker.join(timeout=20)
        os._exit(0 if outcome else 3)
    background.join(timeout=20)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
