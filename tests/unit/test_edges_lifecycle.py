"""Issue 17 §4, with an injected clock: refresh-ahead hands out the current token only in the
first half of the leeway, and a closed cache answers with its typed error at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from prefect_telnyx_oauth import TokenEndpointUnavailableError
from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.token_cache import TokenCache
from tests.unit.test_token_cache import T0, Clock, SharedStore, source


@pytest.fixture
def clocked() -> Iterator[tuple[TokenCache, Clock]]:
    """A cache on an injected clock (the shape of tests/unit/test_token_cache.py)."""
    clock = Clock()
    with TokenCache(now=clock) as cache:
        yield cache, clock


def _warm(cache: TokenCache, clock: Clock) -> tuple[SharedStore, TelnyxToken]:
    """A cache holding a 100 s token that callers use with a 10 s leeway."""
    store = SharedStore(clock, ttl=100)
    first = store.publish()
    cache.get(source(store, leeway=10))
    return store, first


def test_cache_below_half_the_leeway_callers_wait_for_the_new_token(
    clocked: tuple[TokenCache, Clock],
) -> None:
    cache, clock = clocked
    store, first = _warm(cache, clock)
    clock.at = T0 + timedelta(seconds=96)  # 4 s left: under half the 10 s leeway
    second = store.publish()
    assert cache.get(source(store, leeway=10)).token == second != first


def test_cache_below_half_the_leeway_joins_the_running_background_refresh(
    clocked: tuple[TokenCache, Clock],
) -> None:
    cache, clock = clocked
    store, first = _warm(cache, clock)
    clock.at = T0 + timedelta(seconds=92)  # 8 s left: the first half of the leeway
    store.gate.clear()  # the background refresh is slow
    assert cache.get(source(store, leeway=10)).token == first  # nobody waits yet
    clock.at = T0 + timedelta(seconds=96)
    second = store.publish()
    got: list[object] = []
    caller = threading.Thread(target=lambda: got.append(cache.get(source(store, leeway=10))))
    caller.start()
    caller.join(0.3)
    assert not got, "a token with under half the leeway left was handed out"
    store.gate.set()
    caller.join(10)
    assert [entry.token for entry in got] == [second]  # type: ignore[attr-defined]
    assert store.reads == 2  # it joined the background refresh: one read for both


def test_cache_closed_answers_get_with_the_typed_closed_error(
    clocked: tuple[TokenCache, Clock],
) -> None:
    cache, clock = clocked
    store = SharedStore(clock)
    store.publish()
    cache.close()
    with pytest.raises(TokenEndpointUnavailableError, match="closed"):
        cache.get(source(store))


async def test_cache_closed_answers_aget_with_the_typed_closed_error(
    clocked: tuple[TokenCache, Clock],
) -> None:
    cache, clock = clocked
    store = SharedStore(clock)
    store.publish()
    cache.close()
    with pytest.raises(TokenEndpointUnavailableError, match="closed"):
        await cache.aget(source(store))
