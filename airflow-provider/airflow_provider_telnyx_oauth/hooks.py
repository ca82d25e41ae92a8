"""`TelnyxOAuthHook`: a valid Telnyx bearer token for Airflow tasks, over the shared token core.

The hook turns a `telnyx_oauth` connection into the core's `TokenSource` and asks the core's
`TokenCache`: one token per connection per process, refreshed once for every caller, and shared
with every other task through the connection's Variable (`store.py`). Every token it sees is
registered with Airflow's secrets masker before any log line could show it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from airflow.sdk import BaseHook

from airflow_provider_telnyx_oauth import CONN_TYPE
from airflow_provider_telnyx_oauth._connection import TelnyxConnection
from airflow_provider_telnyx_oauth.store import FileLock, Variables, VariableTokenStore
from telnyx_oauth._cache_entry import fingerprint
from telnyx_oauth._identity import credential_stamp, identity_key
from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_cache import TokenCache, TokenSource
from telnyx_oauth.token_store import MemoryTokenStore, TokenStore

logger = logging.getLogger("airflow_provider_telnyx_oauth")

_MASKED_MAX = 1024
_masked: dict[str, None] = {}
_masked_lock = threading.Lock()
_warned_outside: set[str] = set()


class AirflowTokenCache(TokenCache):
    """The core cache, which never spends a refresh token of a connection with no exclusive lock.

    The store of such a connection hands out no refresh token (`store.py`); this keeps the
    process's own copy of one from being spent as well, so every refresh is client_credentials.
    """

    def __init__(self) -> None:
        super().__init__()
        self.unlocked_keys: set[str] = set()

    def held(self, key: str) -> TelnyxToken | None:
        token = super().held(key)
        if token is not None and key in self.unlocked_keys and token.refresh_token is not None:
            return token.model_copy(update={"refresh_token": None})
        return token


provider_cache = AirflowTokenCache()
"""The process-wide cache of every hook. Tests call `provider_cache.clear()`."""


def in_task() -> bool:
    """True inside a running Airflow task (the Task SDK's supervisor is there to talk to)."""
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def mask_token(token: TelnyxToken) -> None:
    """Register the access and refresh token with Airflow's secrets masker (once per token)."""
    from airflow.sdk.log import mask_secret

    for secret in (token.access_token, token.refresh_token):
        if secret is None:
            continue
        value = secret.get_secret_value()
        token_id = fingerprint(value)
        with _masked_lock:
            if token_id in _masked:
                continue
            _masked[token_id] = None
            while len(_masked) > _MASKED_MAX:
                del _masked[next(iter(_masked))]
        mask_secret(value)


def _file_lock_is_exclusive(mode: str) -> bool:
    if mode != "auto":
        return mode == "file"
    from airflow.configuration import conf

    executors = [name.strip() for name in conf.get("core", "executor").split(",") if name.strip()]
    # Every worker of LocalExecutor is a process of this host; anything else may span hosts.
    return bool(executors) and all(name.rsplit(".", 1)[-1] == "LocalExecutor" for name in executors)


class TelnyxOAuthHook(BaseHook):
    """A valid Telnyx OAuth bearer token and an httpx client, from a `telnyx_oauth` connection.

    Args:
        telnyx_conn_id: The connection: login = client id, password = client secret,
            host = base URL, extras scope, token_url, auth_method, body_format, token_lock.
        leeway_seconds: Refresh this long before expiry (clamped to half the token's life).
        variables: Where tokens are shared; Airflow's Variables inside a task by default.
        lock_directory: Where the same-host lock file lives; the temp directory by default.
        cache: The token cache; the process-wide one by default.

    Example:
        ```python
        @task
        def balance() -> str:
            with TelnyxOAuthHook("telnyx_default").get_conn() as client:
                return client.get("/balance").json()["data"]["balance"]
        ```
    """

    conn_name_attr = "telnyx_conn_id"
    default_conn_name = "telnyx_default"
    conn_type = CONN_TYPE
    hook_name = "Telnyx OAuth"

    def __init__(
        self,
        telnyx_conn_id: str = default_conn_name,
        *,
        leeway_seconds: float = 60.0,
        variables: Variables | None = None,
        lock_directory: str | None = None,
        cache: AirflowTokenCache = provider_cache,
    ) -> None:
        super().__init__()
        self.telnyx_conn_id = telnyx_conn_id
        self.leeway_seconds = leeway_seconds
        self._variables = variables
        self._lock_directory = lock_directory
        self._cache = cache
        self._source: TokenSource | None = None
        self._connection: TelnyxConnection | None = None

    @property
    def connection(self) -> TelnyxConnection:
        """The checked connection (read once per hook).

        Raises:
            ConfigurationError: a field is missing or invalid.
        """
        if self._connection is None:
            conn = self.get_connection(self.telnyx_conn_id)
            self._connection = TelnyxConnection.from_connection(conn)
        return self._connection

    def token_source(self) -> TokenSource:
        """The core's `TokenSource` of this connection (built once per hook)."""
        if self._source is None:
            self._source = self._build_source()
        return self._source

    def _build_source(self) -> TokenSource:
        conn = self.connection
        parts = conn.parts()
        key = identity_key(parts)
        stamp = credential_stamp(parts, key=key)
        store: TokenStore
        cache_key = f"airflow:{conn.conn_id}:{key}"
        if self._variables is None and not in_task():
            if conn.conn_id not in _warned_outside:
                _warned_outside.add(conn.conn_id)
                logger.warning(
                    "Connection %r is used outside an Airflow task: its token is kept in this "
                    "process's memory only, not shared through its Variable.",
                    conn.conn_id,
                )
            store = MemoryTokenStore()
        else:
            exclusive = _file_lock_is_exclusive(conn.token_lock)
            lock = FileLock(conn.conn_id, self._lock_directory) if exclusive else None
            store = VariableTokenStore(
                conn.conn_id, parts=parts, stamp=stamp, variables=self._variables, lock=lock
            )
            if not exclusive:
                self._cache.unlocked_keys.add(cache_key)
        label = f"connection {conn.conn_id!r}"
        return TokenSource(
            key=cache_key,
            endpoint=conn.endpoint(),
            label=label,
            scope=conn.scope,
            leeway_seconds=self.leeway_seconds,
            store=_MaskingStore(store),
            stamp=stamp,
            on_issued=_on_issued,
            reconnect_hint=f"Check the client id and secret of {label}.",
        )

    # -- tokens ----------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False) -> TelnyxToken:
        """Return a valid token (masked in task logs), refreshing it at most once per host.

        Raises:
            ConfigurationError: the connection is invalid.
            TokenError: no token could be obtained.
        """
        source = self.token_source()
        entry = None if force_refresh else self._cache.hit(source)
        entry = entry or self._cache.get(source, force_refresh=force_refresh)
        mask_token(entry.token)
        return entry.token

    async def aget_token(self, force_refresh: bool = False) -> TelnyxToken:
        """Async twin of `get_token`; never blocks the event loop."""
        source = self.token_source()
        entry = None if force_refresh else self._cache.hit(source)
        entry = entry or await self._cache.aget(source, force_refresh=force_refresh)
        mask_token(entry.token)
        return entry.token

    def get_auth(self) -> TelnyxOAuth:
        """An `httpx.Auth` sending a valid bearer token, refreshing once on a 401."""
        return TelnyxOAuth(self.token_source, self._cache)

    def get_conn(self, **httpx_kwargs: Any) -> httpx.Client:
        """An `httpx.Client` with the connection's base URL and bearer auth already set."""
        httpx_kwargs.setdefault("base_url", self.connection.base_url)
        return httpx.Client(auth=self.get_auth(), **httpx_kwargs)

    def aget_conn(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """Async twin of `get_conn`."""
        httpx_kwargs.setdefault("base_url", self.connection.base_url)
        return httpx.AsyncClient(auth=self.get_auth(), **httpx_kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: ask for a token."""
        try:
            self.get_token()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, "Telnyx issued a token for this connection."


async def _on_issued(token: TelnyxToken, grant: str) -> None:
    mask_token(token)
    logger.info("Telnyx issued a new token (%s).", grant)


class _MaskingStore:
    """Wraps a store so a token read from it is masked before anything can log it."""

    def __init__(self, inner: TokenStore) -> None:
        self.inner = inner

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_MaskingSession]:
        async with self.inner.session() as session:
            yield _MaskingSession(session)


class _MaskingSession:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def read(self) -> TelnyxToken | None:
        token: TelnyxToken | None = await self._inner.read()
        if token is not None:
            mask_token(token)
        return token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
