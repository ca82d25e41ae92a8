"""One token per credential identity per process, refreshed once for every caller.

The warm path (`TokenCache.hit`) is a dictionary look-up, one monotonic clock read and one
comparison; it builds nothing. In the first half of a caller's refresh leeway the current token is
still handed out while one background refresh runs; below half the leeway, and for a missing or
expired token, callers wait for the refresh (within their deadline). So a token handed out always
has at least half the (clamped) leeway left.

Misses and refreshes run on one background event loop per cache (`_refresh_loop.py`). Every
flight is created, joined and removed on that loop's thread, so no lock is ever held while a
flight starts or ends: threads wait on a `concurrent.futures.Future`, asyncio tasks await it
without blocking their loop, and every caller of one identity shares one answer. A refresh goes
through the identity's `TokenStore` (`_shared_refresh.py`). This module imports no orchestrator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx

from telnyx_oauth import _shared_refresh
from telnyx_oauth._cache_entry import (
    DEFAULT_DEADLINE_SECONDS,
    CachedToken,
    IssuedHook,
    TokenOrigin,
    TokenSource,
    describe,
    fingerprint,
)
from telnyx_oauth._refresh_loop import RefreshLoop
from telnyx_oauth.errors import TelnyxOAuthError, TokenEndpointUnavailableError
from telnyx_oauth.models import TelnyxToken, utc_now

logger = logging.getLogger("telnyx_oauth.cache")

__all__ = [
    "DEFAULT_DEADLINE_SECONDS",
    "CachedToken",
    "IssuedHook",
    "TokenCache",
    "TokenOrigin",
    "TokenSource",
    "default_cache",
    "describe",
    "fingerprint",
]

MAX_ENTRIES = 256
"""Identities kept per cache; expired entries go first, then the least recently used."""

_RETRY_AHEAD_SECONDS = 2.0  # after a failed background refresh, wait this long at least

T = TypeVar("T")


@dataclass(eq=False)
class _Flight:
    task: asyncio.Future[CachedToken]
    forced: bool
    avoid: frozenset[str]


class TokenCache:
    """Process-wide token cache keyed by credential identity.

    Args:
        now: The clock; tests inject one instead of sleeping. With the default, the warm path
            reads `time.monotonic()`; with an injected clock, `now().timestamp()`.
        max_entries: Identities kept; expired entries are evicted first, then the least used.
    """

    def __init__(
        self, *, now: Callable[[], datetime] = utc_now, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.now = now
        self._mono: Callable[[], float] = (
            time.monotonic if now is utc_now else (lambda: now().timestamp())
        )
        self._max_entries = max_entries
        self._slots: dict[str, CachedToken] = {}
        # Invalidated tokens per key, with the monotonic instant each expires: kept until then
        # (an expired token is never handed out anyway), whatever happens to the key's entry.
        self._rejected: dict[str, dict[str, float]] = {}
        # The last invalidated token per key: its access token is dead, but its refresh token may
        # still be the newest one this process holds.
        self._retired: dict[str, TelnyxToken] = {}
        self._flights: dict[str, _Flight] = {}  # touched on the loop thread only
        # Refreshes whose waiters went at the deadline and that still save and release.
        self._tails: set[asyncio.Future[CachedToken]] = set()
        # Per key, the id of a token the API refused although it had just been fetched
        # (TelnyxOAuth): a 401 with it is answered at once, never with yet another token request.
        self.refused: dict[str, str] = {}
        self._guard = threading.Lock()  # slot writes; never held while calling out
        self._runner = RefreshLoop()
        _caches.add(self)

    # -- the warm path -------------------------------------------------------------------------

    def hit(self, source: TokenSource) -> CachedToken | None:
        """The cached token for `source` if it may be used now; no I/O, no waiting.

        In the first half of the caller's (clamped) leeway the token is still returned, and one
        background refresh starts if none is running; below half of it, None: callers wait.
        """
        slot = self._slots.get(source.key)
        if slot is None:
            return self._from_seed(source)
        now = self._mono()
        leeway = source.leeway_seconds
        half = slot.half_life
        ahead = leeway if leeway < half else half
        if now < slot.expires_mono - ahead:
            slot.used = now
            return slot
        if now < slot.expires_mono - ahead / 2:
            slot.used = now
            if not slot.refreshing and now >= slot.retry_at:
                self._refresh_ahead(source, slot)
            return slot
        return None

    def get(self, source: TokenSource, *, force_refresh: bool = False) -> CachedToken:
        """Return a valid token, refreshing it at most once across all concurrent callers."""
        if not force_refresh and (slot := self.hit(source)) is not None:
            return slot
        if self._runner.is_current():
            msg = "TokenCache.get() cannot be called from a token-store hook; use aget()."
            raise RuntimeError(msg)
        future = self._submit(self._obtain(source, force_refresh, self._avoid(source)))
        try:
            return future.result(timeout=source.deadline_seconds + 5)
        except concurrent.futures.TimeoutError:
            raise _overdue(source) from None
        except concurrent.futures.CancelledError:
            raise _closed() from None

    async def aget(self, source: TokenSource, *, force_refresh: bool = False) -> CachedToken:
        """Async twin of `get`: waits for the shared refresh without blocking the event loop."""
        if not force_refresh and (slot := self.hit(source)) is not None:
            return slot
        future = self._submit(self._obtain(source, force_refresh, self._avoid(source)))
        # shield: one caller's cancellation must not cancel the refresh the others wait on.
        waiting = asyncio.shield(asyncio.wrap_future(future))
        try:
            return await asyncio.wait_for(waiting, source.deadline_seconds + 5)
        except asyncio.TimeoutError:
            raise _overdue(source) from None
        except asyncio.CancelledError:
            if future.cancelled():  # the cache was closed under us, not this caller cancelled
                raise _closed() from None
            raise

    # -- invalidation and lifetime -------------------------------------------------------------

    def invalidate(self, key: str, token: TelnyxToken | None = None) -> None:
        """Forget the token for `key`, or only `token` if given (a newer one is kept).

        An invalidated token is never handed out again by this process, even when the store or
        a block's own fields still hold it.
        """
        with self._guard:
            slot = self._slots.get(key)
            target = token if token is not None else (slot.token if slot else None)
            if target is None:
                return
            target_id = self.token_id(target)
            now = self._mono()
            expires = now + (target.expires_at - self.now()).total_seconds()
            self._rejected.setdefault(key, {})[target_id] = expires
            if slot is not None and self.token_id(slot.token) == target_id:
                del self._slots[key]
                self._retired[key] = slot.token
            self._prune_rejected(now)
            while len(self._retired) > self._max_entries:  # keys no entry holds any more
                del self._retired[next(iter(self._retired))]

    def clear(self) -> None:
        """Forget every token (tests use this to simulate a new process)."""
        with self._guard:
            self._slots.clear()
            self._rejected.clear()
            self._retired.clear()
            self.refused.clear()

    def close(self) -> None:
        """Stop the background loop and close its connections. The process-wide cache is never
        closed; close the caches you create yourself (or use them as context managers)."""
        self._runner.close()

    def __enter__(self) -> TokenCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what `_shared_refresh` asks of the cache ----------------------------------------------

    @staticmethod
    def token_id(token: TelnyxToken) -> str:
        """A one-way id of a token, to compare tokens without keeping them."""
        return fingerprint(token.access_token.get_secret_value())

    def usable(self, source: TokenSource, token: TelnyxToken, avoid: frozenset[str]) -> bool:
        """True if `token` may be handed to callers of `source` without a refresh."""
        if self._avoided(source, token, avoid):
            return False
        return token.is_fresh(self.now(), source.leeway_seconds)

    def servable(self, source: TokenSource, token: TelnyxToken, avoid: frozenset[str]) -> bool:
        """True if `token` still has the leeway floor left (half the clamped leeway), so `hit`
        hands it out (a refresh ahead may be due): weaker than `usable`."""
        if self._avoided(source, token, avoid):
            return False
        due = token.refresh_due_at(source.leeway_seconds)
        return self.now() < due + (token.expires_at - due) / 2

    def _avoided(self, source: TokenSource, token: TelnyxToken, avoid: frozenset[str]) -> bool:
        token_id = self.token_id(token)
        return token_id in avoid or token_id in self._rejected.get(source.key, ())

    def land(self, source: TokenSource, token: TelnyxToken, origin: TokenOrigin) -> CachedToken:
        """Keep `token` as the current one of `source` and return its entry."""
        left = (token.expires_at - self.now()).total_seconds()
        now = self._mono()
        slot = CachedToken(token, origin, source.stamp, now + left)
        slot.used = now  # the newest entry is the most recently used, never the first evicted
        with self._guard:
            # A concurrent invalidate() of this very token wins: hand it out once, never cache it.
            if self.token_id(token) not in self._rejected.get(source.key, ()):
                self._slots[source.key] = slot
                if len(self._slots) > self._max_entries:
                    self._evict()
        return slot

    def held(self, key: str) -> TelnyxToken | None:
        """The token this process holds for `key`, valid or not (or the last one invalidated)."""
        slot = self._slots.get(key)
        return slot.token if slot is not None else self._retired.get(key)

    def http_client(self) -> httpx.AsyncClient:
        """The keep-alive client of token requests (on the loop thread)."""
        return self._runner.http_client()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float) -> T:
        """Run `coro` on the refresh loop and return its result: the sync shell of async code.

        Raises:
            TimeoutError: `coro` did not finish within `timeout` seconds (it is cancelled).
            TokenEndpointUnavailableError: the cache is closed, or was closed meanwhile.
        """
        if self._runner.is_current():
            coro.close()
            msg = "TokenCache.run() cannot be called from the refresh loop itself."
            raise RuntimeError(msg)
        future = self._submit(coro)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout:g} s") from None
        except concurrent.futures.CancelledError:
            raise _closed() from None

    # -- internals -----------------------------------------------------------------------------

    def refuse(self, key: str, token: TelnyxToken) -> None:
        """Remember that the API refused `token` although it had just been fetched."""
        self.refused.pop(key, None)
        self.refused[key] = self.token_id(token)
        while len(self.refused) > self._max_entries:
            del self.refused[next(iter(self.refused))]

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        try:
            return self._runner.submit(coro)
        except RuntimeError:
            if self._runner.closed:
                raise _closed() from None
            raise

    def _from_seed(self, source: TokenSource) -> CachedToken | None:
        seed = source.seed
        if seed is None or self.token_id(seed) in self._rejected.get(source.key, ()):
            return None
        if seed.seconds_left(self.now()) <= 0:
            return None
        self.land(source, seed, "block")
        slot = self._slots.get(source.key)
        return self.hit(source) if slot is not None else None

    def _avoid(self, source: TokenSource) -> frozenset[str]:
        # What a forced call replaces: the tokens this caller can see now. They stay usable by
        # everyone else until the new one lands: a failed force must not strand a good token.
        held = self.held(source.key)
        return frozenset(self.token_id(t) for t in (held, source.seed) if t is not None)

    def _refresh_ahead(self, source: TokenSource, slot: CachedToken) -> None:
        slot.refreshing = True
        try:
            self._runner.submit(self._ahead(source, slot))
        except RuntimeError:  # a closed cache: callers still get the valid token
            slot.refreshing = False

    async def _ahead(self, source: TokenSource, slot: CachedToken) -> None:
        try:
            await self._obtain(source, False, frozenset())
        except Exception as exc:
            left = slot.expires_mono - self._mono()
            slot.retry_at = self._mono() + max(_RETRY_AHEAD_SECONDS, left / 4)
            ahead = min(source.leeway_seconds, slot.half_life)
            logger.warning(
                "could not refresh the token of %s ahead of expiry (%s); the current token "
                "is handed out for %.0f s more, then callers wait for a new one.",
                source.label,
                type(exc).__name__,
                max(left - ahead / 2, 0.0),
            )
        finally:
            slot.refreshing = False

    async def _obtain(self, source: TokenSource, force: bool, avoid: frozenset[str]) -> CachedToken:
        """On the loop thread: re-check, then join the identity's flight or start one."""
        key = source.key
        loop = asyncio.get_running_loop()
        end = loop.time() + source.deadline_seconds  # one deadline for the whole call
        while True:
            slot = self._slots.get(key)
            if slot is not None and self.usable(source, slot.token, avoid if force else _NONE):
                return slot
            flight = self._flights.get(key)
            if flight is not None and force and not (flight.forced and avoid <= flight.avoid):
                # A forced call never takes the answer of a flight that may hand back the token
                # it replaces: it runs after that flight, then looks again, in what is left of
                # its own deadline.
                left = end - loop.time()
                if left <= 0:
                    raise _overdue(source)
                await asyncio.wait([flight.task], timeout=left)
                continue
            if flight is None:
                left = end - loop.time()
                if left <= 0:
                    raise _overdue(source)
                flight = self._launch(source, force, avoid, left)
            return await asyncio.shield(flight.task)

    def _launch(
        self, source: TokenSource, force: bool, avoid: frozenset[str], seconds: float
    ) -> _Flight:
        task = asyncio.ensure_future(self._bounded(source, force, avoid, seconds))
        flight = _Flight(task, force, avoid)
        self._flights[source.key] = flight

        def landed(_: object) -> None:
            if self._flights.get(source.key) is flight:
                del self._flights[source.key]

        task.add_done_callback(landed)
        return flight

    async def _bounded(
        self, source: TokenSource, force: bool, avoid: frozenset[str], seconds: float
    ) -> CachedToken:
        # The waiters go within the deadline, whatever a server does (a trickled answer defeats
        # per-read timeouts). Until a token arrives the whole flight ends with them, its lock
        # lease and renewals too. Once the server has issued a token it is in memory, and the
        # flight goes on saving it and releasing the lock (each step bounded on its own): a
        # token the server issued is never thrown away, its refresh token may be the only one.
        # The one-second grace lets the steps' own, more precise errors surface first.
        landed: asyncio.Future[CachedToken] = asyncio.get_running_loop().create_future()
        work = asyncio.ensure_future(
            _shared_refresh.refresh(self, source, force, avoid, seconds=seconds, landed=landed)
        )
        self._tails.add(work)
        work.add_done_callback(self._tail_done)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(work), seconds + 1.0)
            except asyncio.TimeoutError:
                if landed.done():
                    return landed.result()
                work.cancel()
                raise _overdue(source) from None
            except asyncio.CancelledError:
                work.cancel()  # the cache is closing
                raise
        except TelnyxOAuthError as exc:
            # One event per failed refresh, however many callers wait on it.
            await _shared_refresh.announce_failure(source, exc)
            raise

    def _tail_done(self, work: asyncio.Future[CachedToken]) -> None:
        self._tails.discard(work)
        if not work.cancelled() and work.exception() is not None:  # waiters have seen it
            logger.debug("a token refresh ended with %s", type(work.exception()).__name__)

    def _prune_rejected(self, now: float) -> None:
        # Called with the guard held. Expired tokens cannot be handed out: forget them.
        for key in list(self._rejected):
            live = {tid: end for tid, end in self._rejected[key].items() if end > now}
            if live:
                self._rejected[key] = live
            else:
                del self._rejected[key]

    def _evict(self) -> None:
        # Called with the guard held: no I/O, no callbacks.
        now = self._mono()
        expired = [key for key, slot in self._slots.items() if slot.expires_mono <= now]
        while len(self._slots) - len(expired) > self._max_entries:
            live = (key for key in self._slots if key not in expired)
            expired.append(min(live, key=lambda key: self._slots[key].used))
        for key in expired:
            del self._slots[key]
            self._retired.pop(key, None)
        self._prune_rejected(now)

    def _after_fork(self) -> None:
        # A forked child inherits the parent's flights, whose loop thread did not survive the
        # fork: waiting on them would hang forever. Tokens already held stay valid.
        self._guard = threading.Lock()
        self._flights = {}
        self._tails = set()
        self._runner.after_fork()
        for slot in self._slots.values():
            slot.refreshing = False


_NONE: frozenset[str] = frozenset()


def _closed() -> TokenEndpointUnavailableError:
    msg = "The token cache was closed while this call waited for its token; use an open cache."
    return TokenEndpointUnavailableError(msg, status_code=None, retry_after=None, attempts=0)


def _overdue(source: TokenSource) -> TokenEndpointUnavailableError:
    msg = (
        f"No token for {source.label} within token_deadline_seconds="
        f"{source.deadline_seconds:g}. The token endpoint or the shared store is too slow; try "
        "again later, or raise token_deadline_seconds."
    )
    return TokenEndpointUnavailableError(msg, status_code=None, retry_after=None, attempts=0)


_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for cache in list(_caches):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


default_cache = TokenCache()
"""The process-wide cache every block shares, alive for the life of the process. Tests call
`default_cache.clear()`."""
