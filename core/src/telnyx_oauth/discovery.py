"""Where the OAuth endpoints are (RFC 8414 discovery) and what a token is (RFC 7662 introspection).

Telnyx publishes its authorization server metadata at the API's origin,
`https://api.telnyx.com/.well-known/oauth-authorization-server`, with the endpoints under `/v2`.
When a server publishes none (a proxy, an older emulator), the endpoints default to the base URL
plus `/oauth/token`, `/oauth/authorize` and `/oauth/introspect`, as the spec's `servers` entry
says.

The protocol lives once, in pure functions (`metadata_request`, `interpret_metadata`,
`introspection_request`, `parse_introspection`); `discover`/`adiscover` and
`introspect_token`/`aintrospect_token` are thin shells that only send. Metadata is cached per
process, keyed by base URL. No lock is held while fetching: two threads racing on a cold cache
may each fetch once, and both get the same answer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Literal
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

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

logger = logging.getLogger("prefect_telnyx_oauth.discovery")

WELL_KNOWN_PATH: Final = "/.well-known/oauth-authorization-server"
MAX_BODY_BYTES: Final = 64 * 1024
"""Metadata and introspection answers are a few hundred bytes; more is not such an answer."""

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
    """Turn the metadata answer into endpoints, and say whether the result may be cached.

    A 4xx means the server publishes nothing: the defaults, cached. A 5xx, a 429, a network
    failure or a body that is not JSON is taken as a passing problem: the defaults, not cached,
    so the next call asks again. Metadata naming another issuer is not trusted (RFC 8414 §3.3).

    Raises:
        ConfigurationError: the metadata names an endpoint that is not https (or loopback http);
            following it would send credentials in clear text.
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
    issuer = body.get("issuer")
    if isinstance(issuer, str) and issuer.rstrip("/") not in (_origin(base_url), defaults.base_url):
        logger.warning(
            "OAuth metadata at %s names issuer %r, not %s; ignoring it and using the defaults",
            where,
            issuer,
            _origin(base_url),
        )
        return defaults, True
    token, authorize, introspect = (
        _published_endpoint(body, name, where) or getattr(defaults, name)
        for name in _ENDPOINT_FIELDS
    )
    scopes = body.get("scopes_supported")
    return (
        ServerMetadata(
            defaults.base_url,
            token_endpoint=token,
            authorization_endpoint=authorize,
            introspection_endpoint=introspect,
            source="metadata",
            issuer=issuer if isinstance(issuer, str) else None,
            scopes_supported=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        ),
        True,
    )


def _published_endpoint(body: dict[str, Any], name: str, where: str) -> str | None:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        return None
    return require_secure_url(value, name=f"{name} published at {where}")


_cache: dict[str, ServerMetadata] = {}
_cache_lock = threading.Lock()


def clear_metadata_cache() -> None:
    """Forget every discovered metadata document (tests; a server that changed its endpoints)."""
    with _cache_lock:
        _cache.clear()


def _cached(base_url: str) -> ServerMetadata | None:
    with _cache_lock:
        return _cache.get(require_secure_url(base_url, name="base_url"))


def _remember(base_url: str, outcome: Outcome) -> ServerMetadata:
    metadata, cacheable = interpret_metadata(base_url, outcome)
    if cacheable:
        with _cache_lock:
            _cache[metadata.base_url] = metadata
    return metadata


def discover(
    base_url: str, *, client: httpx.Client | None = None, timeout_seconds: float = 10.0
) -> ServerMetadata:
    """Return the OAuth endpoints of `base_url`, fetching its metadata once per process.

    Args:
        base_url: The Telnyx API base URL, e.g. `https://api.telnyx.com/v2`.
        client: An `httpx.Client` to send with; None: a short-lived one.
        timeout_seconds: Timeout of the metadata request.

    Raises:
        ConfigurationError: `base_url`, or an endpoint the metadata names, is not secure.
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
        outcome = await _asend(http, request)
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
        description = _str(body.get("error_description"))
        secrets = (token.get_secret_value(), config.client_secret.get_secret_value())
        detail = _mask(f"{error}: {description!r}" if description else error, secrets)
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
        raise error_class(
            msg,
            status_code=status,
            error=_mask(error, secrets),
            error_description=_mask(description, secrets) if description else None,
        )
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


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


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
