"""One token per credential identity per process, refreshed once for every caller.

The hot path (`TokenCache.peek`) is a dictionary look-up and a clock read. Misses go to one
background event-loop thread per process, where each credential identity has at most one refresh
in flight: threads wait on a `concurrent.futures.Future`, asyncio tasks await it without blocking
their loop, and every caller shares the same answer.

A refresh asks a `TokenStore` first (another process or worker may already have a fresh token),
then takes the store's cross-process lock, re-reads, and only then calls the token endpoint. The
store is an interface: `credentials.py` implements it with the Prefect API, `MemoryTokenStore`
with nothing at all. This module never imports Prefect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import random
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from prefect_telnyx_oauth.errors import InvalidGrantError
from prefect_telnyx_oauth.models import TelnyxToken, utc_now
from prefect_telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
    arequest_token,
)

logger = logging.getLogger("prefect_telnyx_oauth.cache")

TokenOrigin = Literal["memory", "block", "store", "refresh_token", "client_credentials"]
"""Where a token came from: this process's cache, the caller's own fields, the shared store, or a
new request with the named grant."""

RENEW_EVERY_SECONDS = 20.0
"""How often a holder renews its lock lease while its token request is still running."""

_MAX_REJECTED = 32
_NONE: frozenset[str] = frozenset()

LOCK_WAIT_SECONDS = 90.0
"""How long to wait for another process's refresh before refreshing without the lock. Longer than
the 60 s lease of a killed holder, so a crash delays waiters but never doubles a refresh."""


class TokenStoreUnavailableError(Exception):
    """The shared store (the Prefect API) could not be reached; the cache falls back to memory."""


class TokenStoreSession(Protocol):
    """One connection to the shared store, open for the length of one refresh."""

    async def read(self) -> TelnyxToken | None:
        """Return the persisted token, or None when there is none for this identity."""

    async def write(self, token: TelnyxToken) -> None:
        """Persist a new token (only the token fields: nothing else may be overwritten)."""

    async def try_lock(self) -> object | None:
        """Take the cross-process refresh lock without waiting; return a lease, or None if held."""

    async def unlock(self, lease: object) -> None:
        """Release a lease returned by `try_lock`."""

    async def renew(self, lease: object) -> None:
        """Extend a lease while its holder is still refreshing."""


class TokenStore(Protocol):
    """Where tokens outlive this process: opens sessions."""

    def session(self) -> AbstractAsyncContextManager[TokenStoreSession]:
        """Open a session for one refresh."""


class _MemorySession:
    async def read(self) -> TelnyxToken | None:
        return None

    async def write(self, token: TelnyxToken) -> None:
        logger.debug("block is not saved: the new token is kept in this process's memory only")

    async def try_lock(self) -> object | None:
        return self

    async def unlock(self, lease: object) -> None:
        return None

    async def renew(self, lease: object) -> None:
        return None


class MemoryTokenStore:
    """The store of an unsaved block: nothing persists beyond this process's cache."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[TokenStoreSession]:
        yield _MemorySession()


IssuedHook = Callable[[TelnyxToken, str], Awaitable[None]]


@dataclass(frozen=True)
class TokenSource:
    """Everything the cache needs to get a token for one credential identity."""

    key: str
    endpoint: TokenEndpointConfig
    label: str
    scope: str | None = None
    leeway_seconds: float = 60.0
    store: TokenStore = field(default_factory=MemoryTokenStore)
    seed: TelnyxToken | None = None
    on_issued: IssuedHook | None = None


@dataclass(frozen=True)
class CachedToken:
    """A token in the cache, with the instant it stops being handed out."""

    token: TelnyxToken
    due_at: datetime
    origin: TokenOrigin


