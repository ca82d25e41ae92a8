"""OAuth 2.0 routes: token (RFC 6749), authorize with PKCE (RFC 7636), introspection (RFC 7662)
and server metadata (RFC 8414).

Token endpoint order of work, so every outcome is predictable:

1. read the body and count the arrival (grant by raw `grant_type`, "missing" when absent);
2. consume an injected failure (`fail_next_token_requests`, then `rate_limit_next_token_requests`);
3. sleep `token_latency_seconds` (asyncio, so other requests are served meanwhile);
4. answer the injected failure, or: malformed body -> 400 `invalid_request`; client
   authentication -> 401 `invalid_client`; missing `grant_type` -> 400 `invalid_request`; unknown
   one -> 400 `unsupported_grant_type`; then the grant's own checks.

Client authentication is HTTP Basic or `client_id` + `client_secret` in the body, never both. A
`client_id` in the body next to Basic is accepted only if it equals the Basic one.

How the Basic user and password are decoded after base64 is the `basic_auth_decoding` knob, because
real servers disagree:

- `unquote_plus` (default): RFC 6749 §2.3.1 has the client form-urlencode both (Appendix B), so
  `+` is a space and `%XX` a byte. A secret with `%`, `:`, `+`, spaces or non-ASCII characters
  round-trips whether the client wrote a space as `+` or `%20`. Spring-style servers do this.
- `unquote`: percent-decoding only, `+` stays a `+`. Authlib's server does this, so a client that
  writes a space as `+` is refused; one that writes `%20` (`quote(safe="")`) is accepted.
- `raw`: no decoding, as servers that ignore §2.3.1 do; only unencoded credentials match.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from telnyx_oauth.emulator._http import telnyx_error_item
from telnyx_oauth.emulator._spec import SpecMonitor
from telnyx_oauth.emulator._state import (
    RATE_LIMIT,
    BasicAuthDecoding,
    EmulatorState,
    GrantError,
    InjectedFailure,
    OAuthClient,
    ScopeError,
    TokenKind,
)

GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PKCE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JSONResponse:
        """Return the error as the spec's `oauth_Error` body."""
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="telnyx"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


