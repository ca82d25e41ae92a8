"""Issue 17, the token lifecycle at its edges: a late token is never lost, a held lock never
costs the save, every call spends one deadline, a refused fresh token is raised, and a closed
cache says so at once. Against the emulator on a loopback socket, with stores that take real
time (100 ms reads, seconds-long writes), never instant in-memory ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from prefect_telnyx_oauth import TokenEndpointUnavailableError
from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import TelnyxAPIError, TokenStoreUnavailableError
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_cache import TokenCache, TokenSource
from telnyx_oauth.token_client import ClientCredentialsGrant, request_token
from tests.integration.helpers import make_block
from tests.integration.test_core_defects import _eventually
from tests.secret_scan import secret_scan_fixture  # noqa: F401
from tests.stores import SlowStore

pytestmark = pytest.mark.usefixtures("secret_scan")


def _spent_token(emulator: TelnyxEmulator, source: TokenSource) -> TelnyxToken:
    """A token whose access token has expired but whose refresh token the server still takes."""
    issued = request_token(source.endpoint, ClientCredentialsGrant())
    assert issued.refresh_token is not None
    past = utc_now() - timedelta(hours=1)
    return TelnyxToken(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=past,
        issued_at=past - timedelta(hours=1),
    )


# §1: a deadline never discards a token the server issued.


def test_a_late_rotated_refresh_is_kept_and_saved_when_the_save_outlasts_the_deadline(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_refresh_token_on_client_credentials(True)
    emulator.set_rotation(True)
    base = make_block(emulator, token_deadline_seconds=3)._token_source()
    store = SlowStore(read_seconds=0.1, write_seconds=3.0)  # the save ends after the deadline
    # A user's connection: no client_credentials fallback can hide a lost refresh token.
    source = dataclasses.replace(base, store=store, user_grant=True)
    store.token = _spent_token(emulator, source)
    emulator.set_token_latency(1.5)  # the rotated answer arrives late in the deadline
    with TokenCache() as cache:
        token = cache.get(source).token
        issued = emulator.issued_access_tokens()[-1]
        assert token.access_token.get_secret_value() == issued

        # The flight finished its save after the waiters went.
        def saved() -> bool:
            return store.token is not None and store.token.access_token == token.access_token

        assert _eventually(saved), "the token the server issued was never saved"
        emulator.set_token_latency(0)
        store.write_seconds = 0.1
        # The rotated refresh token was kept: the next refresh is not refused.
        again = cache.get(source, force_refresh=True).token
    assert again.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]
    assert again.access_token != token.access_token


# §1: after giving up on a held lock, the new token is still saved.


def test_a_refresh_after_giving_up_on_a_held_lock_is_saved_by_a_store_with_100ms_reads(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(0.5)
    store = SlowStore(read_seconds=0.1, write_seconds=0.1, locked=True)
    source = dataclasses.replace(
        make_block(emulator, token_deadline_seconds=3)._token_source(), store=store
    )
    with TokenCache() as cache:
        token = cache.get(source).token
    assert store.token is not None
    assert store.token.access_token == token.access_token


@pytest.mark.usefixtures("prefect_api")
async def test_a_refresh_after_giving_up_on_a_held_prefect_lock_is_saved_on_the_block(
    emulator: TelnyxEmulator,
) -> None:
    from prefect_telnyx_oauth import TelnyxOAuthCredentials
    from prefect_telnyx_oauth._prefect_store import lock_name

    name = f"held-lock-{uuid4().hex[:8]}"
    block = make_block(emulator, token_deadline_seconds=6)
    document_id = await block.save(name)
    loaded = await TelnyxOAuthCredentials.load(name)
    async with get_client() as client:
        # Another process holds the refresh lock, through the same real Prefect API.
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=lock_name(document_id), limit=1)
        )
        await client.increment_concurrency_slots_with_lease(
            names=[lock_name(document_id)], slots=1, mode="concurrency", lease_duration=60
        )
        token = await loaded.aget_token()
    saved = await TelnyxOAuthCredentials.load(name)
    assert saved.access_token is not None
    assert saved.access_token.get_secret_value() == token.access_token.get_secret_value()


# §4: every call is bounded by the deadline once, not twice.


def test_a_forced_call_behind_a_flight_it_cannot_trust_spends_one_deadline(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(2.0)
    source = make_block(emulator, token_deadline_seconds=3)._token_source()
    # Another caller of the same identity, with a shorter deadline: its flight fails.
    hasty = dataclasses.replace(source, deadline_seconds=1.5)
    with TokenCache() as cache:
        first = threading.Thread(target=lambda: _swallow(lambda: cache.get(hasty)), daemon=True)
        first.start()
        assert _eventually(lambda: emulator.counters.token_requests == 1)
        # The forced call waits for that flight, then runs its own in what its deadline has
        # left (under one request's time): it fails at its deadline, not at two.
        with pytest.raises(TokenEndpointUnavailableError):
            cache.get(source, force_refresh=True)
        first.join(10)


def _swallow(call: Any) -> None:
    with contextlib.suppress(TokenEndpointUnavailableError):
        call()


def test_the_401_path_spends_one_deadline_across_both_token_calls(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(1.5)
    source = make_block(emulator, token_deadline_seconds=2.5)._token_source()
    emulator.fail_next_api_requests(1, status=401)
    with (
        TokenCache() as cache,
        httpx.Client(base_url=emulator.base_url, auth=TelnyxOAuth(lambda: source, cache)) as c,
        pytest.raises(TokenEndpointUnavailableError),
    ):
        c.get("/balance")  # a 1.5 s token, a 401, then a second 1.5 s token: over 2.5 s


# §4: a 401 that a fresh token does not cure costs one token request, not one per call.


def _always_401(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, json={"errors": [{"code": "10009", "title": "Auth failed"}]})


def test_a_fresh_token_refused_once_is_raised_and_never_re_requested(
    emulator: TelnyxEmulator,
) -> None:
    from prefect_telnyx_oauth._api import call_telnyx

    block = make_block(emulator)
    transport = httpx.MockTransport(_always_401)  # edge case: an API that refuses every token
    raised: list[TelnyxAPIError] = []
    with httpx.Client(base_url=emulator.base_url, auth=block.get_auth(), transport=transport) as c:
        for _ in range(5):
            with pytest.raises(TelnyxAPIError) as caught:
                call_telnyx(block, "GET", "/balance", client=c)
            raised.append(caught.value)
    assert emulator.counters.token_requests == 2  # the first token, and one fresh one
    assert {error.status_code for error in raised} == {401}
    assert all("refused even after a refresh" in str(error) for error in raised)


async def test_async_client_a_refused_fresh_token_costs_no_more_token_requests(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    transport = httpx.MockTransport(_always_401)
    async with httpx.AsyncClient(
        base_url=emulator.base_url, auth=block.get_auth(), transport=transport
    ) as client:
        statuses = [(await client.get("/balance")).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]  # an httpx client answers with the response, as ever
    assert emulator.counters.token_requests == 2


# §4: close() racing get() raises the typed closed error at once.


def test_calls_racing_close_end_at_once_with_the_typed_closed_error(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(0.2)
    source = make_block(emulator)._token_source()  # the default 120 s deadline
    cache = TokenCache()
    errors: list[BaseException] = []

    closed = threading.Event()

    def call_until_closed() -> None:
        # Calls in flight when the cache closes, then one call after it: every caller's race.
        while not closed.is_set():
            try:
                cache.get(source, force_refresh=True)
            except BaseException as exc:  # every kind of ending is recorded
                errors.append(exc)
                break
        try:
            cache.get(source, force_refresh=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call_until_closed, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert _eventually(lambda: emulator.counters.token_requests >= 1)
    closed.set()
    cache.close()
    for thread in threads:
        thread.join(20)  # a bound, not a timing assertion: a 125 s wait would outlast it
    assert not any(thread.is_alive() for thread in threads), "a caller waited on after close()"
    assert len(errors) >= len(threads)
    assert all(isinstance(exc, TokenEndpointUnavailableError) for exc in errors), errors
    assert all("closed" in str(exc) for exc in errors)


class _FailingCloseStore(SlowStore):
    """A store whose session fails as it closes, after the token was saved."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SlowStore]:
        yield self
        raise TokenStoreUnavailableError("the connection dropped while closing")


def test_a_store_failing_as_it_closes_costs_no_second_token_request(
    emulator: TelnyxEmulator,
) -> None:
    store = _FailingCloseStore()
    source = dataclasses.replace(make_block(emulator)._token_source(), store=store)
    with TokenCache() as cache:
        token = cache.get(source).token
    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]
    assert emulator.counters.token_requests == 1
