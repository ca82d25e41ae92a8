"""Ours, Authlib and httpx-auth, each set up the way its documentation shows for client credentials.

All three authenticate to the token endpoint with HTTP Basic (`client_secret_basic`: our default,
Authlib's default when a secret is given, and what httpx-auth's `OAuth2ClientCredentials` always
does) and call `GET /balance` on the emulator.

- ours: `TelnyxOAuthCredentials(...)` then `get_client()` / `get_async_client()`.
- Authlib: `OAuth2Client(client_id, client_secret, token_endpoint=...)` (or `AsyncOAuth2Client`),
  `fetch_token(grant_type="client_credentials")`, then `client.get(...)`. Authlib keeps the token
  on the client object; there is no cache shared between clients.
- httpx-auth: `httpx.Client(auth=OAuth2ClientCredentials(token_url, client_id, client_secret))`.
  Its token cache is process-global (`OAuth2.token_cache`, keyed by a hash of the token URL,
  client id, secret and parameters), so separate auth objects with the same settings share it.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from _harness import AsyncCaller, Caller
from authlib.deprecate import AuthlibDeprecationWarning
from httpx_auth import OAuth2, OAuth2ClientCredentials

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.token_cache import default_cache

# Authlib 1.9 prefers the `httpx2` package and warns once at import when it falls back to `httpx`
# (authlib/integrations/httpx_client/_compat.py). The warning is not what is measured.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

OURS = "ours"
AUTHLIB = "Authlib"
HTTPX_AUTH = "httpx-auth"


@dataclass(frozen=True)
class Target:
    """Where the callers go: the emulator's URLs and its registered client."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str

    @classmethod
    def of(cls, emulator: TelnyxEmulator) -> Target:
        return cls(
            emulator.base_url, emulator.token_url, emulator.client_id, emulator.client_secret
        )


def reset(emulator: TelnyxEmulator) -> None:
    """Forget every cached token (ours and httpx-auth's globals) and zero the emulator counters."""
    default_cache.clear()
    OAuth2.token_cache.clear()
    emulator.reset_counters()


# -- ours ------------------------------------------------------------------------------------------


def ours_credentials(t: Target, **fields: Any) -> TelnyxOAuthCredentials:
    return TelnyxOAuthCredentials(
        client_id=t.client_id, client_secret=t.client_secret, base_url=t.base_url, **fields
    )


def ours_caller(t: Target) -> Caller:
    """A task's own block copy and client, as `TelnyxOAuthCredentials.load()` in each task gives."""
    client = ours_credentials(t).get_client()
    return Caller(lambda: client.get("/balance").raise_for_status(), client.close)


async def ours_async_caller(t: Target) -> AsyncCaller:
    client = ours_credentials(t).get_async_client()

    async def call() -> None:
        (await client.get("/balance")).raise_for_status()

    return AsyncCaller(call, client.aclose)


# -- Authlib ---------------------------------------------------------------------------------------


def authlib_client(t: Target, **kwargs: Any) -> OAuth2Client:
    return OAuth2Client(
        t.client_id, t.client_secret, token_endpoint=t.token_url, base_url=t.base_url, **kwargs
    )


def authlib_async_client(t: Target, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        t.client_id, t.client_secret, token_endpoint=t.token_url, base_url=t.base_url, **kwargs
    )


def authlib_caller(t: Target) -> Caller:
    """A task's own `OAuth2Client`: fetch a token, then call (Authlib has no shared cache)."""
    client = authlib_client(t)

    def call() -> None:
        client.fetch_token(grant_type="client_credentials")
        client.get("/balance").raise_for_status()

    return Caller(call, client.close)


async def authlib_async_caller(t: Target) -> AsyncCaller:
    client = authlib_async_client(t)

    async def call() -> None:
        await client.fetch_token(grant_type="client_credentials")
        (await client.get("/balance")).raise_for_status()

    return AsyncCaller(call, client.aclose)


class AuthlibTokenStore:
    """Where an Authlib user keeps the token between clients: load it into `token=`, save it
    from the `update_token` hook (Authlib's documented pattern for refreshed tokens)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.token: dict[str, Any] | None = None
        self.saves = 0

    def save(self, token: Any, refresh_token: Any = None, access_token: Any = None) -> None:
        with self._lock:
            self.token = dict(token)
            self.saves += 1

    async def asave(self, token: Any, refresh_token: Any = None, access_token: Any = None) -> None:
        self.save(token)

    def load(self) -> dict[str, Any]:
        with self._lock:
            assert self.token is not None
            return dict(self.token)


# -- httpx-auth ------------------------------------------------------------------------------------


def httpx_auth_auth(t: Target, **kwargs: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        t.token_url, client_id=t.client_id, client_secret=t.client_secret, **kwargs
    )


def httpx_auth_caller(
    t: Target, auth: OAuth2ClientCredentials | None = None, **kwargs: Any
) -> Caller:
    """A task's own client; its own auth object (built with `kwargs`) unless `auth` is given."""
    client = httpx.Client(auth=auth or httpx_auth_auth(t, **kwargs), base_url=t.base_url)
    return Caller(lambda: client.get("/balance").raise_for_status(), client.close)


async def httpx_auth_async_caller(t: Target) -> AsyncCaller:
    client = httpx.AsyncClient(auth=httpx_auth_auth(t), base_url=t.base_url)

    async def call() -> None:
        (await client.get("/balance")).raise_for_status()

    return AsyncCaller(call, client.aclose)
