"""Where tokens outlive this process: the store interface the cache asks, and the in-memory store.

A store hands out sessions; one session serves one refresh: read the persisted token, take the
cross-process refresh lock, write the new token, release the lock. Each orchestrator package
implements it (prefect-telnyx-oauth on a block document, the Airflow provider on a Variable);
`MemoryTokenStore` is the store of an unsaved block and of tests. This module imports no
orchestrator.

A session raises `TokenStoreError` (or its subclass `TokenStoreUnavailableError`) for anything that
goes wrong, never a raw `KeyError` or `ValidationError`; the cache then falls back to this process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from telnyx_oauth.errors import TokenStoreError, TokenStoreUnavailableError
from telnyx_oauth.models import TelnyxToken

__all__ = [
    "MemoryTokenStore",
    "TokenStore",
    "TokenStoreError",
    "TokenStoreSession",
    "TokenStoreUnavailableError",
]

logger = logging.getLogger("telnyx_oauth.cache")


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
    """Opens sessions on the shared store."""

    def session(self) -> AbstractAsyncContextManager[TokenStoreSession]:
        """Open a session for one refresh."""


class MemorySession:
    """A session that persists nothing and locks nothing: this process is all there is."""

    async def read(self) -> TelnyxToken | None:
        return None

    async def write(self, token: TelnyxToken) -> None:
        logger.debug("the new token is kept in this process's memory only")

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
        yield MemorySession()
