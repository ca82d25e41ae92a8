"""A caller with no usable token takes a still-valid token from the store before requesting one.

Issue 19 §2: a waiter took a stored token only while it was in the first half of its life (before
the clamped leeway), so a slow poller refused a token every other process was still handing out
and blocked until its own request or a lock landed. Now any stored token that still has the
leeway floor left (half the clamped leeway: what `TokenCache.hit` hands out) and is fresher than
what this process holds is taken. The clock is injected (frozen), the store takes real time
(100 ms reads), and the emulator counts what reaches the token endpoint.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta

from pydantic import SecretStr

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_cache import TokenCache, TokenSource
from tests.integration.helpers import make_block
from tests.stores import SlowStore

NOW = utc_now()


def three_second_token(seconds_left: float, name: str = "stored") -> TelnyxToken:
    """A 3 s token (clamped leeway 1.5 s, floor 0.75 s) with `seconds_left` to live at NOW."""
    expires_at = NOW + timedelta(seconds=seconds_left)
    return TelnyxToken(
        access_token=SecretStr(f"{name}-{seconds_left}"),
        expires_at=expires_at,
        issued_at=expires_at - timedelta(seconds=3),
    )


def source_on(emulator: TelnyxEmulator, store: SlowStore) -> TokenSource:
    base = make_block(emulator, token_deadline_seconds=3)._token_source()
    return dataclasses.replace(base, store=store)


def frozen() -> datetime:
    return NOW


def test_a_stored_token_inside_its_leeway_is_taken_while_another_process_holds_the_lock(
    emulator: TelnyxEmulator,
) -> None:
    # 1 s left of 3: past the strict "first half of its life", above the 0.75 s floor.
    stored = three_second_token(1.0)
    store = SlowStore(stored, read_seconds=0.1, locked=True)
    with TokenCache(now=frozen) as cache:
        token = cache.get(source_on(emulator, store)).token
    assert token.access_token == stored.access_token
    assert emulator.counters.token_requests == 0


def test_a_stored_token_fresher_than_an_expired_held_one_is_taken(
    emulator: TelnyxEmulator,
) -> None:
    stored = three_second_token(1.0)
    store = SlowStore(stored, read_seconds=0.1)
    source = source_on(emulator, store)
    with TokenCache(now=frozen) as cache:
        cache.land(source, three_second_token(-1.0, "held"), "store")
        token = cache.get(source).token
    assert token.access_token == stored.access_token
    assert emulator.counters.token_requests == 0


def test_a_stored_token_below_the_leeway_floor_is_replaced(emulator: TelnyxEmulator) -> None:
    # 0.5 s left of 3: below the 0.75 s floor no caller is handed it; a new one is requested.
    stored = three_second_token(0.5)
    store = SlowStore(stored, read_seconds=0.1)
    with TokenCache(now=frozen) as cache:
        token = cache.get(source_on(emulator, store)).token
    assert token.access_token != stored.access_token
    assert emulator.counters.token_requests == 1
    assert store.token is not None
    assert store.token.access_token == token.access_token


def test_a_waiter_that_stopped_waiting_takes_a_token_saved_during_its_request(
    emulator: TelnyxEmulator,
) -> None:
    # Issue 19 §1: behind a lock nobody releases, a client_credentials waiter requests its own
    # token after STALL_SECONDS; another process saves one while that request runs. The waiter
    # keeps the fleet on that token and does not overwrite it. Real clock: the stall is real.
    store = SlowStore(read_seconds=0.1, locked=True)
    source = dataclasses.replace(make_block(emulator)._token_source(), store=store)
    theirs = TelnyxToken(
        access_token=SecretStr("saved-by-another-process"),
        expires_at=utc_now() + timedelta(hours=1),
        issued_at=utc_now(),
    )
    emulator.set_token_latency(1.0)

    def save_theirs_during_the_request() -> None:
        deadline = time.monotonic() + 60
        while emulator.counters.token_requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        store.token = theirs

    other = threading.Thread(target=save_theirs_during_the_request)
    other.start()
    with TokenCache() as cache:
        token = cache.get(source).token
    other.join()
    assert emulator.counters.token_requests == 1  # it did stop waiting and request
    assert token.access_token == theirs.access_token
    assert store.token is theirs
