"""Where the OAuth endpoints are (RFC 8414 discovery) and what a token is (RFC 7662 introspection).

Discovery is a choice, never a default: `authorize` uses it, and a token source only when it is
given `discover_from` (the block's `discover_token_endpoint`). Otherwise the token endpoint is
`token_url` or the base URL plus `/oauth/token`, as the docs promise. Telnyx publishes its
metadata at the API's origin, `https://api.telnyx.com/.well-known/oauth-authorization-server`,
with the endpoints under `/v2`. A document is followed only if it is strict: its `issuer` is that
origin, and every endpoint it names is on that same origin (scheme, host and port), so https
unless the host is loopback. Anything else
(no document, a refused one, a failure) gives the defaults: the base URL plus `/oauth/token`,
`/oauth/authorize` and `/oauth/introspect`, as the spec's `servers` entry says.

The protocol lives once, in pure functions (`metadata_request`, `interpret_metadata`,
`introspection_request`, `parse_introspection`); `discover`/`adiscover` and
`introspect_token`/`aintrospect_token` are thin shells that only send. Answers are cached per
process, keyed by base URL: a document for good, a failure for `RETRY_FAILED_METADATA_SECONDS`
(a refresh never re-fetches a failing document each time). No lock is held while fetching: two
threads racing on a cold cache may each fetch once, and both get the same answer. Server text
reaches errors and logs only through `printable` (masked, one line, bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Literal
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from telnyx_oauth._redact import printable
from telnyx_oauth._token_errors import sent_secrets
from telnyx_oauth._token_request import TokenEndpointConfig, basic_authorization
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.errors import OAUTH_ERRORS, TelnyxOAuthError, TokenRequestError

__all__ = [
    "IntrospectionError",
    "ServerMetadata",
    "TokenIntrospection",
    "adiscover",
    "aintrospect_token",
    "clear_metadata_cache",
    "default_metadata",
    "discover",
    "interpret_metadata",
    "introspect_token",
    "introspection_request",
    "metadata_request",
    "parse_introspection",
]

logger = logging.getLogger("telnyx_oauth.discovery")

WELL_KNOWN_PATH: Final = "/.well-known/oauth-authorization-server"
MAX_BODY_BYTES: Final = 64 * 1024
"""Metadata and introspection answers are a few hundred bytes; more is not such an answer."""
RETRY_FAILED_METADATA_SECONDS = 300.0
"""How long a failed metadata answer (5xx, 429, no answer, not JSON) is used before asking again."""

_ENDPOINT_FIELDS = ("token_endpoint", "authorization_endpoint", "introspection_endpoint")

Outcome = httpx.Response | httpx.RequestError
"""What sending produced: a read response, or the httpx error that stopped it."""


class IntrospectionError(TelnyxOAuthError):
    """The introspection endpoint gave no usable answer (no OAuth error body, or unreachable)."""

    def __init__(self, message: str, *, status_code: int | None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class ServerMetadata:
    """The OAuth endpoints of one Telnyx base URL.

    Attributes:
        base_url: The API base URL the endpoints were looked up for.
        token_endpoint: Where tokens are requested.
        authorization_endpoint: Where the user consents (authorization code grant).
        introspection_endpoint: Where tokens are introspected (RFC 7662).
        source: "metadata" when published by the server, "defaults" otherwise.
        issuer: The metadata's `issuer`, when published.
        scopes_supported: The metadata's `scopes_supported`, empty when not published.
    """

    base_url: str
    token_endpoint: str
    authorization_endpoint: str
    introspection_endpoint: str
    source: Literal["metadata", "defaults"] = "defaults"
    issuer: str | None = None
    scopes_supported: tuple[str, ...] = ()


def _origin(base_url: str) -> str:
    url = httpx.URL(base_url)
    return str(url.copy_with(path="/", query=None, fragment=None)).rstrip("/")


def default_metadata(base_url: str) -> ServerMetadata:
    """The endpoints to use when the server publishes no metadata: base URL + `/oauth/...`.

    Raises:
        ConfigurationError: `base_url` is not https (or http on a loopback host).
    """
    base = require_secure_url(base_url, name="base_url")
    return ServerMetadata(
        base,
        token_endpoint=f"{base}/oauth/token",
        authorization_endpoint=f"{base}/oauth/authorize",
        introspection_endpoint=f"{base}/oauth/introspect",
    )


def metadata_url(base_url: str) -> str:
    """The RFC 8414 metadata URL of `base_url`: its origin plus the well-known path."""
    return _origin(require_secure_url(base_url, name="base_url")) + WELL_KNOWN_PATH


def metadata_request(base_url: str, timeout_seconds: float = 10.0) -> httpx.Request:
    """Build the `GET /.well-known/oauth-authorization-server` request for `base_url`."""
    return httpx.Request(
        "GET",
        metadata_url(base_url),
        headers={"Accept": "application/json"},
        extensions={"timeout": httpx.Timeout(timeout_seconds).as_dict()},
    )


def interpret_metadata(base_url: str, outcome: Outcome) -> tuple[ServerMetadata, bool]:
    """Turn the metadata answer into endpoints, and say whether the answer is lasting.

    A 4xx means the server publishes nothing: the defaults, for good. A 5xx, a 429, a network
    failure or a body that is not a JSON object is taken as a passing problem: the defaults, asked
    again after `RETRY_FAILED_METADATA_SECONDS`. A document is followed only if its `issuer` is
    the base URL's origin and every endpoint it names is on that origin (RFC 8414 §3.3);
    otherwise it is refused as a whole, with a warning: the defaults, for good.

    Raises:
        ConfigurationError: `base_url` is not https (or http on a loopback host).
    """
    defaults = default_metadata(base_url)
    where = metadata_url(base_url)
    if isinstance(outcome, httpx.RequestError):
        logger.debug(
            "no OAuth metadata from %s (%s); using defaults", where, type(outcome).__name__
        )
        return defaults, False
    status = outcome.status_code
    if status != 200:
        transient = status >= 500 or status == 429
        logger.debug("OAuth metadata %s answered %d; using defaults", where, status)
        return defaults, not transient
    try:
        body = outcome.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        logger.warning("OAuth metadata at %s is not a JSON object; using the defaults", where)
        return defaults, False
    problem = _untrusted(body, base_url)
    if problem is not None:
        logger.warning(
            "OAuth metadata at %s is not followed: %s. Using %s, the base URL plus /oauth/...",
            where,
            problem,
            defaults.token_endpoint,
        )
        return defaults, True
    token, authorize, introspect = (
        _str(body.get(name)) or getattr(defaults, name) for name in _ENDPOINT_FIELDS
    )
    scopes = body.get("scopes_supported")
    return (
        ServerMetadata(
            defaults.base_url,
            token_endpoint=token,
            authorization_endpoint=authorize,
            introspection_endpoint=introspect,
            source="metadata",
            issuer=body["issuer"],
            scopes_supported=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        ),
        True,
    )


def _untrusted(body: dict[str, Any], base_url: str) -> str | None:
    """Why the metadata document `body` must not be followed, or None if it may."""
    origin = _origin(base_url)
    issuer = body.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        return "it names no issuer"
    if issuer.rstrip("/") != origin:
        return f"its issuer {_shown(issuer)} is not {origin}"
    for name in _ENDPOINT_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            return f"its {name} is not a URL"
        try:
            endpoint = _origin(require_secure_url(value, name=name))
        except TelnyxOAuthError:
            return f"its {name} {_shown(value)} is not a secure URL (https, or http on loopback)"
        if endpoint != origin:  # another port of the same host may be another server
            return f"its {name} {_shown(value)} is not on the issuer's origin {origin}"
    return None


def _shown(server_text: str) -> str:
    return repr(printable(server_text))


_cache: dict[str, tuple[ServerMetadata, float | None]] = {}
"""Per base URL: the answer, and when (monotonic) a failure was answered; None: for good."""
_cache_lock = threading.Lock()


def clear_metadata_cache() -> None:
    """Forget every discovered metadata document (tests; a server that changed its endpoints)."""
    with _cache_lock:
        _cache.clear()


def _cached(base_url: str) -> ServerMetadata | None:
    key = require_secure_url(base_url, name="base_url")
    with _cache_lock:
        metadata, failed_at = _cache.get(key, (None, None))
    if failed_at is not None and time.monotonic() - failed_at >= RETRY_FAILED_METADATA_SECONDS:
        return None
    return metadata


def _remember(base_url: str, outcome: Outcome) -> ServerMetadata:
    metadata, lasting = interpret_metadata(base_url, outcome)
    with _cache_lock:
        _cache[metadata.base_url] = (metadata, None if lasting else time.monotonic())
    return metadata


def discover(
    base_url: str, *, client: httpx.Client | None = None, timeout_seconds: float = 10.0
) -> ServerMetadata:
    """Return the OAuth endpoints of `base_url`, fetching its metadata once per process.

    Only a strict document is followed (see the module docstring); else the defaults.

    Args:
        base_url: The Telnyx API base URL, e.g. `https://api.telnyx.com/v2`.
        client: An `httpx.Client` to send with; None: a short-lived one.
        timeout_seconds: Timeout of the metadata request.

    Raises:
        ConfigurationError: `base_url` is not secure.
    """
    cached = _cached(base_url)
    if cached is not None:
        return cached
    request = metadata_request(base_url, timeout_seconds)
    with _sync_client(client) as http:
        outcome = _send(http, request)
    return _remember(base_url, outcome)


async def adiscover(
    base_url: str, *, client: httpx.AsyncClient | None = None, timeout_seconds: float = 10.0
) -> ServerMetadata:
    """Async twin of `discover`."""
    cached = _cached(base_url)
    if cached is not None:
        return cached
    request = metadata_request(base_url, timeout_seconds)
    async with _async_client(client) as http:
        try:
            outcome = await _asend(http, request)
        except asyncio.CancelledError:
            # Cut short by the caller's deadline (a refresh's wait_for): a failure like a
            # timeout, so the next refresh does not wait for this endpoint again.
            _remember(base_url, httpx.ReadTimeout("cut short by the caller", request=request))
            raise
    return _remember(base_url, outcome)


# --- introspection (RFC 7662) ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenIntrospection:
    """What the server says about a token. Inactive tokens carry nothing else (RFC 7662 §2.2)."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    expires_at: datetime | None = None
    issued_at: datetime | None = None
    issuer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


