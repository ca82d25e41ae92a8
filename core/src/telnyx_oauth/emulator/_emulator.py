"""`TelnyxEmulator`: the public handle on one running emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from types import TracebackType
from typing import Literal

from telnyx_oauth.emulator._app import build_app
from telnyx_oauth.emulator._counters import EmulatorCounters
from telnyx_oauth.emulator._detail_record_store import DEFAULT_SEED_START
from telnyx_oauth.emulator._registry import OAuthRegistry
from telnyx_oauth.emulator._server import ServerThread
from telnyx_oauth.emulator._spec import SpecMonitor, SpecReport
from telnyx_oauth.emulator._state import (
    DEFAULT_SCOPES,
    BasicAuthDecoding,
    EmulatorState,
    Knobs,
    OAuthClient,
)

# A wildcard bind serves loopback too; URLs for clients on this machine name loopback instead.
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


class TelnyxEmulator:
    """A local Telnyx: OAuth token endpoint and API routes on a real loopback socket.

    Use it as a context manager (or call `start()` and `stop()`); it serves from a daemon thread,
    so a test drives it with any HTTP client and turns its knobs from the test's thread.

    Args:
        host: Interface to bind; loopback by default. Bind another one only on a trusted network:
            the `/_emulator/` control routes are unauthenticated.
        port: Port to bind; 0 picks a free one (read it back from `base_url`).
        client_id: Id of the client registered at start.
        client_secret: Its secret.
        allowed_scopes: Scopes that client may request; its default grant is all of them.
        token_ttl_seconds: Lifetime of new access tokens (`expires_in` is its floor).
        rotate_refresh_tokens: Each refresh returns a new refresh token and retires the old one.
        refresh_token_on_client_credentials: Also return a refresh token for client_credentials.
        token_latency_seconds: Delay before answering each token request (other requests are not
            delayed).
        redirect_uris: Redirect URIs registered for the authorization code flow; loopback http URIs
            match on any port (RFC 8252).
        exact_redirect_uris: Match redirect URIs as exact strings, loopback ones too (Authlib's
            default): `http://127.0.0.1:PORT/callback` then needs that very URI registered.
        balance: What GET /balance reports, in USD.
        phone_numbers: How many phone numbers GET /phone_numbers lists (+15550100000 upward).
        refresh_token_ttl_seconds: Lifetime of refresh tokens (30 days by default).
        log_requests: Log one line per request (uvicorn's access log), as the CLI does.
        basic_auth_decoding: How HTTP Basic client credentials are decoded after base64:
            "unquote_plus" (RFC 6749 §2.3.1 form-decoding, the default), "unquote" (as Authlib's
            server: `+` stays `+`) or "raw" (no decoding).
        check_spec: Check every token answer against the packaged OpenAPI spec; read the
            outcome with `spec_report()`. Needs PyYAML and jsonschema (the `dev` extra).

    Example:
        ```python
        with TelnyxEmulator() as emulator:
            response = httpx.post(
                emulator.token_url,
                data={"grant_type": "client_credentials"},
                auth=(emulator.client_id, emulator.client_secret),
            )
            assert emulator.counters.tokens_issued == 1
        ```
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "emulator-client",
        # A well-known demo credential of a local test server, not a secret.
        client_secret: str = "emulator-secret",  # noqa: S107
        allowed_scopes: Iterable[str] = DEFAULT_SCOPES,
        token_ttl_seconds: float = 3600,
        rotate_refresh_tokens: bool = False,
        refresh_token_on_client_credentials: bool = False,
        token_latency_seconds: float = 0.0,
        redirect_uris: Iterable[str] = ("http://127.0.0.1/callback",),
        balance: str = "100.00",
        phone_numbers: int = 25,
        refresh_token_ttl_seconds: float = 30 * 24 * 3600,
        log_requests: bool = False,
        basic_auth_decoding: BasicAuthDecoding = "unquote_plus",
        check_spec: bool = False,
        exact_redirect_uris: bool = False,
    ) -> None:
        knobs = Knobs(
            token_ttl_seconds=token_ttl_seconds,
            refresh_token_ttl_seconds=refresh_token_ttl_seconds,
            rotate_refresh_tokens=rotate_refresh_tokens,
            refresh_token_on_client_credentials=refresh_token_on_client_credentials,
            token_latency_seconds=token_latency_seconds,
            basic_auth_decoding=basic_auth_decoding,
            exact_redirect_uris=exact_redirect_uris,
        )
        if phone_numbers < 0:
            raise ValueError("phone_numbers must be >= 0")
        self._host = host
        self._port = port
        self._log_requests = log_requests
        self._redirect_uris = tuple(redirect_uris)
        self._state = EmulatorState(knobs=knobs, balance=balance, phone_numbers=phone_numbers)
        self.client_id = client_id
        self.client_secret = client_secret
        self.add_client(client_id, client_secret, allowed_scopes)
        self._spec = SpecMonitor() if check_spec else None
        self.oauth_registry = OAuthRegistry(self._state)
        """Client registration and grants (`_registry.py`): `add_grant`, `counters`."""
        self._app = build_app(
            self._state,
            default_redirect_uris=self._redirect_uris,
            spec_monitor=self._spec,
            extra_routes=self.oauth_registry.routes(),
        )
        self._server: ServerThread | None = None
        self._bound_port: int | None = None

    # lifecycle

    def start(self) -> TelnyxEmulator:
        """Bind, serve from a daemon thread, and return once the server accepts connections.

        Raises:
            RuntimeError: it is already running, or the server did not start.
            OSError: the address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("This TelnyxEmulator is already running.")
        server = ServerThread(self._app, self._host, self._port, access_log=self._log_requests)
        self._bound_port = server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> TelnyxEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. `http://127.0.0.1:54321/v2`.

        Raises:
            RuntimeError: the emulator has not been started.
        """
        if self._bound_port is None:
            raise RuntimeError("Start the TelnyxEmulator (start() or `with`) before reading URLs.")
        host = _WILDCARD_TO_LOOPBACK.get(self._host, self._host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._bound_port}/v2"

    @property
    def token_url(self) -> str:
        """The token endpoint, `base_url + "/oauth/token"`."""
        return f"{self.base_url}/oauth/token"

    @property
    def counters(self) -> EmulatorCounters:
        """Live counters; each attribute read returns a copy (use `.snapshot()` to freeze all)."""
        return self._state.counters

    def __repr__(self) -> str:
        where = self.base_url if self._bound_port is not None else "not started"
        return f"TelnyxEmulator({where}, client_id={self.client_id!r})"

    # clients and knobs

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        allowed_scopes: Iterable[str] = DEFAULT_SCOPES,
        *,
        redirect_uris: Iterable[str] | None = None,
    ) -> None:
        """Register another OAuth client (or replace one with the same id)."""
        uris = self._redirect_uris if redirect_uris is None else tuple(redirect_uris)
        client = OAuthClient(client_id, client_secret, tuple(allowed_scopes), uris)
        self._state.add_client(client)

    def set_token_ttl(self, seconds: float) -> None:
        """Set the lifetime of access tokens issued from now on (0 issues expired tokens)."""
        self._state.update_knobs(token_ttl_seconds=seconds)

    def set_rotation(self, enabled: bool) -> None:
        """Turn refresh token rotation on or off."""
        self._state.update_knobs(rotate_refresh_tokens=enabled)

    def set_refresh_token_on_client_credentials(self, enabled: bool) -> None:
        """Return (or stop returning) a refresh token with client_credentials grants."""
        self._state.update_knobs(refresh_token_on_client_credentials=enabled)

    def fail_next_token_requests(self, n: int, status: int = 503) -> None:
        """Answer the next `n` token requests with `status` and an HTML body, as a proxy would."""
        self._state.update_knobs(fail_next_token_requests=n, fail_status=status)

    def rate_limit_next_token_requests(
        self, n: int, retry_after: int = 1, *, body: Literal["json", "html"] = "json"
    ) -> None:
        """Answer the next `n` token requests with 429, `Retry-After` and `x-ratelimit-*`.

        Args:
            n: How many requests to reject.
            retry_after: Seconds announced in `Retry-After` and `x-ratelimit-reset`.
            body: "json" carries both an OAuth `error` and Telnyx `errors` (code 10011);
                "html" is a gateway's HTML page.
        """
        self._state.update_knobs(
            rate_limit_next_token_requests=n, retry_after=retry_after, rate_limit_body=body
        )

    def fail_next_api_requests(
        self, n: int, status: int = 503, *, retry_after: int | None = None
    ) -> None:
        """Answer the next `n` API requests (any route, before authentication) with `status`.

        A 429 carries a Telnyx error body (code 10011) and `x-ratelimit-*` headers; any other
        status an HTML page, as a gateway would. Replaces failures still pending.

        Args:
            n: How many requests to fail.
            status: The HTTP error status, 400-599.
            retry_after: Seconds to announce in `Retry-After` (and `x-ratelimit-reset` on a 429).
        """
        self._state.fail_next_api_requests(n, status, retry_after)

    def set_basic_auth_decoding(self, decoding: BasicAuthDecoding) -> None:
        """Choose how HTTP Basic credentials are decoded: "raw", "unquote" or "unquote_plus"."""
        self._state.update_knobs(basic_auth_decoding=decoding)

    def spec_report(self) -> SpecReport:
        """Return how many token answers the spec check saw, and every problem it found.

        Raises:
            RuntimeError: the emulator was built without `check_spec=True`.
        """
        if self._spec is None:
            msg = "Build the emulator with TelnyxEmulator(check_spec=True) to check its answers."
            raise RuntimeError(msg)
        return self._spec.report()

    def set_token_latency(self, seconds: float) -> None:
        """Delay every token answer by `seconds` without blocking other requests."""
        self._state.update_knobs(token_latency_seconds=seconds)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward: tokens and codes expire without sleeping."""
        self._state.advance_clock(seconds)

    def revoke_all_tokens(self) -> None:
        """Revoke every access and refresh token issued so far."""
        self._state.revoke_all_tokens()

    def reset_counters(self) -> None:
        """Zero every counter."""
        self._state.counters._reset()

    def issued_access_tokens(self) -> list[str]:
        """Every access token ever issued, oldest first (for secret-scanning tests)."""
        return self._state.issued_access_tokens()

    def issued_refresh_tokens(self) -> list[str]:
        """Every refresh token ever issued, oldest first."""
        return self._state.issued_refresh_tokens()

    def seed_detail_records(
        self,
        count: int,
        *,
        record_type: str = "messaging",
        start_at: dt.datetime = DEFAULT_SEED_START,
        interval_seconds: float = 60.0,
    ) -> None:
        """Add `count` deterministic detail records to `GET /detail_records`.

        Args:
            count: How many records to add.
            record_type: "messaging" or "call-control".
            start_at: When the first one was created (started), an aware datetime.
            interval_seconds: Time between two consecutive records.
        """
        self._state.detail_records.seed(record_type, count, start_at, interval_seconds)

    def set_detail_records_latency(self, seconds: float) -> None:
        """Delay every `GET /detail_records` answer by `seconds` (a slow search)."""
        self._state.detail_records.latency_seconds = seconds
