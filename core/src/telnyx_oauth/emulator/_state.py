"""The emulator's state: clients, tokens, codes, messages and knobs (counters: `_counters.py`).

Route handlers run on the server's event loop thread while tests read counters and turn knobs from
their own threads, so every read and write goes through one `threading.Lock` (`EmulatorCounters`
has its own). Each method does its check-and-update under the lock in one step, so two concurrent
refreshes with the same rotating refresh token cannot both succeed.

Time: token and code expiry use `EmulatorState.now()`, which is `time.time()` plus an offset that
`advance_clock` moves forward, so tests can expire tokens and codes without sleeping.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import math
import secrets
import threading
import time
from typing import Any, Literal

from telnyx_oauth.emulator._counters import EmulatorCounters
from telnyx_oauth.emulator._detail_record_store import DetailRecordStore

DEFAULT_SCOPES = ("admin", "messaging", "numbers")
CODE_TTL_SECONDS = 600.0
RATE_LIMIT = 1000
RATE_LIMIT_WINDOW_SECONDS = 60

TokenKind = Literal["access_token", "refresh_token"]
BasicAuthDecoding = Literal["raw", "unquote", "unquote_plus"]
BASIC_AUTH_DECODINGS: tuple[BasicAuthDecoding, ...] = ("raw", "unquote", "unquote_plus")


class GrantError(Exception):
    """The authorization code or refresh token is not valid for this request (`invalid_grant`)."""


class ScopeError(Exception):
    """The requested scope is not allowed (`invalid_scope`)."""


class IdempotencyConflict(Exception):
    """An `Idempotency-Key` was reused with a different request."""


@dataclasses.dataclass(frozen=True)
class OAuthClient:
    """A registered OAuth client (confidential: it always has a secret)."""

    client_id: str
    client_secret: str
    allowed_scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]

    def secret_matches(self, secret: str) -> bool:
        """Compare `secret` with the client's secret in constant time."""
        return hmac.compare_digest(self.client_secret.encode(), secret.encode())

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, allowed_scopes={self.allowed_scopes!r})"


