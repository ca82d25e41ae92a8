"""In-memory token stores for tests (STYLE.md: the store interface has an in-memory side)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect_telnyx_oauth.models import TelnyxToken


class OneTokenStore:
    """A store holding one token, whose lock is always free; subclasses change `read`."""

    def __init__(self, token: TelnyxToken | None = None) -> None:
        self.token = token

    @asynccontextmanager
    async def session(self) -> AsyncIterator[OneTokenStore]:
        yield self

    async def read(self) -> TelnyxToken | None:
        return self.token

    async def write(self, token: TelnyxToken) -> None:
        self.token = token

    async def try_lock(self) -> object | None:
        return "lease"

    async def unlock(self, lease: object) -> None:
        return None

    async def renew(self, lease: object) -> None:
        return None
