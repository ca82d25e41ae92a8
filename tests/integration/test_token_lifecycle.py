"""Single flight, expiry and 401 recovery, against the emulator on a loopback socket."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from prefect import flow

from prefect_telnyx_oauth import get_telnyx_auth_headers, get_telnyx_token
from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from telnyx_oauth.token_cache import TokenCache
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")


def test_fifty_threads_on_a_cold_cache_send_one_token_request(emulator: TelnyxEmulator) -> None:
    emulator.set_token_latency(0.3)
    barrier = threading.Barrier(50)

    def call() -> str:
        block = make_block(emulator)  # every thread its own copy, as separate tasks would have
        barrier.wait()
        return block.get_token().access_token.get_secret_value()

    with ThreadPoolExecutor(50) as pool:
        tokens = set(pool.map(lambda _: call(), range(50)))
    assert len(tokens) == 1
    assert emulator.counters.token_requests == 1


async def test_two_hundred_mapped_tasks_send_one_token_request(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    emulator.set_token_latency(0.3)
    block = make_block(emulator)
    await block.asave("mapped", overwrite=True)

    @flow
    def pipeline() -> int:
        futures = get_telnyx_auth_headers.map([block] * 200)
        return len({headers["Authorization"] for headers in futures.result()})

    assert pipeline() == 1
    assert emulator.counters.token_requests == 1


async def test_task_works_in_async_flow_and_logs_without_the_token(
    prefect_api: None, emulator: TelnyxEmulator, caplog: Any
) -> None:
    block = make_block(emulator)

    @flow
    async def pipeline() -> bool:
        first = get_telnyx_token(block)
        second = get_telnyx_token(block)
        return first.access_token == second.access_token

    # A reuse is a DEBUG line (Prefect ships INFO and up by default: a warm call writes nothing).
    with caplog.at_level("DEBUG"), caplog.at_level("DEBUG", logger="prefect.task_runs"):
        assert await pipeline()
    messages = [record.getMessage() for record in caplog.records]
    # Through the run logger: the lines carry their task run, so they show in the Prefect UI.
    run_logged = [
        (record.name, record.getMessage())
        for record in caplog.records
        if getattr(record, "task_run_id", None) is not None
    ]
    assert any(
        name == "prefect.task_runs" and "requested new token (client_credentials" in message
        for name, message in run_logged
    ), run_logged
    assert any(
        name == "prefect.task_runs" and "reused cached token" in message
        for name, message in run_logged
    ), run_logged
    issued = emulator.issued_access_tokens()
    assert not any(token in m for m in messages for token in issued)


def test_task_works_in_sync_flow_with_a_block_name(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    make_block(emulator).save("by-name", overwrite=True)

    @flow
    def pipeline() -> str:
        return get_telnyx_auth_headers("by-name")["Authorization"][:7]

    assert pipeline() == "Bearer "
    assert emulator.counters.token_requests == 1


def test_refresh_runs_ahead_inside_the_clamped_leeway_and_not_before(
    emulator_factory: Any,
) -> None:
    emulator = emulator_factory(token_ttl_seconds=100)
    clock = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    with TokenCache(now=lambda: clock[0]) as cache:
        source = make_block(emulator, refresh_leeway_seconds=60)._token_source()
        start = clock[0]
        first = cache.get(source).token
        # Leeway is min(60, 100 / 2) = 50 s: no refresh before expiry - 50 s.
        clock[0] = start + timedelta(seconds=49.9)
        assert cache.get(source).token == first
        assert emulator.counters.token_requests == 1
        # From then on the still-valid token is handed out while one refresh runs behind it.
        clock[0] = start + timedelta(seconds=50)
        assert cache.get(source).token == first
        assert cache.get(source).token in (first, _landed(cache, source, first))
        assert _landed(cache, source, first) != first
        assert emulator.counters.token_requests == 2


def test_expired_token_makes_the_caller_wait_for_a_new_one(emulator_factory: Any) -> None:
    emulator = emulator_factory(token_ttl_seconds=100)
    clock = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    with TokenCache(now=lambda: clock[0]) as cache:
        source = make_block(emulator, refresh_leeway_seconds=60)._token_source()
        first = cache.get(source).token
        clock[0] += timedelta(seconds=100)
        assert cache.get(source).token != first
        assert emulator.counters.token_requests == 2


def _landed(cache: TokenCache, source: Any, old: Any, wait_seconds: float = 20) -> Any:
    """The token the background refresh lands, once it has (bounded wait)."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        token = cache.get(source).token
        if token != old:
            return token
        time.sleep(0.01)
    return old


