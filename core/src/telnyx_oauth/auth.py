"""`TelnyxOAuth`: an `httpx.Auth` that sends a valid bearer token and recovers once from a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator

import httpx

from telnyx_oauth.token_cache import TokenCache, TokenSource, default_cache


class TelnyxOAuth(httpx.Auth):
    """Attach `Authorization: Bearer <token>`; on a 401, refresh once and retry once.

    Only the token that was actually sent is invalidated, so a newer token another caller already
    holds is kept. A warm request reads the cached entry and writes its ready-made header: one
    look-up, one clock read, one header assignment. The two shells differ only in how a missing
    token is fetched (`get` or `await aget`).

    The request body is read before the first send, so a streamed body can be sent again after a
    401 (httpx does this only in the base flows, which these override).

    Args:
        source: Returns the `TokenSource` of the credentials (the block's identity).
        cache: The token cache; the process-wide one by default.

    Example:
        ```python
        with httpx.Client(auth=credentials.get_auth()) as client:
            client.get("https://api.telnyx.com/v2/balance")
        ```
    """

    def __init__(
        self, source: Callable[[], TokenSource], cache: TokenCache = default_cache
    ) -> None:
        self._source = source
        self._cache = cache

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        source = self._source()
        cache = self._cache
        entry = cache.hit(source) or cache.get(source)
        request.headers["Authorization"] = entry.header
        response = yield request
        if response.status_code == 401:
            source = self._source()
            cache.invalidate(source.key, entry.token)
            request.headers["Authorization"] = cache.get(source).header
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        source = self._source()
        cache = self._cache
        entry = cache.hit(source) or await cache.aget(source)
        request.headers["Authorization"] = entry.header
        response = yield request
        if response.status_code == 401:
            source = self._source()
            cache.invalidate(source.key, entry.token)
            request.headers["Authorization"] = (await cache.aget(source)).header
            yield request
