"""One refresh shared across processes: store re-read, lock, re-read, request, persist, release.

One module over 300 lines: every step spends one budget on one store session, in one order.

Another process or worker may already hold a fresh token, so the store is read first; only then
is its cross-process lock taken, the store read again, and the token endpoint called. Waiters poll
the store fast (the holder's token lands within a token request's time) and take the holder's
token as soon as it is saved.

Every step runs inside the call's deadline (`TokenSource.deadline_seconds`). Store calls get a
share of it that always leaves one token attempt's time: a store that does not answer in time is
given up, with a warning, and the refresh goes on in this process alone. A lock that stays held
past the waiting share is given up too, and the token requested here; the wait ends early enough
that the reads and the save after it still get their floor (`STORE_FLOOR_SECONDS`), so that
token is still shared. A token the server issued lands in memory the moment it is parsed, before
it is saved: no deadline can make it be thrown away.

A waiter takes any stored token that callers may still be handed (the leeway floor left) and
that is newer than its own. A `client_credentials` waiter that sees no new token saved for
`STALL_SECONDS` stops waiting for the lock (its holder may have been killed, and holds it until
its lease ends) and requests a token itself; a token requested without the lock is saved only if
nobody saved a newer one meanwhile. A rotating refresh token is never spent without the lock: an
`authorization_code` waiter waits for the lease, and past its deadline fails rather than spend it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from telnyx_oauth.discovery import adiscover
from telnyx_oauth.errors import (
    ConfigurationError,
    InvalidGrantError,
    TelnyxOAuthError,
    TokenEndpointUnavailableError,
    TokenStoreError,
)
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
    arequest_token,
)
from telnyx_oauth.token_store import (
    MemorySession,
    MemoryTokenStore,
    TokenStoreSession,
    TokenStoreUnavailableError,
)

if TYPE_CHECKING:
    from telnyx_oauth.token_cache import CachedToken, TokenCache, TokenSource

logger = logging.getLogger("telnyx_oauth.cache")

T = TypeVar("T")

RENEW_EVERY_SECONDS = 20.0
"""How often a holder renews its lock lease while its token request is still running."""

STORE_CALL_SECONDS = 30.0
"""The longest one store call may take (and never more than the deadline leaves). A healthy
Prefect API answers in tens of milliseconds; a busy one (SQLite under 8 processes) answers 503 and
is retried by Prefect's client for several seconds, so a call is given up only after this long."""

AFTERCARE_SECONDS = 5.0
"""The longest a lock release, a lease renewal or the token event may hold up callers; each is
harmless to skip (a lease expires by itself)."""

STORE_FLOOR_SECONDS = 2.0
"""What a store call after the lock wait always gets (never more than a sixth of the deadline):
the wait ends early enough for it, and the token request leaves it for the save."""

DISCOVERY_SECONDS = 5.0
"""The longest the one server-metadata request per process may take."""

STALL_SECONDS = 10.0
"""How long a `client_credentials` waiter waits for a new token while the lock is held before it
requests its own (each waiter adds up to half more at random, so one usually goes first and the
others take its token). A healthy holder saves within a token request's time; a killed one holds
the lock until its lease ends (60-77 s on Prefect). A second token costs nothing but a request."""

FAST_POLL_SECONDS = 10.0
"""Waiters poll at most every 0.5 s this long (a token request lands well within it), then 2 s."""

GrantName = Literal["refresh_token", "client_credentials"]


