"""`TelnyxOAuth` driven by hand with `next()` / `.send()`, as httpx's own auth tests do.

The cache holds tokens landed by the test, so no token request is ever made.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_cache import TokenCache, TokenSource
from telnyx_oauth.token_client import TokenEndpointConfig

CONFIG = TokenEndpointConfig(
    token_url="http://127.0.0.1:9/oauth/token", client_id="c", client_secret=SecretStr("s")
)
SOURCE = TokenSource(key="k", endpoint=CONFIG, label="test", stamp="s")


def token(name: str) -> TelnyxToken:
    now = utc_now()
    return TelnyxToken(
        access_token=SecretStr(name), expires_at=now + timedelta(hours=1), issued_at=now
    )


@pytest.fixture
def cache() -> TokenCache:
    cache = TokenCache()
    cache.land(SOURCE, token("first-token"), "store")
    return cache


def test_auth_flow_sets_the_bearer_header_and_stops_on_success(cache: TokenCache) -> None:
    flow = TelnyxOAuth(lambda: SOURCE, cache).sync_auth_flow(
        httpx.Request("GET", "https://api.telnyx.com/v2/balance")
    )
    request = next(flow)
    assert request.headers["Authorization"] == "Bearer first-token"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))


def test_auth_flow_retries_once_with_the_newer_token_after_a_401(cache: TokenCache) -> None:
    flow = TelnyxOAuth(lambda: SOURCE, cache).sync_auth_flow(
        httpx.Request("POST", "https://api.telnyx.com/v2/messages", content=b"{}")
    )
    next(flow)
    cache.land(SOURCE, token("second-token"), "store")  # another caller refreshed meanwhile
    retried = flow.send(httpx.Response(401))
    assert retried.headers["Authorization"] == "Bearer second-token"
    assert retried.content == b"{}"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))  # a second 401 is the caller's answer: no loop


def test_auth_flow_a_401_rejects_only_the_token_that_was_sent(cache: TokenCache) -> None:
    flow = TelnyxOAuth(lambda: SOURCE, cache).sync_auth_flow(
        httpx.Request("GET", "https://api.telnyx.com/v2/balance")
    )
    next(flow)
    cache.land(SOURCE, token("newer-token"), "store")
    flow.send(httpx.Response(401))
    cache.land(SOURCE, token("first-token"), "store")  # the store still holds the rejected one
    hit = cache.hit(SOURCE)
    assert hit is not None
    assert hit.header == "Bearer newer-token"


async def test_async_auth_flow_sets_the_header_and_retries_once(cache: TokenCache) -> None:
    flow = TelnyxOAuth(lambda: SOURCE, cache).async_auth_flow(
        httpx.Request("GET", "https://api.telnyx.com/v2/balance")
    )
    request = await flow.__anext__()
    assert request.headers["Authorization"] == "Bearer first-token"
    cache.land(SOURCE, token("second-token"), "store")
    retried = await flow.asend(httpx.Response(401))
    assert retried.headers["Authorization"] == "Bearer second-token"
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(200))
