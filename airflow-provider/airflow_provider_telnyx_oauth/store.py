"""The token store of a connection: one Airflow Variable, shared by every worker.

Tasks cannot write Connections, but every task reads and writes Variables through its supervisor;
a Variable is Fernet-encrypted at rest, and masked in logs because its key says "token". It holds
the same token fields as the Prefect block, with the same salted credential stamp
(`telnyx_oauth._identity`), so a token is only ever used with the credentials that got it.

Nothing a task can reach gives a lock across hosts. A store therefore says whether its lock is
exclusive:

- `FileLock` (`fcntl.flock` on a file in the temp directory) is exclusive when every worker runs
  on this host (LocalExecutor). The kernel drops it when its holder dies, so a killed task never
  blocks the next refresh.
- With no exclusive lock, two workers may refresh at once. A rotating refresh token spent twice
  would be refused for one of them (or revoke the family), so such a store never lets a refresh
  token out: `read()` returns stored tokens without one and `write()` never saves one, and every
  refresh is a `client_credentials` request. (`AirflowTokenCache.held` keeps the process's own
  copy from being spent too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from telnyx_oauth._cache_entry import fingerprint
from telnyx_oauth._identity import Parts, identity_key, stamp_matches
from telnyx_oauth.errors import TokenStoreError, TokenStoreUnavailableError
from telnyx_oauth.models import TelnyxToken

logger = logging.getLogger("airflow_provider_telnyx_oauth.store")

VARIABLE_PREFIX = "telnyx_oauth_token__"
"""Variables are named `telnyx_oauth_token__<conn_id>`: "token" in the key makes Airflow mask it."""

_NO_LOCK = object()  # the lease of a store with no lock: the refresh goes on unlocked


def variable_key(conn_id: str) -> str:
    """The Variable that holds the token of connection `conn_id`."""
    return f"{VARIABLE_PREFIX}{conn_id}"


class Variables(Protocol):
    """The two Variable calls the store needs (tests pass a dict-backed fake)."""

    def get(self, key: str) -> str | None:
        """The Variable's value, or None when it does not exist."""

    def set(self, key: str, value: str) -> None:
        """Create or overwrite the Variable."""


class AirflowVariables:
    """Airflow's Variables, through the Task SDK (only inside a running task)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value, description="Telnyx OAuth token cache (written by tasks).")


class FileLock:
    """A same-host refresh lock: `fcntl.flock` on one file per connection.

    The file is named after the connection's Variable, which is what the lock serialises: every
    task process computes the same name, however it was started (an Airflow 3 task imports the
    provider after its supervisor forked it, so nothing drawn at import could be shared), and the
    name is a digest of the connection id alone, never of a secret. A lock keyed by more than the
    Variable would let two processes whose copies of the connection differ (edited between their
    starts) write the one Variable at once.

    Args:
        conn_id: The connection whose Variable the lock guards.
        directory: Where the lock file lives; the temp directory by default.
    """

    def __init__(self, conn_id: str, directory: str | None = None) -> None:
        folder = Path(directory or tempfile.gettempdir())
        self.path = folder / f"airflow-telnyx-oauth-{fingerprint(variable_key(conn_id))}.lock"

    def try_acquire(self) -> int | None:
        """Take the lock without waiting; return the open descriptor, or None if held."""
        # The name is predictable, so a link planted at it is refused rather than followed.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def release(fd: int) -> None:
        """Release a lock taken by `try_acquire`."""
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def token_to_value(token: TelnyxToken, stamp: str, *, with_refresh: bool) -> str:
    """The Variable's JSON: the block's token fields and the credential stamp."""
    refresh = token.refresh_token.get_secret_value() if token.refresh_token else None
    return json.dumps(
        {
            "access_token_credentials": stamp,
            "access_token": token.access_token.get_secret_value(),
            "access_token_expires_at": token.expires_at.isoformat(),
            "access_token_issued_at": token.issued_at.isoformat() if token.issued_at else None,
            "refresh_token": refresh if with_refresh else None,
        }
    )


def token_from_value(value: str | None, parts: Parts, key: str) -> TelnyxToken | None:
    """The token in a Variable's JSON, if there is one and it belongs to `parts`.

    Raises:
        TokenStoreError: the value is not the JSON this store writes.
    """
    if not value:
        return None
    try:
        data: dict[str, Any] = json.loads(value)
        stamp = data.get("access_token_credentials")
        if not data.get("access_token") or not isinstance(stamp, str):
            return None
        if not stamp_matches(stamp, parts, key):
            return None  # another client id, secret or scope: requested again, never used
        issued = data.get("access_token_issued_at")
        refresh = data.get("refresh_token")
        return TelnyxToken(
            access_token=SecretStr(data["access_token"]),
            expires_at=_aware(data["access_token_expires_at"]),
            issued_at=_aware(issued) if issued else None,
            refresh_token=SecretStr(refresh) if refresh else None,
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        msg = f"the stored token is malformed ({type(exc).__name__}); it is requested again"
        raise TokenStoreError(msg) from None


def _aware(value: Any) -> datetime:
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when


class VariableTokenStore:
    """Tokens of one connection, in one Airflow Variable.

    Args:
        conn_id: The connection id (names the Variable and the lock).
        parts: The connection's credential parts; a stored token of other parts is ignored.
        stamp: The credential stamp new tokens are saved with.
        variables: The Variables to use; Airflow's by default.
        lock: The same-host lock, or None when workers span hosts (the lock is not exclusive).
    """

    def __init__(
        self,
        conn_id: str,
        *,
        parts: Parts,
        stamp: str,
        variables: Variables | None = None,
        lock: FileLock | None = None,
    ) -> None:
        self.key = variable_key(conn_id)
        self.parts = parts
        self.identity = identity_key(parts)
        self.stamp = stamp
        self.variables = variables if variables is not None else AirflowVariables()
        self.lock = lock

    @property
    def exclusive(self) -> bool:
        """True when at most one process at a time can hold the refresh lock."""
        return self.lock is not None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_VariableSession]:
        yield _VariableSession(self)


class _VariableSession:
    def __init__(self, store: VariableTokenStore) -> None:
        self._store = store

    async def read(self) -> TelnyxToken | None:
        store = self._store
        value = await _call(store.variables.get, store.key)
        try:
            token = token_from_value(value, store.parts, store.identity)
        except TokenStoreError as exc:
            logger.warning("Variable %r: %s.", store.key, exc)
            return None
        if token is not None and not store.exclusive and token.refresh_token is not None:
            token = token.model_copy(update={"refresh_token": None})
        return token

    async def write(self, token: TelnyxToken) -> None:
        store = self._store
        value = token_to_value(token, store.stamp, with_refresh=store.exclusive)
        await _call(store.variables.set, store.key, value)

    async def try_lock(self) -> object | None:
        lock = self._store.lock
        if lock is None:
            return _NO_LOCK
        try:
            return lock.try_acquire()
        except OSError as exc:
            msg = f"cannot open the lock file {lock.path} ({type(exc).__name__})"
            raise TokenStoreUnavailableError(msg) from None

    async def unlock(self, lease: object) -> None:
        if isinstance(lease, int):
            FileLock.release(lease)

    async def renew(self, lease: object) -> None:
        return None  # a file lock has no lease: the kernel drops it when its holder exits


async def _call(function: Any, *args: str) -> Any:
    """Run a Variable call off the refresh loop; any failure becomes the store's error."""
    try:
        return await asyncio.to_thread(function, *args)
    except Exception as exc:
        msg = f"the Airflow Variable could not be used ({type(exc).__name__})"
        raise TokenStoreUnavailableError(msg) from None