def introspection_request(
    config: TokenEndpointConfig,
    introspection_url: str,
    token: SecretStr,
    token_type_hint: Literal["access_token", "refresh_token"] | None = None,
) -> httpx.Request:
    """Build the client-authenticated `POST` of RFC 7662 §2.1, authenticated as `config` says."""
    url = require_secure_url(introspection_url, name="introspection_url")
    fields = {"token": token.get_secret_value()}
    if token_type_hint:
        fields["token_type_hint"] = token_type_hint
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    if config.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_authorization(config.client_id, config.client_secret)
    else:
        fields["client_id"] = config.client_id
        fields["client_secret"] = config.client_secret.get_secret_value()
    return httpx.Request(
        "POST",
        url,
        headers=headers,
        content=urlencode(fields).encode("ascii"),
        extensions={"timeout": httpx.Timeout(config.timeout_seconds).as_dict()},
    )


def parse_introspection(
    outcome: Outcome, *, config: TokenEndpointConfig, introspection_url: str, token: SecretStr
) -> TokenIntrospection:
    """Read the introspection answer.

    Raises:
        TokenRequestError: an RFC 6749 error body (`InvalidClientError` for bad credentials).
        IntrospectionError: no answer, or one that is neither an introspection nor an error body.
    """
    where = f"Telnyx introspection endpoint {introspection_url}"
    if isinstance(outcome, httpx.RequestError):
        msg = f"{where} could not be reached ({type(outcome).__name__}). Check the base URL."
        raise IntrospectionError(msg, status_code=None)
    status = outcome.status_code
    try:
        body = outcome.json()
    except ValueError:
        body = None
    if status == 200 and isinstance(body, dict) and isinstance(body.get("active"), bool):
        if not body["active"]:
            return TokenIntrospection(active=False)
        return TokenIntrospection(
            active=True,
            scope=_str(body.get("scope")),
            client_id=_str(body.get("client_id")),
            token_type=_str(body.get("token_type")),
            expires_at=_instant(body.get("exp")),
            issued_at=_instant(body.get("iat")),
            issuer=_str(body.get("iss")),
            extra={k: v for k, v in body.items() if k not in _KNOWN_CLAIMS},
        )
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str) and error and status >= 400:
        assert isinstance(body, dict)
        secrets = sent_secrets(config, token.get_secret_value())
        error = printable(error, secrets)
        raw_description = _str(body.get("error_description"))
        description = printable(raw_description, secrets) if raw_description else None
        detail = f"{error}: {description!r}" if description else error
        next_step = (
            "Check client_id and client_secret."
            if error == "invalid_client"
            else "See the error description and the Telnyx OAuth documentation."
        )
        msg = (
            f"{where} refused the request of client id {config.client_id!r} with status "
            f"{status} ({detail}). {next_step}"
        )
        error_class = OAUTH_ERRORS.get(error, TokenRequestError)
        raise error_class(msg, status_code=status, error=error, error_description=description)
    msg = (
        f"{where} answered {status} without an introspection or OAuth error body. Check that "
        "the URL is the server's /oauth/introspect."
    )
    raise IntrospectionError(msg, status_code=status)


