"""`TokenCache` with an in-memory store and an injected clock: no socket, no Prefect server.

The store stands in for another process: whenever it is read it may hold a token that process
saved, so the cache takes it without calling the token endpoint (whose URL here goes nowhere).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_cache import TokenCache, TokenSource
from telnyx_oauth.token_client import TokenEndpointConfig
from tests.stores import OneTokenStore

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CONFIG = TokenEndpointConfig(
    token_url="http://127.0.0.1:9/oauth/token", client_id="c", client_secret=SecretStr("s")
)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


class SharedStore(OneTokenStore):
    """A store another process keeps fresh: each read after `publish()` returns a new token."""

    def __init__(self, clock: Clock, ttl: float = 100) -> None:
        super().__init__()
        self.clock = clock
        self.ttl = ttl
        self.reads = 0
        self.published = 0
        self.current: TelnyxToken | None = None
        self.script: list[TelnyxToken] = []  # answers for the next reads, before `current`
        self.gate = threading.Event()
        self.gate.set()

    def publish(self) -> TelnyxToken:
        self.published += 1
        self.current = TelnyxToken(
            access_token=SecretStr(f"token-{self.published}"),
            expires_at=self.clock() + timedelta(seconds=self.ttl),
            issued_at=self.clock(),
        )
        return self.current

    async def read(self) -> TelnyxToken | None:
        while not self.gate.is_set():
            await asyncio.sleep(0.005)
        self.reads += 1
        return self.script.pop(0) if self.script else self.current

    async def write(self, token: TelnyxToken) -> None:
        self.current = token


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> Iterator[TokenCache]:
    with TokenCache(now=clock) as cache:
        yield cache


def source(store: SharedStore, leeway: float = 10, key: str = "k") -> TokenSource:
    return TokenSource(
        key=key, endpoint=CONFIG, label="test", leeway_seconds=leeway, store=store, stamp="s"
    )


def test_cache_hit_returns_the_same_entry_without_reading_the_store(
    cache: TokenCache, clock: Clock
) -> None:
    store = SharedStore(clock)
    first = store.publish()
    assert cache.get(source(store)).token == first
    assert cache.get(source(store)).token == first
    assert store.reads == 1
    assert cache.get(source(store)).header == f"Bearer {first.access_token.get_secret_value()}"


def test_cache_many_threads_share_one_store_read(cache: TokenCache, clock: Clock) -> None:
    store = SharedStore(clock)
    store.publish()
    store.gate.clear()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(source(store)).header))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    store.gate.set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 16
    assert len(set(results)) == 1
    assert store.reads == 1


def test_cache_leeway_is_clamped_to_half_the_lifetime_per_caller(
    cache: TokenCache, clock: Clock
) -> None:
    store = SharedStore(clock, ttl=100)
    first = store.publish()
    cache.get(source(store, leeway=0))
    clock.at = T0 + timedelta(seconds=49)
    # leeway 80 is clamped to 50: still fresh at 49 s, no store read.
    assert cache.get(source(store, leeway=80)).token == first
    assert store.reads == 1


def test_cache_inside_the_leeway_hands_out_the_valid_token_and_refreshes_once_behind_it(
    cache: TokenCache, clock: Clock
) -> None:
    store = SharedStore(clock, ttl=100)
    first = store.publish()
    cache.get(source(store))
    clock.at = T0 + timedelta(seconds=92)
    second = store.publish()
    assert cache.get(source(store)).token == first  # 8 s left, the leeway's first half: no wait
    for _ in range(200):
        if cache.get(source(store)).token == second:
            break
        threading.Event().wait(0.01)
    assert cache.get(source(store)).token == second
    assert store.reads == 2  # one background refresh for every call


def test_cache_expired_token_is_never_handed_out(cache: TokenCache, clock: Clock) -> None:
    store = SharedStore(clock, ttl=100)
    first = store.publish()
    cache.get(source(store))
    clock.at = T0 + timedelta(seconds=100)
    assert cache.hit(source(store)) is None
    second = store.publish()
    assert cache.get(source(store)).token == second != first


def test_cache_forced_refresh_skips_the_token_it_replaces(cache: TokenCache, clock: Clock) -> None:
    store = SharedStore(clock)
    first = store.publish()
    cache.get(source(store))
    # The forced call reads the store twice (before and after the lock): first the token it
    # replaces, then one another process saved meanwhile.
    second = store.publish()
    store.script = [first]
    assert cache.get(source(store), force_refresh=True).token == second != first


def test_cache_invalidate_removes_only_the_token_that_was_sent(
    cache: TokenCache, clock: Clock
) -> None:
    store = SharedStore(clock)
    first = store.publish()
    cache.get(source(store))
    second = store.publish()
    cache.invalidate("k", second)  # someone else's token: ours stays
    assert cache.get(source(store)).token == first
    cache.invalidate("k", first)
    third = store.publish()
    assert cache.get(source(store)).token == third


def test_cache_eviction_drops_expired_entries_before_live_ones(
    cache: TokenCache, clock: Clock
) -> None:
    small = TokenCache(now=clock, max_entries=2)
    store = SharedStore(clock, ttl=10)
    short = store.publish()
    small.land(source(store, key="short"), short, "store")
    store.ttl = 1000
    small.land(source(store, key="long"), store.publish(), "store")
    clock.at = T0 + timedelta(seconds=20)  # "short" has expired
    small.land(source(store, key="new"), store.publish(), "store")
    # Both live tokens are still served from memory: the expired one made room.
    assert small.hit(source(store, key="long")) is not None
    assert small.hit(source(store, key="new")) is not None
    small.close()


async def test_cache_async_callers_share_one_store_read(cache: TokenCache, clock: Clock) -> None:
    store = SharedStore(clock)
    store.publish()
    entries = await asyncio.gather(*(cache.aget(source(store)) for _ in range(10)))
    assert len({entry.header for entry in entries}) == 1
    assert store.reads == 1
