"""What the token cache holds and is given: `TokenSource` (one credential identity) and
`CachedToken` (a token with its ready-made header and monotonic expiry)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_client import TokenEndpointConfig
from telnyx_oauth.token_store import MemoryTokenStore, TokenStore

TokenOrigin = Literal[
    "memory", "block", "store", "refresh_token", "client_credentials", "authorization_code"
]
"""Where a token came from: this process's cache, the caller's own fields, the shared store, or a
new request with the named grant."""

DEFAULT_DEADLINE_SECONDS = 120.0
"""The longest one token call takes by default. Its lock-wait share (this less one attempt, ~110 s)
outlasts a killed lock holder (Prefect's 60 s minimum lease plus its 15 s reclaim loop and the
polling: 70-77 s measured), so a crash delays a refresh but does not multiply it."""

IssuedHook = Callable[[TelnyxToken, str], Awaitable[None]]
FailedHook = Callable[[TelnyxOAuthError], Awaitable[None]]
"""Told once per failed refresh (not per waiting caller), with the error the callers get."""


@dataclass(frozen=True, eq=False)
class TokenSource:
    """Everything the cache needs to get a token for one credential identity.

    `stamp` is the credential stamp that tokens of this source are saved with (see
    `_identity.py`); it travels with the token, so a token is always stamped with the credentials
    that produced it, even if the block was edited meanwhile.
    """

    key: str
    endpoint: TokenEndpointConfig
    label: str
    scope: str | None = None
    leeway_seconds: float = 60.0
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    store: TokenStore = field(default_factory=MemoryTokenStore)
    seed: TelnyxToken | None = None
    stamp: str | None = field(default=None, repr=False)
    on_issued: IssuedHook | None = None
    on_failed: FailedHook | None = None
    discover_from: str | None = None
    """A base URL whose RFC 8414 metadata names the token endpoint (when none was configured)."""
    user_grant: bool = False
    """Tokens act for a user who authorized the client: refresh only, never client_credentials."""
    reconnect_hint: str = "Authorize the client again to get a new refresh token."


class CachedToken:
    """A token in the cache, with its `Bearer` header built once and its monotonic expiry."""

    __slots__ = (
        "expires_mono",
        "half_life",
        "header",
        "origin",
        "refreshing",
        "retry_at",
        "stamp",
        "token",
        "used",
    )

    def __init__(
        self, token: TelnyxToken, origin: TokenOrigin, stamp: str | None, expires_mono: float
    ) -> None:
        self.token = token
        self.origin = origin
        self.stamp = stamp
        self.header = f"Bearer {token.access_token.get_secret_value()}"
        self.expires_mono = expires_mono
        lifetime = (token.expires_at - token.issued_at).total_seconds() if token.issued_at else 0
        # The leeway is clamped to half the lifetime, so a short-lived token is used for half its
        # life instead of being refreshed on every call. No issue time: no clamp.
        self.half_life = max(lifetime, 0.0) / 2 if token.issued_at else float("inf")
        self.used = 0.0
        self.refreshing = False
        self.retry_at = 0.0

    def __repr__(self) -> str:
        return f"CachedToken(origin={self.origin!r}, expires_at={self.token.expires_at!r})"


def fingerprint(*parts: str | None) -> str:
    """A one-way digest of non-secret parts, safe to use as a key or to log."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256((part or "").encode()).digest())
    return digest.hexdigest()[:32]


def describe(entry: CachedToken, *, reused: bool = False, now: datetime | None = None) -> str:
    """A log line about a token that never contains token material.

    Args:
        entry: The token handed out.
        reused: It was already in this process's cache when asked for.
        now: The clock's reading.
    """
    left = entry.token.seconds_left(now or utc_now())
    minutes = max(int(left // 60), 0)
    origin = "memory" if reused else entry.origin
    if origin in ("refresh_token", "client_credentials", "authorization_code"):
        return f"requested new token ({origin}, expires in {minutes} min)"
    where: dict[str, Any] = {"memory": "cached", "block": "block's", "store": "shared"}
    return f"reused {where[origin]} token (expires in {minutes} min)"