_KNOWN_CLAIMS = frozenset({"active", "scope", "client_id", "token_type", "exp", "iat", "iss"})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)


def introspect_token(
    config: TokenEndpointConfig,
    token: SecretStr | str,
    *,
    introspection_url: str,
    token_type_hint: Literal["access_token", "refresh_token"] | None = None,
    client: httpx.Client | None = None,
) -> TokenIntrospection:
    """Ask the server whether `token` is active, and for its scope, client and expiry.

    Args:
        config: The client credentials and how to send them (as for the token endpoint).
        token: The access or refresh token to look up.
        introspection_url: The endpoint, e.g. `discover(base_url).introspection_endpoint`.
        token_type_hint: Which kind of token it is, when known.
        client: An `httpx.Client` to send with; None: a short-lived one.

    Raises:
        TokenRequestError: the server answered an RFC 6749 error (bad client credentials...).
        IntrospectionError: the endpoint was unreachable or answered something else.
    """
    secret = token if isinstance(token, SecretStr) else SecretStr(token)
    request = introspection_request(config, introspection_url, secret, token_type_hint)
    with _sync_client(client) as http:
        outcome = _send(http, request)
    return parse_introspection(
        outcome, config=config, introspection_url=introspection_url, token=secret
    )


async def aintrospect_token(
    config: TokenEndpointConfig,
    token: SecretStr | str,
    *,
    introspection_url: str,
    token_type_hint: Literal["access_token", "refresh_token"] | None = None,
    client: httpx.AsyncClient | None = None,
) -> TokenIntrospection:
    """Async twin of `introspect_token`."""
    secret = token if isinstance(token, SecretStr) else SecretStr(token)
    request = introspection_request(config, introspection_url, secret, token_type_hint)
    async with _async_client(client) as http:
        outcome = await _asend(http, request)
    return parse_introspection(
        outcome, config=config, introspection_url=introspection_url, token=secret
    )


# --- sending ---------------------------------------------------------------------------------
# auth=None and no redirects: a caller's client may carry our own TelnyxOAuth, and a redirected
# POST would resend the client credentials to another URL.


@contextlib.contextmanager
def _sync_client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(follow_redirects=False) as own:
        yield own


@contextlib.asynccontextmanager
async def _async_client(client: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(follow_redirects=False) as own:
        yield own


def _bounded(response: httpx.Response, body: bytes) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=body[:MAX_BODY_BYTES],
        request=response.request,
    )


def _send(client: httpx.Client, request: httpx.Request) -> Outcome:
    try:
        response = client.send(request, stream=True, auth=None, follow_redirects=False)
        try:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
        finally:
            response.close()
    except httpx.RequestError as exc:
        return exc
    return _bounded(response, body)


async def _asend(client: httpx.AsyncClient, request: httpx.Request) -> Outcome:
    try:
        response = await client.send(request, stream=True, auth=None, follow_redirects=False)
        try:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
        finally:
            await response.aclose()
    except httpx.RequestError as exc:
        return exc
    return _bounded(response, body)
