"""In-memory token stores for tests (STYLE.md: the store interface has an in-memory side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telnyx_oauth.models import TelnyxToken


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


class SlowStore(OneTokenStore):
    """A store that takes real time, as a Prefect API under load does: each read takes
    `read_seconds`, each write `write_seconds`; with `locked`, another process holds its lock."""

    def __init__(
        self,
        token: TelnyxToken | None = None,
        *,
        read_seconds: float = 0.1,
        write_seconds: float = 0.1,
        locked: bool = False,
    ) -> None:
        super().__init__(token)
        self.read_seconds = read_seconds
        self.write_seconds = write_seconds
        self.locked = locked

    async def read(self) -> TelnyxToken | None:
        await asyncio.sleep(self.read_seconds)
        return self.token

    async def write(self, token: TelnyxToken) -> None:
        await asyncio.sleep(self.write_seconds)
        self.token = token

    async def try_lock(self) -> object | None:
        return None if self.locked else "lease"