def parse_params(content_type: str | None, body: bytes) -> dict[str, str]:
    """Parse a form-urlencoded or JSON body into string parameters.

    Raises:
        OAuthError: `invalid_request` for another media type, bad encoding, a repeated parameter
            (RFC 6749 §3.2), JSON that is not an object, or a non-string JSON value.
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as exc:
            raise OAuthError("invalid_request", "The form body is not valid.") from exc
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                raise OAuthError("invalid_request", f"Parameter '{name}' is repeated.")
            params[name] = value
        return params
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OAuthError("invalid_request", "The JSON body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", "The JSON body must be an object.")
        params = {}
        for name, value in data.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise OAuthError("invalid_request", f"Parameter '{name}' must be a string.")
            params[name] = value
        return params
    raise OAuthError(
        "invalid_request",
        "Send the parameters as application/x-www-form-urlencoded or application/json.",
    )


def parse_scope(value: str | None) -> tuple[str, ...] | None:
    """Split a space-separated scope, dropping duplicates; None or blank means "not requested"."""
    if value is None or not value.strip():
        return None
    return tuple(dict.fromkeys(value.split()))


_BASIC_DECODERS: dict[BasicAuthDecoding, Callable[[str], str]] = {
    "raw": lambda part: part,
    "unquote": unquote,
    "unquote_plus": unquote_plus,
}


def _decode_basic(value: str, decoding: BasicAuthDecoding) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(
            "invalid_client", "The Basic Authorization header is not valid base64.", 401
        ) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "The Basic credentials lack a ':' separator.", 401)
    decode = _BASIC_DECODERS[decoding]
    return decode(client_id), decode(secret)


def authenticate_client(
    state: EmulatorState, authorization: str | None, params: dict[str, str]
) -> OAuthClient:
    """Return the authenticated client.

    Raises:
        OAuthError: 401 `invalid_client` for none, both, mismatched or wrong credentials.
    """
    basic: tuple[str, str] | None = None
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        # Other schemes (an SDK's `Bearer <api key>`) are not client authentication: ignore them.
        if scheme.lower() == "basic":
            basic = _decode_basic(value.strip(), state.knobs().basic_auth_decoding)
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if basic is not None:
        if body_secret is not None:
            raise OAuthError(
                "invalid_client",
                "Use one client authentication method: HTTP Basic or client_secret in the body, "
                "not both.",
                401,
            )
        if body_id is not None and body_id != basic[0]:
            raise OAuthError(
                "invalid_client",
                "client_id in the body does not match the HTTP Basic client_id.",
                401,
            )
        client_id, secret = basic
    elif body_id is not None and body_secret is not None:
        client_id, secret = body_id, body_secret
    else:
        raise OAuthError(
            "invalid_client",
            "Client authentication is required: HTTP Basic, or client_id and client_secret in "
            "the body.",
            401,
        )
    client = state.get_client(client_id)
    if client is None or not client.secret_matches(secret):
        raise OAuthError("invalid_client", "Unknown client or wrong client secret.", 401)
    return client


def redirect_uri_registered(client: OAuthClient, redirect_uri: str, exact: bool = False) -> bool:
    """Exact match, except that loopback http URIs match on any port (RFC 8252 §7.3) unless
    `exact` (as Authlib's server, which compares the strings)."""
    if redirect_uri in client.redirect_uris:
        return True
    asked = urlsplit(redirect_uri)
    if exact or asked.scheme != "http" or asked.hostname is None:
        return False
    for registered in map(urlsplit, client.redirect_uris):
        if (
            registered.scheme == "http"
            and registered.hostname in _LOOPBACK_HOSTS
            and registered.hostname == asked.hostname
            and registered.path == asked.path
            and registered.query == asked.query
        ):
            return True
    return False


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _injected_response(failure: InjectedFailure) -> Response:
    if failure.kind == "fail":
        try:
            title = f"{failure.status} {HTTPStatus(failure.status).phrase}"
        except ValueError:
            title = f"{failure.status} Error"
        html = (
            f"<html><head><title>{title}</title></head>"
            f"<body><center><h1>{title}</h1></center></body></html>"
        )
        return HTMLResponse(html, status_code=failure.status)
    headers = {
        "Retry-After": str(failure.retry_after),
        "x-ratelimit-limit": str(RATE_LIMIT),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(failure.retry_after),
    }
    if failure.body == "html":
        html = "<html><head><title>429 Too Many Requests</title></head><body></body></html>"
        return HTMLResponse(html, status_code=429, headers=headers)
    detail = f"Too many token requests; retry after {failure.retry_after} seconds."
    # Both shapes at once: an OAuth client reads `error`, a Telnyx client reads `errors`.
    body: dict[str, Any] = {
        "error": "rate_limit_exceeded",
        "error_description": detail,
        "errors": [telnyx_error_item("10011", detail)],
    }
    return JSONResponse(body, status_code=429, headers=headers)


class OAuthRoutes:
    """The OAuth endpoints of one emulator."""

    def __init__(self, state: EmulatorState, spec_monitor: SpecMonitor | None = None) -> None:
        self.state = state
        self.spec_monitor = spec_monitor

    def routes(self) -> list[BaseRoute]:
        """Return the Starlette routes."""
        metadata_paths = (
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/v2",
            "/v2/.well-known/oauth-authorization-server",
        )
        return [
            Route("/v2/oauth/token", self.token, methods=["POST"]),
            Route("/v2/oauth/authorize", self.authorize, methods=["GET"]),
            Route("/v2/oauth/introspect", self.introspect, methods=["POST"]),
            *(Route(path, self.metadata, methods=["GET"]) for path in metadata_paths),
        ]

    async def token(self, request: Request) -> Response:
        """POST /v2/oauth/token."""
        arrived_at = time.monotonic()
        body = await request.body()
        try:
            params: dict[str, str] | OAuthError = parse_params(
                request.headers.get("content-type"), body
            )
        except OAuthError as exc:
            params = exc
        grant = "missing"
        if isinstance(params, dict):
            grant = params.get("grant_type") or "missing"
        self.state.counters._token_request_arrived(
            grant, arrived_at, request.headers.get("user-agent", "")
        )
        failure = self.state.take_injected_failure()
        latency = self.state.knobs().token_latency_seconds
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            response = _injected_response(failure)
        else:
            try:
                if isinstance(params, OAuthError):
                    raise params
                response = self._grant(request, params)
            except OAuthError as exc:
                response = exc.response()
        if self.spec_monitor is not None:
            self.spec_monitor.check(response.status_code, response.headers, bytes(response.body))
        self.state.counters._token_request_answered(response.status_code)
        return response

    def _grant(self, request: Request, params: dict[str, str]) -> Response:
        client = authenticate_client(self.state, request.headers.get("authorization"), params)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        requested = parse_scope(params.get("scope"))
        try:
            if grant_type == "client_credentials":
                if requested is not None and not set(requested) <= set(client.allowed_scopes):
                    raise ScopeError(
                        f"Allowed scopes for this client: {' '.join(client.allowed_scopes)}."
                    )
                scope = " ".join(requested or client.allowed_scopes)
                issued = self.state.issue_client_credentials(client, scope)
            elif grant_type == "refresh_token":
                refresh_token = params.get("refresh_token")
                if not refresh_token:
                    raise OAuthError("invalid_request", "refresh_token is required.")
                issued = self.state.exchange_refresh_token(client, refresh_token, requested)
            elif grant_type == "authorization_code":
                missing = [
                    name
                    for name in ("code", "redirect_uri", "code_verifier")
                    if not params.get(name)
                ]
                if missing:
                    raise OAuthError("invalid_request", f"Missing: {', '.join(missing)}.")
                if not _PKCE_RE.fullmatch(params["code_verifier"]):
                    raise OAuthError(
                        "invalid_request", "code_verifier must be 43-128 unreserved characters."
                    )
                issued = self.state.exchange_code(
                    client, params["code"], params["redirect_uri"], params["code_verifier"]
                )
            else:
                raise OAuthError(
                    "unsupported_grant_type",
                    f"Supported grant types: {', '.join(GRANT_TYPES)}.",
                )
        except GrantError as exc:
            raise OAuthError("invalid_grant", str(exc)) from exc
        except ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from exc
        body: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        return JSONResponse(body, headers=NO_STORE)

    async def authorize(self, request: Request) -> Response:
        """GET /v2/oauth/authorize: always consents and redirects back with a code."""
        query = request.query_params
        client = self.state.get_client(query.get("client_id") or "")
        if client is None:
            return OAuthError("invalid_request", "Unknown client_id.").response()
        redirect_uri = query.get("redirect_uri")
        exact = self.state.knobs().exact_redirect_uris
        if not redirect_uri or not redirect_uri_registered(client, redirect_uri, exact):
            return OAuthError(
                "invalid_request", "redirect_uri is missing or not registered for this client."
            ).response()
        state_param = query.get("state")

        def back(**params: str | None) -> Response:
            target = _with_query(redirect_uri, {**params, "state": state_param})
            return RedirectResponse(target, status_code=302, headers=NO_STORE)

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="Use 'code'.")
        challenge = query.get("code_challenge")
        if query.get("code_challenge_method") != "S256" or not challenge:
            description = "PKCE is required: code_challenge with code_challenge_method=S256."
            return back(error="invalid_request", error_description=description)
        if not _CHALLENGE_RE.fullmatch(challenge):
            description = "code_challenge must be base64url(sha256(code_verifier)), unpadded."
            return back(error="invalid_request", error_description=description)
        requested = parse_scope(query.get("scope"))
        if requested is not None and not set(requested) <= set(client.allowed_scopes):
            return back(error="invalid_scope", error_description="Scope not allowed.")
        scope = " ".join(requested or client.allowed_scopes)
        code = self.state.create_code(client, redirect_uri, challenge, scope)
        return back(code=code)

    async def introspect(self, request: Request) -> Response:
        """POST /v2/oauth/introspect (client-authenticated)."""
        try:
            params = parse_params(request.headers.get("content-type"), await request.body())
            client = authenticate_client(self.state, request.headers.get("authorization"), params)
            token = params.get("token")
            if not token:
                raise OAuthError("invalid_request", "token is required.")
        except OAuthError as exc:
            return exc.response()
        kinds: tuple[TokenKind, TokenKind] = ("access_token", "refresh_token")
        if params.get("token_type_hint") == "refresh_token":
            kinds = ("refresh_token", "access_token")
        for kind in kinds:
            info, _ = self.state.lookup_token(token, kind=kind)
            # Tokens of other clients are reported inactive rather than disclosed.
            if info is not None and info.client_id == client.client_id:
                body = {
                    "active": True,
                    "client_id": info.client_id,
                    "scope": info.scope,
                    "exp": int(info.expires_at),
                    "iat": int(info.issued_at),
                    "iss": str(request.base_url).rstrip("/"),
                    "token_type": "Bearer" if kind == "access_token" else "refresh_token",
                }
                return JSONResponse(body, headers=NO_STORE)
        return JSONResponse({"active": False}, headers=NO_STORE)

    async def metadata(self, request: Request) -> Response:
        """RFC 8414 authorization server metadata."""
        issuer = str(request.base_url).rstrip("/")
        body = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/v2/oauth/authorize",
            "token_endpoint": f"{issuer}/v2/oauth/token",
            "introspection_endpoint": f"{issuer}/v2/oauth/introspect",
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(self.state.default_scopes()),
        }
        return JSONResponse(body)
