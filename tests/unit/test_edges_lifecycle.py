"""Issue 17 §4 without a socket: refresh-ahead hands out the current token only in the first half
of the leeway (injected clock), a closed cache answers with its typed error at once, and a token
the API refused right after it was fetched costs no further token request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator, Iterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from prefect_telnyx_oauth import TokenEndpointUnavailableError
from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_cache import TokenCache, TokenSource
from tests.unit.test_token_cache import CONFIG, T0, Clock, SharedStore, source

SOURCE = TokenSource(key="k", endpoint=CONFIG, label="test", stamp="s")


def _token(name: str) -> TelnyxToken:
    now = utc_now()
    return TelnyxToken(
        access_token=SecretStr(name), expires_at=now + timedelta(hours=1), issued_at=now
    )


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
    with pytest.raises(TokenEndpointUnavailableError, match="closed"):
        cache.run(asyncio.sleep(0), timeout=1)  # the sync shell of the code exchange


async def test_cache_closed_answers_aget_with_the_typed_closed_error(
    clocked: tuple[TokenCache, Clock],
) -> None:
    cache, clock = clocked
    store = SharedStore(clock)
    store.publish()
    cache.close()
    with pytest.raises(TokenEndpointUnavailableError, match="closed"):
        await cache.aget(source(store))


def _flow(cache: TokenCache) -> Generator[httpx.Request, httpx.Response, None]:
    request = httpx.Request("GET", "https://api.telnyx.com/v2/balance")
    return TelnyxOAuth(lambda: SOURCE, cache).sync_auth_flow(request)


def test_auth_a_refused_fresh_token_is_answered_at_once_until_the_api_takes_it() -> None:
    with TokenCache() as cache:
        cache.land(SOURCE, _token("first-token"), "store")
        flow = _flow(cache)
        next(flow)
        cache.land(SOURCE, _token("fresh-token"), "store")  # the token the retry fetches
        assert flow.send(httpx.Response(401)).headers["Authorization"] == "Bearer fresh-token"
        with pytest.raises(StopIteration):
            flow.send(httpx.Response(401))  # refused although fresh: remembered
        flow = _flow(cache)
        assert next(flow).headers["Authorization"] == "Bearer fresh-token"
        with pytest.raises(StopIteration):  # answered at once: no invalidation, no new token
            flow.send(httpx.Response(401))
        assert cache.hit(SOURCE) is not None
        flow = _flow(cache)
        next(flow)
        with pytest.raises(StopIteration):
            flow.send(httpx.Response(200))  # the API takes it now: forgotten
        flow = _flow(cache)
        next(flow)
        cache.land(SOURCE, _token("newer-token"), "store")
        assert flow.send(httpx.Response(401)).headers["Authorization"] == "Bearer newer-token"
