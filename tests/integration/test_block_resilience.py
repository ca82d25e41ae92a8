"""Events, task retries, sync calls inside async runs, and an unreachable Prefect API."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_telnyx_oauth import (
    InvalidClientError,
    TelnyxOAuthCredentials,
    TokenEndpointUnavailableError,
    get_telnyx_token,
)
from prefect_telnyx_oauth.events import TOKEN_ISSUED
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.token_cache import default_cache
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")


async def test_token_issued_event_carries_grant_and_expiry_but_no_token(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator, scope="messaging")
    await block.asave("evented", overwrite=True)

    @flow
    async def pipeline() -> None:
        loaded = await TelnyxOAuthCredentials.aload("evented")
        await loaded.aget_token()

    await pipeline()
    token = emulator.issued_access_tokens()[0]
    events: list[Any] = []
    async with get_client() as client:
        for _ in range(100):  # the server persists events asynchronously
            page = await client.read_events(
                EventFilter(event=EventNameFilter(name=[TOKEN_ISSUED])), limit=50
            )
            events = [e for e in page.events if e.payload.get("block_name") == "evented"]
            if events:
                break
            await asyncio.sleep(0.2)
    assert len(events) == 1
    event = events[0]
    assert event.payload["grant"] == "client_credentials"
    assert event.payload["scope"] == "messaging"
    assert event.payload["expires_at"]
    assert token not in event.model_dump_json()


def test_no_event_and_no_server_outside_a_run_without_an_api_url(
    emulator: TelnyxEmulator,
) -> None:
    # emit_event with no API URL would start an ephemeral server; the library must not.
    code = (
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B\n"
        "from prefect.server.api.server import SubprocessASGIServer\n"
        f"B(client_id={emulator.client_id!r}, client_secret={emulator.client_secret!r},"
        f" base_url={emulator.base_url!r}).get_token()\n"
        "print(len(SubprocessASGIServer._instances))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
    assert emulator.counters.token_requests == 1


async def test_task_does_not_multiply_token_requests_against_a_failing_endpoint(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    quick = get_telnyx_token.with_options(retry_delay_seconds=0)
    emulator.fail_next_token_requests(100, status=503)

    @flow
    async def pipeline(which: str) -> None:
        quick(
            block
            if which == "good"
            else make_block(emulator, client_secret=emulator.client_secret[::-1])
        )

    with pytest.raises(TokenEndpointUnavailableError):
        await pipeline("good")
    # The token call's own 3 attempts; the task's retries are for a Prefect API outage only.
    assert emulator.counters.token_requests == 3

    emulator.fail_next_token_requests(0)
    emulator.reset_counters()
    with pytest.raises(InvalidClientError):
        await pipeline("wrong")
    assert emulator.counters.token_requests == 1  # a 401 is never retried


async def test_sync_get_token_inside_an_async_flow_persists_the_token(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("sync-in-async", overwrite=True)

    @flow
    async def pipeline() -> None:
        loaded = await TelnyxOAuthCredentials.aload("sync-in-async")
        loaded.get_token()  # sync call from async code: must really write, not drop a coroutine

    await pipeline()
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "sync-in-async", "telnyx-oauth-credentials"
        )
    assert document.data["access_token"] == emulator.issued_access_tokens()[0]


async def test_first_refresh_of_a_saved_block_creates_its_lock_and_releases_it(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("locked", overwrite=True)
    name = f"telnyx-oauth-refresh-{block._block_document_id}"
    async with get_client() as client:
        with pytest.raises(ObjectNotFound):  # no lock before the first refresh
            await client.read_global_concurrency_limit_by_name(name)
        await block.aget_token()
        limit = await client.read_global_concurrency_limit_by_name(name)
    assert (limit.active, limit.limit) == (True, 1)  # one refresh at a time, across processes
    assert limit.active_slots == 0  # released after the refresh
    assert emulator.counters.token_requests == 1


async def test_unreachable_prefect_api_falls_back_to_memory_with_a_warning(
    prefect_api: None, emulator: TelnyxEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator)
    await block.asave("api-down", overwrite=True)
    loaded = await TelnyxOAuthCredentials.aload("api-down")
    default_cache.clear()
    with (
        temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        caplog.at_level(logging.WARNING, logger="prefect_telnyx_oauth"),
    ):
        token = loaded.get_token()
    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[0]
    assert any("refreshing in this process only" in r.getMessage() for r in caplog.records)
    assert emulator.counters.token_requests == 1


async def test_cache_hit_does_no_io_at_all(
    prefect_api: None, emulator: TelnyxEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator)
    await block.asave("hit-no-io", overwrite=True)
    loaded = await TelnyxOAuthCredentials.aload("hit-no-io")
    first = await loaded.aget_token()
    emulator.reset_counters()
    # Any Prefect API call on a hit would now fail and warn; any token request would be counted.
    with (
        temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        caplog.at_level(logging.DEBUG, logger="prefect_telnyx_oauth"),
    ):
        tokens = [loaded.get_token() for _ in range(100)] + [await loaded.aget_token()]
    assert {t.access_token for t in tokens} == {first.access_token}
    assert emulator.counters.token_requests == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
