"""The background event loop that runs every refresh of one cache, in a daemon thread.

It starts on the first miss (a cache that only ever hits starts nothing), holds one keep-alive
`httpx.AsyncClient` for token requests, restarts in a forked child, and stops on `close()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

_CLOSE_SECONDS = 5.0


class RefreshLoop:
    """A private event loop in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._http: httpx.AsyncClient | None = None
        self._closed = False
        # Every submitted call not yet answered: close() ends those the loop never started.
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def http_client(self) -> httpx.AsyncClient:
        """One keep-alive client for token requests, bound to this loop (call it on the loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the loop; the caller's contextvars (Prefect settings, run) go with it.

        Raises:
            RuntimeError: the loop is closed (`closed` is then True).
        """
        # Scheduled under the lock: close() either sees this call among the pending ones, or
        # this call sees the loop closed. None is left scheduled on a loop that stopped.
        with self._lock:
            try:
                future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
            except BaseException:
                coro.close()
                raise
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def is_current(self) -> bool:
        """True when called from the loop's own thread."""
        return self._thread is threading.current_thread()

    def close(self) -> None:
        """Close the token client and stop the thread; a later `submit` raises RuntimeError."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            pending = list(self._pending)
        try:
            self._stop(loop, thread)
        finally:
            for future in pending:  # calls the stopped loop never answered end now, typed
                future.cancel()

    def _stop(
        self, loop: asyncio.AbstractEventLoop | None, thread: threading.Thread | None
    ) -> None:
        if loop is None or thread is None or not thread.is_alive():
            return
        # Pending refreshes end now: their waiters get a typed "closed" error, not a hang.
        cancelling = asyncio.run_coroutine_threadsafe(_cancel_pending(), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            cancelling.result(timeout=_CLOSE_SECONDS)
        if self._http is not None:
            closing = asyncio.run_coroutine_threadsafe(self._http.aclose(), loop)
            # A socket that will not close politely is dropped with the loop.
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError, OSError):
                closing.result(timeout=_CLOSE_SECONDS)
            self._http = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_CLOSE_SECONDS)
        if not thread.is_alive():
            loop.close()

    def after_fork(self) -> None:
        """Forget the parent's loop, thread and connections: none of them exist in a child."""
        self._lock = threading.Lock()
        self._loop = self._thread = None
        self._http = None
        self._pending = set()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        # Called with the lock held.
        if self._closed:
            msg = "this TokenCache is closed; create a new one"
            raise RuntimeError(msg)
        if self._loop is None or self._pid != os.getpid():
            self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
            self._http = None  # a forked child must not reuse the parent's connections
            self._pending = set()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="telnyx-oauth-refresh", daemon=True
            )
            self._thread.start()
        return self._loop


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
