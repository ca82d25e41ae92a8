"""`TelnyxOAuth`: an `httpx.Auth` that sends a valid bearer token and recovers once from a 401."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Generator

import httpx

from telnyx_oauth.token_cache import CachedToken, TokenCache, TokenSource, default_cache


class TelnyxOAuth(httpx.Auth):
    """Attach `Authorization: Bearer <token>`; on a 401, refresh once and retry once.

    Only the token that was actually sent is invalidated, so a newer token another caller already
    holds is kept. A warm request reads the cached entry and writes its ready-made header: one
    look-up, one clock read, one header assignment. The two shells differ only in how a missing
    token is fetched (`get` or `await aget`).

    Both token calls of one request share one deadline (`token_deadline_seconds`). A token the
    API refused right after it was fetched is remembered: a 401 with it is returned at once, with
    no further token request, until the cache holds another token.

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
        spent = 0.0
        entry = cache.hit(source)
        if entry is None:
            started = time.monotonic()
            entry = cache.get(source)
            spent = time.monotonic() - started
        request.headers["Authorization"] = entry.header
        response = yield request
        if response.status_code == 401:
            retry = self._retry_source(entry, spent)
            if retry is not None:
                fresh = cache.get(retry)
                request.headers["Authorization"] = fresh.header
                response = yield request
                self._judge(retry, fresh, response)
        elif cache.refused:
            self._judge(source, entry, response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        source = self._source()
        cache = self._cache
        spent = 0.0
        entry = cache.hit(source)
        if entry is None:
            started = time.monotonic()
            entry = await cache.aget(source)
            spent = time.monotonic() - started
        request.headers["Authorization"] = entry.header
        response = yield request
        if response.status_code == 401:
            retry = self._retry_source(entry, spent)
            if retry is not None:
                fresh = await cache.aget(retry)
                request.headers["Authorization"] = fresh.header
                response = yield request
                self._judge(retry, fresh, response)
        elif cache.refused:
            self._judge(source, entry, response)

    def _retry_source(self, sent: CachedToken, spent: float) -> TokenSource | None:
        """After a 401 with `sent`: the source to fetch the retry's token with, in what is left
        of the deadline; None when `sent` was already refused fresh (no token request then)."""
        source = self._source()
        cache = self._cache
        if cache.refused.get(source.key) == cache.token_id(sent.token):
            return None
        cache.invalidate(source.key, sent.token)
        if spent <= 0:
            return source
        left = max(source.deadline_seconds - spent, 0.001)
        return dataclasses.replace(source, deadline_seconds=left)

    def _judge(self, source: TokenSource, sent: CachedToken, response: httpx.Response) -> None:
        """Remember a fetched token the API refused too; forget it once the API takes it."""
        cache = self._cache
        if response.status_code == 401:
            cache.refuse(source.key, sent.token)
        elif cache.refused.get(source.key) == cache.token_id(sent.token):
            del cache.refused[source.key]
