"""Ask the Telnyx token endpoint for a token, retrying transient failures: `request_token`.

The protocol and the retry policy live once, in `token_flow`, a generator that yields what to do
next (send a request, or sleep) and is sent what happened (a response, or a transport error). The
sync and async functions below only drive it, the way `httpx.Auth.auth_flow` serves both clients.

Example:
    ```python
    config = TokenEndpointConfig.from_base_url(
        "https://api.telnyx.com/v2", client_id="...", client_secret=SecretStr("...")
    )
    token = request_token(config, ClientCredentialsGrant())
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime

import anyio
import httpx

from telnyx_oauth._retry import is_transient, retry_delay
from telnyx_oauth._token_errors import unavailable_error
from telnyx_oauth._token_request import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
    build_token_request,
)
from telnyx_oauth._token_response import BodyBuffer, parse_token_response
from telnyx_oauth.errors import TokenError
from telnyx_oauth.models import TelnyxToken, utc_now

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "Grant",
    "RefreshTokenGrant",
    "Sleep",
    "TokenEndpointConfig",
    "TransportOutcome",
    "arequest_token",
    "request_token",
    "token_flow",
]

logger = logging.getLogger("telnyx_oauth.token")

TransportOutcome = httpx.Response | httpx.RequestError
"""What sending a request produced: a read response, or the httpx error that stopped it."""


@dataclass(frozen=True)
class Sleep:
    """A step of `token_flow`: wait this long before the next attempt."""

    seconds: float


def token_flow(
    config: TokenEndpointConfig,
    grant: Grant,
    *,
    now: Callable[[], datetime] = utc_now,
    rng: Callable[[], float] = random.random,
    deadline_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Generator[httpx.Request | Sleep, TransportOutcome | None, TelnyxToken]:
    """The whole token request, I/O left to the driver.

    Yields an `httpx.Request` to send (send back its read response or the `httpx.RequestError`
    it raised) or a `Sleep` (send back None); returns the token. With `deadline_seconds`, every
    attempt's timeout and every wait fit inside that many seconds from the first step, as
    measured by `clock`.

    Raises:
        TokenRequestError: the endpoint answered with an RFC 6749 error (never retried).
        TokenResponseError: the endpoint answered with something that is not a token.
        TokenEndpointUnavailableError: transient failures outlasted the attempts or the deadline,
            the server asked to wait longer than `retry_after_cap_seconds`, or the transport
            failed for good.
    """
    end = clock() + deadline_seconds if deadline_seconds is not None else math.inf
    attempt = 0
    while True:
        attempt += 1
        logger.debug(
            "token request grant=%s attempt=%d/%d url=%s",
            grant.grant_type,
            attempt,
            config.max_attempts,
            config.token_url,
        )
        timeout = min(config.timeout_seconds, max(end - clock(), 0.001))
        request = build_token_request(config, grant, timeout_seconds=timeout)
        # Taken before sending, so time spent waiting on the network never extends the token.
        sent_at = now()
        outcome = yield request
        assert outcome is not None, "send back the response or the httpx.RequestError"
        if isinstance(outcome, httpx.Response) and not is_transient(outcome):
            logger.debug("token endpoint answered %d", outcome.status_code)
            try:
                return parse_token_response(outcome, config=config, grant=grant, sent_at=sent_at)
            except TokenError as exc:
                exc.attempts = attempt  # a refusal after retried blips counts them too
                raise
        what = (
            f"answered {outcome.status_code}"
            if isinstance(outcome, httpx.Response)
            else f"failed with {type(outcome).__name__}"
        )
        delay = retry_delay(attempt, outcome, policy=config, now=now(), rng=rng)
        # A wait must leave time for the attempt after it, or it only delays the failure.
        out_of_time = delay is not None and delay >= end - clock()
        if delay is None or out_of_time:
            logger.debug("token endpoint %s; giving up after attempt %d", what, attempt)
            error = unavailable_error(
                outcome,
                config=config,
                limits=config,
                attempts=attempt,
                now=now(),
                deadline_seconds=deadline_seconds if out_of_time else None,
            )
            # A transport error's text is httpx's own (no request data); keep it for the trace.
            cause = outcome if isinstance(outcome, httpx.RequestError) else None
            raise error from cause
        logger.debug("token endpoint %s; retrying in %.2f s", what, delay)
        yield Sleep(delay)


def request_token(
    config: TokenEndpointConfig,
    grant: Grant,
    *,
    client: httpx.Client | None = None,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    deadline_seconds: float | None = None,
) -> TelnyxToken:
    """Request a token from the token endpoint, retrying transient failures.

    Args:
        config: The endpoint, client credentials and retry limits.
        grant: What to trade for the token.
        client: An `httpx.Client` to send with; its auth and redirect settings are bypassed and
            `config.timeout_seconds` applies. None: a short-lived client per call.
        now: The clock; `expires_at` is `now()` just before sending plus `expires_in`.
        sleep: Waits between attempts.
        deadline_seconds: The whole call, attempts and waits included, ends within this long.

    Returns:
        The token.

    Raises:
        TokenError: see `token_flow` for the subclasses and when each is raised.
    """
    flow = token_flow(config, grant, now=now, deadline_seconds=deadline_seconds)
    with _client_for(config, client) as http:
        step = next(flow)
        while True:
            outcome = None
            if isinstance(step, Sleep):
                sleep(step.seconds)
            else:
                outcome = _send(http, step)
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                token: TelnyxToken = done.value
                return token


async def arequest_token(
    config: TokenEndpointConfig,
    grant: Grant,
    *,
    client: httpx.AsyncClient | None = None,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    deadline_seconds: float | None = None,
) -> TelnyxToken:
    """The async twin of `request_token`, with an `httpx.AsyncClient` and an awaitable `sleep`."""
    flow = token_flow(config, grant, now=now, deadline_seconds=deadline_seconds)
    async with _async_client_for(config, client) as http:
        step = next(flow)
        while True:
            outcome = None
            if isinstance(step, Sleep):
                await sleep(step.seconds)
            else:
                try:
                    outcome = await asyncio.wait_for(_asend(http, step), _attempt_seconds(step))
                except asyncio.TimeoutError:
                    outcome = _too_slow(step)
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                token: TelnyxToken = done.value
                return token


@contextlib.contextmanager
def _client_for(config: TokenEndpointConfig, client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=config.timeout_seconds, follow_redirects=False) as own:
        yield own


@contextlib.asynccontextmanager
async def _async_client_for(
    config: TokenEndpointConfig, client: httpx.AsyncClient | None
) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(timeout=config.timeout_seconds, follow_redirects=False) as own:
        yield own


# auth=None: a caller's client may carry our own TelnyxOAuth, which must not wrap its own refresh.
# follow_redirects=False: a redirected POST would resend the credentials to another URL.


def _attempt_seconds(request: httpx.Request) -> float:
    """The whole attempt's limit: httpx's timeouts bound each read, not a trickled answer."""
    return float(request.extensions.get("timeout", {}).get("read") or 10.0)


def _too_slow(request: httpx.Request) -> httpx.ReadTimeout:
    msg = f"no whole answer within {_attempt_seconds(request):g} s"
    return httpx.ReadTimeout(msg, request=request)


def _send(client: httpx.Client, request: httpx.Request) -> TransportOutcome:
    body = BodyBuffer()
    ends = time.monotonic() + _attempt_seconds(request)
    try:
        response = client.send(request, stream=True, auth=None, follow_redirects=False)
        try:
            for chunk in response.iter_bytes():
                if body.feed(chunk):
                    break
                if time.monotonic() > ends:
                    return _too_slow(request)
        finally:
            response.close()
    except httpx.RequestError as exc:
        return exc
    return body.response(response, request)


async def _asend(client: httpx.AsyncClient, request: httpx.Request) -> TransportOutcome:
    body = BodyBuffer()
    try:
        response = await client.send(request, stream=True, auth=None, follow_redirects=False)
        try:
            async for chunk in response.aiter_bytes():
                if body.feed(chunk):
                    break
        finally:
            await response.aclose()
    except httpx.RequestError as exc:
        return exc
    return body.response(response, request)