def test_short_lived_tokens_never_let_a_401_reach_the_user(emulator_factory: Any) -> None:
    # 20 s of 2 s tokens, in 0.1 s steps of an injected clock that the emulator follows.
    emulator = emulator_factory(token_ttl_seconds=2)
    clock = [utc_now()]
    statuses: list[int] = []
    with TokenCache(now=lambda: clock[0]) as cache:
        source = make_block(emulator)._token_source()
        auth = TelnyxOAuth(lambda: source, cache)
        with httpx.Client(base_url=emulator.base_url, auth=auth) as client:
            for _ in range(200):
                statuses.append(client.get("/balance").status_code)
                clock[0] += timedelta(seconds=0.1)
                emulator.advance_clock(0.1)
    assert set(statuses) == {200}
    assert emulator.counters.api_requests_by_status.get(401, 0) == 0
    assert emulator.counters.token_requests >= 10  # refreshed as the 2 s tokens aged


def test_revoked_token_is_refreshed_once_and_the_call_retried_once(
    emulator: TelnyxEmulator,
) -> None:
    with make_block(emulator).get_client() as client:
        assert client.get("/balance").status_code == 200
        emulator.revoke_all_tokens()
        emulator.reset_counters()
        response = client.get("/balance")
    assert response.status_code == 200
    assert emulator.counters.api_requests == 2
    assert emulator.counters.api_requests_by_status == {401: 1, 200: 1}
    assert emulator.counters.token_requests == 1


async def test_async_client_recovers_from_revocation_the_same_way(
    emulator: TelnyxEmulator,
) -> None:
    async with make_block(emulator).get_async_client() as client:
        await client.get("/balance")
        emulator.revoke_all_tokens()
        emulator.reset_counters()
        response = await client.post(
            "/messages", json={"from": "+15550000001", "to": "+15550000002", "text": "hi"}
        )
    assert response.status_code == 200
    assert emulator.counters.api_requests_by_status == {401: 1, 200: 1}


def test_persistent_401_is_returned_after_one_retry_never_looped(
    emulator: TelnyxEmulator,
) -> None:
    # Edge case: an API that rejects every token. Tokens still come from the real emulator.
    calls: list[str] = []

    def always_401(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"])
        return httpx.Response(401, json={"errors": [{"code": "10009"}]})

    block = make_block(emulator)
    transport = httpx.MockTransport(always_401)
    with httpx.Client(base_url=emulator.base_url, auth=block.get_auth(), transport=transport) as c:
        response = c.get("/balance")
    assert response.status_code == 401
    assert len(calls) == 2
    assert calls[0] != calls[1]  # the retry carried a new token
    assert emulator.counters.token_requests == 2


def test_401_invalidates_only_the_token_that_was_sent(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    old = block.get_token()
    request = httpx.Request("GET", f"{emulator.base_url}/balance")
    flow_ = block.get_auth().sync_auth_flow(request)
    sent = next(flow_)
    assert sent.headers["Authorization"] == old.headers()["Authorization"]
    newer = block.get_token(force_refresh=True)  # another caller refreshes meanwhile
    retry = flow_.send(httpx.Response(401, request=request))
    assert retry.headers["Authorization"] == newer.headers()["Authorization"]
    assert emulator.counters.token_requests == 2  # the newer token was kept, not re-requested
