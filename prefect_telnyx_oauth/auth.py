"""`TelnyxOAuth`: an `httpx.Auth` that sends a valid bearer token and recovers once from a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.token_cache import TokenCache, TokenSource, default_cache


@dataclass(frozen=True)
class _TokenNeeded:
    """A step of `auth_flow`: the shell must fetch a token, rejecting `rejected` if given."""

    rejected: TelnyxToken | None = None


class TelnyxOAuth(httpx.Auth):
    """Attach `Authorization: Bearer <token>`; on a 401, refresh once and retry once.

    Only the token that was actually sent is invalidated, so a newer token another caller already
    holds is kept. One generator, `auth_steps`, serves `httpx.Client` and `httpx.AsyncClient`; the
    two shells differ only in how they fetch a token (`get` or `await aget`).

    Args:
        source: Returns the `TokenSource` of the credentials (the block's identity).
        cache: The token cache; the process-wide one by default.

    Example:
        ```python
        with httpx.Client(auth=credentials.get_auth()) as client:
            client.get("https://api.telnyx.com/v2/balance")
        ```
    """

    requires_request_body = True  # a retried POST must resend its body

    def __init__(
        self, source: Callable[[], TokenSource], cache: TokenCache = default_cache
    ) -> None:
        self._source = source
        self._cache = cache

    def auth_steps(
        self, request: httpx.Request
    ) -> Generator[httpx.Request | _TokenNeeded, TelnyxToken | httpx.Response, None]:
        """The protocol, shared by both shells: yields requests to send and tokens to fetch."""
        token = yield _TokenNeeded()
        assert isinstance(token, TelnyxToken)
        request.headers.update(token.headers())
        response = yield request
        assert isinstance(response, httpx.Response)
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        fresh = yield _TokenNeeded(rejected=token)
        assert isinstance(fresh, TelnyxToken)
        request.headers.update(fresh.headers())
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_steps(request)
        value: TelnyxToken | httpx.Response | None = None
        while True:
            try:
                step = flow.send(value)  # type: ignore[arg-type]
            except StopIteration:
                return
            if isinstance(step, _TokenNeeded):
                value = self._cache.get(self._prepare(step)).token
            else:
                value = yield step

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_steps(request)
        value: TelnyxToken | httpx.Response | None = None
        while True:
            try:
                step = flow.send(value)  # type: ignore[arg-type]
            except StopIteration:
                return
            if isinstance(step, _TokenNeeded):
                value = (await self._cache.aget(self._prepare(step))).token
            else:
                value = yield step

    def _prepare(self, step: _TokenNeeded) -> TokenSource:
        source = self._source()
        if step.rejected is not None:
            self._cache.invalidate(source.key, step.rejected)
        return source