@dataclasses.dataclass(frozen=True)
class IssuedTokens:
    """What a successful token request returns."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    """What the server knows about a live token (for the API guard and introspection)."""

    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    kind: TokenKind


@dataclasses.dataclass
class _Token:
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    revoked: bool = False
    rotated: bool = False


@dataclasses.dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    expires_at: float
    used: bool = False
    issued: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Knobs:
    """Behaviour switches; every field can be changed at run time."""

    token_ttl_seconds: float = 3600.0
    refresh_token_ttl_seconds: float = 30 * 24 * 3600.0
    rotate_refresh_tokens: bool = False
    refresh_token_on_client_credentials: bool = False
    token_latency_seconds: float = 0.0
    fail_next_token_requests: int = 0
    fail_status: int = 503
    rate_limit_next_token_requests: int = 0
    retry_after: int = 1
    rate_limit_body: Literal["json", "html"] = "json"
    basic_auth_decoding: BasicAuthDecoding = "unquote_plus"
    exact_redirect_uris: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the first knob with an impossible value."""
        checks = [
            (self.token_ttl_seconds >= 0, "token_ttl_seconds must be >= 0"),
            (self.refresh_token_ttl_seconds >= 0, "refresh_token_ttl_seconds must be >= 0"),
            (self.token_latency_seconds >= 0, "token_latency_seconds must be >= 0"),
            (self.fail_next_token_requests >= 0, "fail_next_token_requests must be >= 0"),
            (400 <= self.fail_status <= 599, "fail_status must be an HTTP error status (400-599)"),
            (
                self.rate_limit_next_token_requests >= 0,
                "rate_limit_next_token_requests must be >= 0",
            ),
            (self.retry_after >= 0, "retry_after must be >= 0"),
            (self.rate_limit_body in ("json", "html"), "rate_limit_body must be 'json' or 'html'"),
            (
                self.basic_auth_decoding in BASIC_AUTH_DECODINGS,
                "basic_auth_decoding must be 'raw', 'unquote' or 'unquote_plus'",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class InjectedFailure:
    """A token request answered by a knob instead of the OAuth logic."""

    kind: Literal["fail", "rate_limit"]
    status: int
    retry_after: int = 0
    body: Literal["json", "html"] = "html"


def pkce_s256(verifier: str) -> str:
    """Return the RFC 7636 S256 challenge of `verifier`: base64url(sha256), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class EmulatorState:
    """Everything the routes read and change, behind one lock."""

    def __init__(self, *, knobs: Knobs, balance: str, phone_numbers: int) -> None:
        knobs.validate()
        self.counters = EmulatorCounters()
        self.balance = balance
        self.phone_numbers = phone_numbers
        self.organization_id = "0b6f5fd3-7e1f-4e8c-9a0e-3c0f2d1e7a55"
        self._lock = threading.Lock()
        self._knobs = knobs
        self._clock_offset = 0.0
        self._clients: dict[str, OAuthClient] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        self._issued_access: list[str] = []
        self._issued_refresh: list[str] = []
        self._messages: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._window_start = 0.0
        self._window_used = 0
        self._api_failures: list[tuple[int, int | None]] = []
        self.detail_records = DetailRecordStore()

    # clock and knobs

    def now(self) -> float:
        """Return the emulator's wall clock (`time.time()` plus the advanced offset)."""
        with self._lock:
            return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward, expiring tokens and codes without sleeping."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._clock_offset += seconds

    def fail_next_api_requests(self, n: int, status: int, retry_after: int | None) -> None:
        """Make the next `n` API requests answer `status` (see `TelnyxEmulator`)."""
        if n < 0 or not 400 <= status <= 599 or (retry_after is not None and retry_after < 0):
            raise ValueError("need n >= 0, an HTTP error status (400-599) and retry_after >= 0")
        with self._lock:
            self._api_failures = [(status, retry_after)] * n

    def take_api_failure(self) -> tuple[int, int | None] | None:
        """Consume one injected API failure: `(status, retry_after)`, or None."""
        with self._lock:
            return self._api_failures.pop(0) if self._api_failures else None

    def knobs(self) -> Knobs:
        """Return a copy of the current knobs."""
        with self._lock:
            return dataclasses.replace(self._knobs)

    def update_knobs(self, **changes: Any) -> Knobs:
        """Change some knobs at once; raise ValueError (changing nothing) on a bad value."""
        with self._lock:
            unknown = set(changes) - {f.name for f in dataclasses.fields(Knobs)}
            if unknown:
                raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
            updated = dataclasses.replace(self._knobs, **changes)
            updated.validate()
            self._knobs = updated
            return dataclasses.replace(updated)

    def take_injected_failure(self) -> InjectedFailure | None:
        """Consume one queued failure (server errors first, then rate limits), if any."""
        with self._lock:
            knobs = self._knobs
            if knobs.fail_next_token_requests > 0:
                knobs.fail_next_token_requests -= 1
                return InjectedFailure("fail", knobs.fail_status)
            if knobs.rate_limit_next_token_requests > 0:
                knobs.rate_limit_next_token_requests -= 1
                return InjectedFailure("rate_limit", 429, knobs.retry_after, knobs.rate_limit_body)
            return None

    def rate_limit_headers(self) -> dict[str, str]:
        """Count one request in the current window and return the `x-ratelimit-*` headers.

        The emulator reports a budget of `RATE_LIMIT` requests per minute but never enforces it:
        only the `rate_limit_next_token_requests` knob produces 429s.
        """
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= RATE_LIMIT_WINDOW_SECONDS:
                self._window_start, self._window_used = now, 0
            self._window_used += 1
            remaining = max(0, RATE_LIMIT - self._window_used)
            reset = max(1, math.ceil(self._window_start + RATE_LIMIT_WINDOW_SECONDS - now))
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        }

    # clients

    def add_client(self, client: OAuthClient) -> None:
        """Register `client`, replacing one with the same id."""
        with self._lock:
            self._clients[client.client_id] = client

    def get_client(self, client_id: str) -> OAuthClient | None:
        """Return the registered client, or None."""
        with self._lock:
            return self._clients.get(client_id)

    def default_scopes(self) -> tuple[str, ...]:
        """Return every scope any client may request (for the server metadata)."""
        with self._lock:
            scopes = {s for c in self._clients.values() for s in c.allowed_scopes}
        return tuple(sorted(scopes))

    # tokens

    def _issue_locked(
        self,
        client_id: str,
        scope: str,
        *,
        new_refresh_scope: str | None = None,
        keep_refresh: str | None = None,
        code: _Code | None = None,
    ) -> IssuedTokens:
        """Issue an access token, plus a new refresh token when `new_refresh_scope` is given."""
        now = time.time() + self._clock_offset
        ttl = self._knobs.token_ttl_seconds
        access = secrets.token_urlsafe(32)
        self._access[access] = _Token(client_id, scope, now, now + ttl)
        self._issued_access.append(access)
        refresh_token = keep_refresh
        if new_refresh_scope is not None:
            refresh_token = secrets.token_urlsafe(48)
            expires_at = now + self._knobs.refresh_token_ttl_seconds
            self._refresh[refresh_token] = _Token(client_id, new_refresh_scope, now, expires_at)
            self._issued_refresh.append(refresh_token)
        if code is not None:
            code.issued.extend(t for t in (access, refresh_token) if t is not None)
        self.counters._token_issued()
        # Floor, so the server never announces a lifetime longer than the one it enforces.
        return IssuedTokens(access, max(0, int(ttl)), scope, refresh_token)

    def issue_client_credentials(self, client: OAuthClient, scope: str) -> IssuedTokens:
        """Issue an access token (and a refresh token if that knob is on)."""
        with self._lock:
            with_refresh = self._knobs.refresh_token_on_client_credentials
            return self._issue_locked(
                client.client_id, scope, new_refresh_scope=scope if with_refresh else None
            )

    def exchange_refresh_token(
        self, client: OAuthClient, refresh_token: str, requested: tuple[str, ...] | None
    ) -> IssuedTokens:
        """Redeem `refresh_token`; with rotation on it stops working and a new one is returned.

        Raises:
            GrantError: unknown, revoked, expired, already rotated, or another client's token.
            ScopeError: `requested` is not a subset of the scope originally granted.
        """
        with self._lock:
            record = self._refresh.get(refresh_token)
            now = time.time() + self._clock_offset
            if record is None:
                raise GrantError("The refresh token is unknown.")
            if record.client_id != client.client_id:
                raise GrantError("The refresh token was issued to another client.")
            if record.revoked:
                raise GrantError("The refresh token has been revoked.")
            if record.rotated:
                raise GrantError("The refresh token was already used and has been rotated.")
            if now >= record.expires_at:
                raise GrantError("The refresh token has expired.")
            original = record.scope.split()
            if requested is not None and not set(requested) <= set(original):
                raise ScopeError("The requested scope exceeds the scope originally granted.")
            scope = " ".join(requested) if requested else record.scope
            if not self._knobs.rotate_refresh_tokens:
                return self._issue_locked(client.client_id, scope, keep_refresh=refresh_token)
            record.rotated = True
            # The new refresh token carries the original scope, not a narrowed one (RFC 6749 §6).
            return self._issue_locked(client.client_id, scope, new_refresh_scope=record.scope)

    def create_code(
        self, client: OAuthClient, redirect_uri: str, code_challenge: str, scope: str
    ) -> str:
        """Record an authorization and return its single-use code."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            expires_at = time.time() + self._clock_offset + CODE_TTL_SECONDS
            self._codes[code] = _Code(
                client.client_id, redirect_uri, code_challenge, scope, expires_at
            )
        return code

    def exchange_code(
        self, client: OAuthClient, code: str, redirect_uri: str, code_verifier: str
    ) -> IssuedTokens:
        """Redeem an authorization code (PKCE S256) for an access and a refresh token.

        A second redemption fails and revokes the tokens the first one issued (RFC 6749 §4.1.2).
        Failed attempts (wrong verifier or redirect URI) do not use the code up.

        Raises:
            GrantError: unknown, expired or used code, another client's code, redirect URI or
                PKCE mismatch.
        """
        with self._lock:
            record = self._codes.get(code)
            if record is None:
                raise GrantError("The authorization code is unknown.")
            if record.client_id != client.client_id:
                raise GrantError("The authorization code was issued to another client.")
            if record.used:
                for token in record.issued:
                    for table in (self._access, self._refresh):
                        if token in table:
                            table[token].revoked = True
                raise GrantError("The authorization code was already used.")
            if time.time() + self._clock_offset >= record.expires_at:
                raise GrantError("The authorization code has expired.")
            if redirect_uri != record.redirect_uri:
                raise GrantError("redirect_uri does not match the authorization request.")
            if not hmac.compare_digest(pkce_s256(code_verifier), record.code_challenge):
                raise GrantError("code_verifier does not match the code_challenge.")
            record.used = True
            return self._issue_locked(
                client.client_id, record.scope, new_refresh_scope=record.scope, code=record
            )

    def lookup_token(
        self, token: str, *, kind: TokenKind = "access_token"
    ) -> tuple[TokenInfo | None, str]:
        """Return the live token's info, or None and why it is not live."""
        table = self._access if kind == "access_token" else self._refresh
        with self._lock:
            record = table.get(token)
            now = time.time() + self._clock_offset
            if record is None:
                return None, "unknown"
            if record.revoked:
                return None, "revoked"
            if record.rotated:
                return None, "rotated"
            if now >= record.expires_at:
                return None, "expired"
            info = TokenInfo(
                record.client_id, record.scope, record.issued_at, record.expires_at, kind
            )
            return info, "active"

    def revoke_all_tokens(self) -> None:
        """Revoke every access and refresh token issued so far."""
        with self._lock:
            for table in (self._access, self._refresh):
                for record in table.values():
                    record.revoked = True

    def issued_access_tokens(self) -> list[str]:
        """Every access token ever issued, oldest first."""
        with self._lock:
            return list(self._issued_access)

    def issued_refresh_tokens(self) -> list[str]:
        """Every refresh token ever issued, oldest first."""
        with self._lock:
            return list(self._issued_refresh)

    # messages

    def create_message(
        self, message: dict[str, Any], *, idempotency: tuple[str, str, str] | None, fingerprint: str
    ) -> tuple[dict[str, Any], bool]:
        """Store `message` and return it with `True`, or replay the stored one with `False`.

        `idempotency` is (method, path, key): Telnyx scopes a key to the organization, the method
        and the path, and only successful answers are replayed.

        Raises:
            IdempotencyConflict: the key was used before with another query string or body.
        """
        with self._lock:
            if idempotency is not None and idempotency in self._idempotency:
                stored_fingerprint, message_id = self._idempotency[idempotency]
                if not hmac.compare_digest(stored_fingerprint, fingerprint):
                    raise IdempotencyConflict
                return dict(self._messages[message_id]), False
            self._messages[message["id"]] = message
            if idempotency is not None:
                self._idempotency[idempotency] = (fingerprint, message["id"])
        self.counters._message_created()
        self.detail_records.add_message(message)
        return dict(message), True

    def get_message(self, message_id: str) -> dict[str, Any] | None:
        """Return a stored message, or None."""
        with self._lock:
            message = self._messages.get(message_id)
            return None if message is None else dict(message)