class Budget:
    """The time left of one call, on the running loop's clock."""

    def __init__(self, seconds: float, reserve: float, floor: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.seconds = seconds
        self.end = self._loop.time() + seconds
        self.reserve = min(reserve, seconds / 2)  # always kept for one token attempt
        self.floor = min(floor, seconds / 6)  # always kept for one store call after a wait

    def left(self) -> float:
        """Seconds until the deadline."""
        return self.end - self._loop.time()

    def spare(self) -> float:
        """Seconds that store calls and lock waits may still use."""
        return self.left() - self.reserve

    def for_request(self) -> float:
        """Seconds a token request may take: what is left, less the floor kept for the save."""
        return max(self.left() - self.floor, 0.001)


async def store_call(budget: Budget, call: Awaitable[T], what: str, *, at_least: float = 0.0) -> T:
    """Await one store call within its share of the deadline (but `at_least` this long).

    Raises:
        TokenStoreUnavailableError: it did not answer in time.
    """
    timeout = max(min(STORE_CALL_SECONDS, budget.spare()), at_least)
    try:
        if timeout <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(call, timeout)
    except asyncio.TimeoutError:
        if asyncio.iscoroutine(call):
            call.close()
        msg = f"no answer to {what} within {max(timeout, 0):.1f} s"
        raise TokenStoreUnavailableError(msg) from None


async def refresh(
    cache: TokenCache,
    source: TokenSource,
    force: bool,
    avoid: frozenset[str],
    *,
    seconds: float | None = None,
    landed: asyncio.Future[CachedToken] | None = None,
) -> CachedToken:
    """Get a new token for `source` through its store, or in this process if the store fails.

    Args:
        seconds: What is left of the call's deadline (the source's whole deadline by default).
        landed: Set to the new token's entry as soon as it is in memory, before it is saved.
    """
    budget = Budget(
        source.deadline_seconds if seconds is None else seconds,
        reserve=source.endpoint.timeout_seconds,
        # Memory answers at once: only a real store needs time kept for it.
        floor=0.0 if isinstance(source.store, MemoryTokenStore) else STORE_FLOOR_SECONDS,
    )
    if landed is None:
        landed = asyncio.get_running_loop().create_future()
    try:
        async with AsyncExitStack() as stack:
            opening = stack.enter_async_context(source.store.session())
            session = await store_call(budget, opening, "opening the store")
            return await _refresh_with(cache, source, session, force, avoid, budget, landed)
    except TokenStoreError as exc:
        if landed.done():  # the token arrived; only closing the store failed: keep it
            logger.warning("the token store of %s failed as it closed: %s", source.label, exc)
            return landed.result()
        logger.warning(
            "could not share the token of %s through its store (%s); refreshing in this process "
            "only.",
            source.label,
            exc,
        )
    # This process's memory answers at once: what is left of the deadline is the request's.
    alone = Budget(max(budget.left(), 0.0), reserve=0.0)
    entry = await _refresh_with(cache, source, MemorySession(), force, avoid, alone, landed)
    if entry.token.refresh_token is not None:
        await _save_after_store_failure(source, entry.token)
    return entry


async def _save_after_store_failure(source: TokenSource, token: TelnyxToken) -> None:
    """Best effort: the store may be back, and a rotated refresh token must reach it, or every
    other process would spend the retired one. The callers already hold the token."""

    async def write() -> None:
        async with source.store.session() as session:
            await session.write(token)

    try:
        await asyncio.wait_for(write(), AFTERCARE_SECONDS)
    except Exception as exc:  # still down: the refresh itself succeeded
        logger.warning(
            "could not save the new token of %s after its store failed (%s); it is kept in "
            "memory only.",
            source.label,
            type(exc).__name__,
        )


async def _refresh_with(
    cache: TokenCache,
    source: TokenSource,
    session: TokenStoreSession,
    force: bool,
    avoid: frozenset[str],
    budget: Budget,
    landed: asyncio.Future[CachedToken] | None,
) -> CachedToken:
    stored = await store_call(budget, session.read(), "reading the token")
    if force and stored is not None:
        # The token the caller wants replaced may live only in the store; a different one
        # saved after this read is newer, and is taken.
        avoid |= {cache.token_id(stored)}
    if (taken := _takeable(cache, source, stored, avoid)) is not None:
        return cache.land(source, taken, "store")
    seen = cache.token_id(stored) if stored is not None else None
    lease = await _acquire(cache, source, session, avoid, budget, seen)
    if not isinstance(lease, _Lease):
        return lease
    try:
        reading = session.read()
        stored = await store_call(budget, reading, "reading the token", at_least=budget.floor)
        if stored is not None and cache.usable(source, stored, avoid):
            return cache.land(source, stored, "store")
        held = _newest(stored, cache.held(source.key), source.seed)
        renewal = asyncio.ensure_future(_keep_renewing(session, lease.value))
        try:
            token, grant_name = await _request(cache, source, held, budget)
        finally:
            renewal.cancel()
        # In memory first: whatever happens to the save, this process keeps the token (and
        # its refresh token, which the server may already have rotated).
        entry = cache.land(source, token, grant_name)
        if landed is not None and not landed.done():
            landed.set_result(entry)
        try:
            kept = None
            if lease.value is None:  # without the lock, another process may have saved one
                kept = await _saved_meanwhile(cache, source, session, stored, token, budget)
            if kept is None:
                # Saving is never skipped for lack of time: a token nobody else sees costs
                # every other process a request, and a rotated refresh token would be lost.
                saving = session.write(token)
                await store_call(budget, saving, "saving the new token", at_least=AFTERCARE_SECONDS)
            elif kept is not token:
                entry = cache.land(source, kept, "store")
        except TokenStoreError as exc:
            logger.warning(
                "could not save the new token of %s (%s); it is kept in memory only.",
                source.label,
                exc,
            )
    finally:
        if lease.value is not None:
            await _release(session, lease.value, source.label)
    if source.on_issued is not None:
        try:
            await asyncio.wait_for(source.on_issued(token, grant_name), AFTERCARE_SECONDS)
        except Exception as exc:  # an event is news, never a reason to fail a good refresh
            logger.debug("could not announce the new token of %s: %s", source.label, exc)
    return entry


async def announce_failure(source: TokenSource, exc: TelnyxOAuthError) -> None:
    """Tell the source's `on_failed` hook, within the aftercare time; its own failure is only
    logged (the callers get `exc` either way)."""
    if source.on_failed is None:
        return
    try:
        await asyncio.wait_for(source.on_failed(exc), AFTERCARE_SECONDS)
    except Exception as hook_exc:
        logger.debug("could not announce the failed refresh of %s: %s", source.label, hook_exc)


class _Lease:
    """The lock's lease, or None when the refresh goes on without the lock."""

    def __init__(self, value: object | None) -> None:
        self.value = value


async def _acquire(
    cache: TokenCache,
    source: TokenSource,
    session: TokenStoreSession,
    avoid: frozenset[str],
    budget: Budget,
    seen: str | None,
) -> _Lease | CachedToken:
    """Take the refresh lock, or return the token another holder saved meanwhile.

    Args:
        seen: The id of the stored token when the wait began; a different one is progress.
    """
    delay, waited = 0.05, 0.0
    stall = STALL_SECONDS * (1 + random.random() / 2)
    quiet = 0.0  # seconds waited since the last new token was seen in the store
    while (lease := await store_call(budget, session.try_lock(), "taking the lock")) is None:
        # The wait leaves the floor of the store calls after it (a read, then the save).
        pause = min(delay * (0.5 + random.random()), max(budget.spare() - budget.floor, 0.0))
        if not source.user_grant and quiet < stall:  # look once more right at the stall
            pause = min(pause, stall - quiet)
        if pause <= 0:
            if source.user_grant:
                raise _lock_held(source, waited)
            logger.warning(
                "waited %.0f s for another process to refresh %s; refreshing here.",
                waited,
                source.label,
            )
            return _Lease(None)
        if quiet >= stall and not source.user_grant:
            logger.warning(
                "no new token of %s saved for %.0f s while another process holds its refresh "
                "lock (a killed process holds it until its lease ends); requesting one here.",
                source.label,
                quiet,
            )
            return _Lease(None)
        await asyncio.sleep(pause)
        waited += pause
        quiet += pause
        delay = min(delay * 1.5, 0.5 if waited < FAST_POLL_SECONDS else 2.0)
        reading = session.read()
        stored = await store_call(budget, reading, "reading the token", at_least=budget.floor)
        if (taken := _takeable(cache, source, stored, avoid)) is not None:
            return cache.land(source, taken, "store")
        if stored is not None and (stored_id := cache.token_id(stored)) != seen:
            seen, quiet = stored_id, 0.0
    return _Lease(lease)


def _takeable(
    cache: TokenCache, source: TokenSource, stored: TelnyxToken | None, avoid: frozenset[str]
) -> TelnyxToken | None:
    """The stored token if a waiter may take it instead of requesting one: a fresh token, or
    one that callers are still handed (the leeway floor left) and newer than this process's."""
    if stored is None or cache.usable(source, stored, avoid):
        return stored
    held = cache.held(source.key)
    newer = held is None or _issued(stored) > _issued(held)
    return stored if newer and cache.servable(source, stored, avoid) else None


async def _saved_meanwhile(
    cache: TokenCache,
    source: TokenSource,
    session: TokenStoreSession,
    before: TelnyxToken | None,
    token: TelnyxToken,
    budget: Budget,
) -> TelnyxToken | None:
    """After a request made without the lock: a fresh token another process saved since
    `before` was read, to use instead of `token` (so the fleet stays on one token), or `token`
    itself when a newer one is there (it is then not saved); None when `token` is to be saved."""
    reading = session.read()
    current = await store_call(budget, reading, "reading the token", at_least=budget.floor)
    if current is None:
        return None
    if before is not None and cache.token_id(current) == cache.token_id(before):
        return None
    if cache.usable(source, current, frozenset()):
        logger.debug("%s: another process saved a token meanwhile; it is used", source.label)
        return current
    return token if _issued(current) > _issued(token) else None


def _lock_held(source: TokenSource, waited: float) -> TokenEndpointUnavailableError:
    msg = (
        f"Another process held the refresh lock of {source.label} for {waited:.0f} s. Its "
        "refresh token rotates, so it is not spent here as well. A killed holder's lock is freed "
        "when its lease ends (about 80 s on Prefect): try again, or keep token_deadline_seconds "
        "above that (the default is 120)."
    )
    return TokenEndpointUnavailableError(msg, status_code=None, retry_after=None, attempts=0)


async def _release(session: TokenStoreSession, lease: object, label: str) -> None:
    try:
        await asyncio.wait_for(session.unlock(lease), AFTERCARE_SECONDS)
    except (TokenStoreError, asyncio.TimeoutError) as exc:  # the lease expires by itself
        logger.warning("could not release the refresh lock of %s: %s", label, exc)


async def _endpoint(cache: TokenCache, source: TokenSource, budget: Budget) -> TokenEndpointConfig:
    """The token endpoint: the server's published one (RFC 8414, once per process) or the
    configured default. Discovery never costs a refresh its token: any failure keeps the default."""
    if source.discover_from is None:
        return source.endpoint
    timeout = max(min(DISCOVERY_SECONDS, budget.spare()), 0.5)
    try:
        metadata = await asyncio.wait_for(
            adiscover(source.discover_from, client=cache.http_client(), timeout_seconds=timeout),
            timeout,
        )
    except (asyncio.TimeoutError, TelnyxOAuthError, httpx.HTTPError) as exc:
        logger.debug(
            "no server metadata for %s (%s); using the default token URL", source.label, exc
        )
        return source.endpoint
    if metadata.token_endpoint == source.endpoint.token_url:
        return source.endpoint
    return dataclasses.replace(source.endpoint, token_url=metadata.token_endpoint)


async def _request(
    cache: TokenCache, source: TokenSource, held: TelnyxToken | None, budget: Budget
) -> tuple[TelnyxToken, GrantName]:
    options: dict[str, Any] = {"client": cache.http_client(), "now": cache.now}
    endpoint = await _endpoint(cache, source, budget)
    if held is not None and held.refresh_token is not None:
        # A user's refresh asks for no scope: RFC 6749 §6 then keeps what the user granted,
        # which may be narrower than the block's own scope field (`authorize --scope`).
        scope = None if source.user_grant else source.scope
        grant: Grant = RefreshTokenGrant(held.refresh_token, scope=scope)
        try:
            token = await arequest_token(
                endpoint, grant, deadline_seconds=budget.for_request(), **options
            )
            return token, "refresh_token"
        except InvalidGrantError as exc:
            if source.user_grant:
                # client_credentials would act as another principal: say what to do instead.
                msg = f"The refresh token of {source.label} was refused: {exc} "
                raise InvalidGrantError(
                    msg + source.reconnect_hint,
                    status_code=exc.status_code,
                    error=exc.error,
                    error_description=exc.error_description,
                ) from None
            logger.info(
                "refresh token of %s was rejected (invalid_grant); "
                "requesting a new token with client_credentials.",
                source.label,
            )
    if source.user_grant:
        msg = f"{source.label} holds no refresh token yet. {source.reconnect_hint}"
        raise ConfigurationError(msg)
    grant = ClientCredentialsGrant(scope=source.scope)
    token = await arequest_token(endpoint, grant, deadline_seconds=budget.for_request(), **options)
    return token, "client_credentials"


def _issued(token: TelnyxToken) -> datetime:
    """When a token was issued, as near as it says (its expiry if it does not)."""
    return token.issued_at or token.expires_at


def _newest(*tokens: TelnyxToken | None) -> TelnyxToken | None:
    """The most recently issued token that carries a refresh token (older ones may be rotated)."""
    candidates = [t for t in tokens if t is not None and t.refresh_token is not None]
    return max(candidates, key=_issued, default=None)


async def _keep_renewing(session: TokenStoreSession, lease: object | None) -> None:
    """Renew the refresh lock while a slow token request (retries, Retry-After) is running."""
    if lease is None:
        return
    while True:
        await asyncio.sleep(RENEW_EVERY_SECONDS)
        try:
            await asyncio.wait_for(session.renew(lease), AFTERCARE_SECONDS)
        except (TokenStoreError, asyncio.TimeoutError) as exc:  # at worst another one refreshes
            logger.warning("could not renew the refresh lock: %s", exc)