def fingerprint(*parts: str | None) -> str:
    """A one-way digest of credential parts, safe to use as a key or to log."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256((part or "").encode()).digest())
    return digest.hexdigest()[:32]


def _token_id(token: TelnyxToken) -> str:
    return fingerprint(token.access_token.get_secret_value())


class _LoopThread:
    """A private event loop in a daemon thread; restarted in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._http: httpx.AsyncClient | None = None

    def http_client(self) -> httpx.AsyncClient:
        """One keep-alive client for token requests, bound to this loop (call it on the loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    def submit(self, coro: Awaitable[CachedToken]) -> concurrent.futures.Future[CachedToken]:
        # run_coroutine_threadsafe copies the caller's contextvars, so Prefect's settings and
        # run context (API URL, flow run) follow the refresh into this thread.
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self._ensure_loop())

    def is_current(self) -> bool:
        return self._thread is threading.current_thread()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._http = None  # a forked child must not reuse the parent's connections
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="telnyx-oauth-refresh", daemon=True
                )
                self._thread.start()
            return self._loop


async def _as_coroutine(awaitable: Awaitable[CachedToken]) -> CachedToken:
    return await awaitable


class TokenCache:
    """Process-wide token cache keyed by credential identity.

    Args:
        now: The clock; tests inject one instead of sleeping.
        lock_wait_seconds: How long to wait for another process's refresh (see
            `LOCK_WAIT_SECONDS`).
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = utc_now,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._now = now
        self._lock_wait_seconds = lock_wait_seconds
        self._entries: dict[str, CachedToken] = {}
        self._rejected: dict[str, dict[str, None]] = {}  # token ids, oldest first
        self._inflight: dict[str, concurrent.futures.Future[CachedToken]] = {}
        self._guard = threading.Lock()
        self._runner = _LoopThread()
        _caches.add(self)

    # -- the hot path ------------------------------------------------------------------------

    def peek(self, key: str) -> CachedToken | None:
        """Return the cached token for `key` if it may still be used; no I/O."""
        entry = self._entries.get(key)
        if entry is not None and self._now() < entry.due_at:
            return entry
        return None

    # -- the two shells ------------------------------------------------------------------------

    def get(self, source: TokenSource, *, force_refresh: bool = False) -> CachedToken:
        """Return a valid token, refreshing it at most once across all concurrent callers."""
        if not force_refresh and (hit := self._hit(source)) is not None:
            return hit
        if self._runner.is_current():
            msg = "TokenCache.get() cannot be called from a token-store hook; use aget()."
            raise RuntimeError(msg)
        return self._flight(source, force_refresh).result()

    async def aget(self, source: TokenSource, *, force_refresh: bool = False) -> CachedToken:
        """Async twin of `get`: waits for the shared refresh without blocking the event loop."""
        if not force_refresh and (hit := self._hit(source)) is not None:
            return hit
        # shield: one caller's cancellation must not cancel the refresh the others wait on.
        return await asyncio.shield(asyncio.wrap_future(self._flight(source, force_refresh)))

    # -- invalidation --------------------------------------------------------------------------

    def invalidate(self, key: str, token: TelnyxToken | None = None) -> None:
        """Forget the token for `key`, or only `token` if given (a newer one is kept).

        An invalidated token is never handed out again by this process, even when the store or
        a block's own fields still hold it.
        """
        with self._guard:
            entry = self._entries.get(key)
            target = token if token is not None else (entry.token if entry else None)
            if target is None:
                return
            self._reject(key, target)
            if entry is not None and _token_id(entry.token) == _token_id(target):
                del self._entries[key]

    def clear(self) -> None:
        """Forget every token (tests use this to simulate a new process)."""
        with self._guard:
            self._entries.clear()
            self._rejected.clear()

    # -- internals -----------------------------------------------------------------------------

    def _usable(
        self, key: str, token: TelnyxToken | None, leeway: float, avoid: frozenset[str] = _NONE
    ) -> bool:
        if token is None:
            return False
        token_id = _token_id(token)
        if token_id in avoid or token_id in self._rejected.get(key, ()):
            return False
        return token.is_fresh(self._now(), leeway)

    def _remember(
        self, source: TokenSource, token: TelnyxToken, origin: TokenOrigin
    ) -> CachedToken:
        entry = CachedToken(token, token.refresh_due_at(source.leeway_seconds), origin)
        with self._guard:
            # A concurrent invalidate() of this very token wins: hand it out once, never cache it.
            if _token_id(token) not in self._rejected.get(source.key, ()):
                self._entries[source.key] = entry
        return entry

    def _hit(self, source: TokenSource) -> CachedToken | None:
        entry = self.peek(source.key)
        if entry is not None:
            return CachedToken(entry.token, entry.due_at, "memory")
        if self._usable(source.key, source.seed, source.leeway_seconds):
            assert source.seed is not None
            return self._remember(source, source.seed, "block")
        return None

    def _reject(self, key: str, token: TelnyxToken) -> None:
        rejected = self._rejected.setdefault(key, {})
        rejected[_token_id(token)] = None
        while len(rejected) > _MAX_REJECTED:  # the oldest are long expired
            del rejected[next(iter(rejected))]

    def _flight(
        self, source: TokenSource, force_refresh: bool
    ) -> concurrent.futures.Future[CachedToken]:
        # A forced refresh replaces the tokens this caller can see now, but they stay usable by
        # everyone else until the new one lands: a failed force must not strand a good token.
        avoid = frozenset(
            _token_id(token)
            for token in (self._held(source.key), source.seed)
            if force_refresh and token is not None
        )
        with self._guard:
            future = self._inflight.get(source.key)
            if future is None:
                future = self._runner.submit(self._refresh(source, force_refresh, avoid))
                self._inflight[source.key] = future
                future.add_done_callback(lambda done: self._landed(source.key, done))
        return future

    def _landed(self, key: str, future: concurrent.futures.Future[CachedToken]) -> None:
        with self._guard:
            if self._inflight.get(key) is future:
                del self._inflight[key]

    async def _refresh(
        self, source: TokenSource, force: bool, avoid: frozenset[str]
    ) -> CachedToken:
        # Re-check first: a caller may have missed just before the previous flight landed.
        entry = self._entries.get(source.key)
        if entry is not None and self._usable(
            source.key, entry.token, source.leeway_seconds, avoid
        ):
            return CachedToken(entry.token, entry.due_at, "memory")
        try:
            async with source.store.session() as session:
                return await self._refresh_shared(source, session, force, avoid)
        except TokenStoreUnavailableError as exc:
            logger.warning(
                "could not share the token of %s through the Prefect API (%s); refreshing in "
                "this process only. Check PREFECT_API_URL and PREFECT_API_KEY, or re-save the "
                "block if it was deleted.",
                source.label,
                exc,
            )
        return await self._refresh_shared(source, _MemorySession(), force, avoid)

    async def _refresh_shared(
        self,
        source: TokenSource,
        session: TokenStoreSession,
        force: bool,
        avoid: frozenset[str],
    ) -> CachedToken:
        stored = await session.read()
        if force and stored is not None:
            # The token the caller wants replaced may live only in the store; a different one
            # saved after this read is newer, and is taken.
            avoid |= {_token_id(stored)}
        if self._usable(source.key, stored, source.leeway_seconds, avoid):
            assert stored is not None
            return self._remember(source, stored, "store")
        lease = await self._acquire(source, session, avoid)
        if isinstance(lease, CachedToken):
            return lease
        try:
            stored = await session.read()
            if self._usable(source.key, stored, source.leeway_seconds, avoid):
                assert stored is not None
                return self._remember(source, stored, "store")
            held = _newest(stored, self._held(source.key), source.seed)
            renewal = asyncio.create_task(_keep_renewing(session, lease))
            try:
                token, grant_name = await self._request(source, held)
            finally:
                renewal.cancel()
            try:
                await session.write(token)
            except TokenStoreUnavailableError as exc:
                logger.warning(
                    "could not save the new token of %s (%s); it is kept in memory only.",
                    source.label,
                    exc,
                )
        finally:
            if lease is not None:
                await session.unlock(lease)
        entry = self._remember(source, token, grant_name)
        if source.on_issued is not None:
            await source.on_issued(token, grant_name)
        return entry

    async def _acquire(
        self, source: TokenSource, session: TokenStoreSession, avoid: frozenset[str]
    ) -> object | CachedToken | None:
        """Take the refresh lock, or return the token another holder saved meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait_seconds
        delay = 0.05
        while (lease := await session.try_lock()) is None:
            if loop.time() >= deadline:
                logger.warning(
                    "waited %.0f s for another process to refresh %s; refreshing here.",
                    self._lock_wait_seconds,
                    source.label,
                )
                return None
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.6, 2.0)
            stored = await session.read()
            if self._usable(source.key, stored, source.leeway_seconds, avoid):
                assert stored is not None
                return self._remember(source, stored, "store")
        return lease

    def _held(self, key: str) -> TelnyxToken | None:
        entry = self._entries.get(key)
        return entry.token if entry is not None else None

    async def _request(
        self, source: TokenSource, held: TelnyxToken | None
    ) -> tuple[TelnyxToken, Literal["refresh_token", "client_credentials"]]:
        http = self._runner.http_client()
        if held is not None and held.refresh_token is not None:
            grant: Grant = RefreshTokenGrant(held.refresh_token, scope=source.scope)
            try:
                token = await arequest_token(source.endpoint, grant, client=http, now=self._now)
                return token, "refresh_token"
            except InvalidGrantError:
                logger.info(
                    "refresh token of %s was rejected (invalid_grant); "
                    "requesting a new token with client_credentials.",
                    source.label,
                )
        grant = ClientCredentialsGrant(scope=source.scope)
        token = await arequest_token(source.endpoint, grant, client=http, now=self._now)
        return token, "client_credentials"

    def _after_fork(self) -> None:
        # A forked child inherits the parent's flights, whose loop thread did not survive the
        # fork: waiting on them would hang forever. Tokens already held stay valid.
        self._guard = threading.Lock()
        self._inflight = {}
        self._runner = _LoopThread()


def _newest(*tokens: TelnyxToken | None) -> TelnyxToken | None:
    """The most recently issued token that carries a refresh token (older ones may be rotated)."""
    candidates = [t for t in tokens if t is not None and t.refresh_token is not None]
    return max(candidates, key=lambda t: t.issued_at or t.expires_at, default=None)


async def _keep_renewing(session: TokenStoreSession, lease: object | None) -> None:
    """Renew the refresh lock while a slow token request (retries, Retry-After) is running."""
    if lease is None:
        return
    while True:
        await asyncio.sleep(RENEW_EVERY_SECONDS)
        await session.renew(lease)


_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for cache in list(_caches):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


default_cache = TokenCache()
"""The process-wide cache every block shares. Tests call `default_cache.clear()`."""


def describe(entry: CachedToken, now: datetime | None = None) -> str:
    """A log line about a token that never contains token material."""
    left = entry.token.seconds_left(now or utc_now())
    minutes = max(int(left // 60), 0)
    if entry.origin in ("refresh_token", "client_credentials"):
        return f"requested new token ({entry.origin}, expires in {minutes} min)"
    where: dict[str, Any] = {"memory": "cached", "block": "block's", "store": "shared"}
    return f"reused {where[entry.origin]} token (expires in {minutes} min)"
