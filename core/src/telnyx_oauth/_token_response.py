"""The token endpoint's answer without I/O: a token, or the typed error that says what to do next.

RFC 6749 §5 (the answers) as the Telnyx spec `telnyx-oauth-token.openapi.yaml` describes them.
The error messages themselves live in `_token_errors.py`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Final

import httpx
from pydantic import SecretStr

from telnyx_oauth._redact import printable
from telnyx_oauth._token_errors import (
    STATUS_PAGE_URL,
    describe_body,
    grant_secrets,
    request_error,
)
from telnyx_oauth._token_request import (
    AuthorizationCodeGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
)
from telnyx_oauth.errors import ConfigurationError, TokenResponseError
from telnyx_oauth.models import TelnyxToken

MAX_BODY_BYTES: Final = 64 * 1024
"""Token and error bodies are a few hundred bytes; anything over this is not a token answer."""

MAX_EXPIRES_IN_SECONDS: Final = 366 * 24 * 3600
"""An `expires_in` above a year is a server bug, and would keep a token cached far too long."""

_LOCATION_LIMIT = 200
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


class BodyBuffer:
    """Collects a response body, stopping just past `MAX_BODY_BYTES`.

    The shells stream the body through this so a hostile or broken endpoint cannot make us hold
    megabytes in memory; the parser then rejects the oversized body it sees.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bool:
        """Add a chunk; True once the body is over the cap and reading should stop."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        return self._size > MAX_BODY_BYTES

    def response(self, streamed: httpx.Response, request: httpx.Request) -> httpx.Response:
        """A read response with the streamed one's status and headers and the collected body."""
        # The chunks are already decoded, so the content coding must not be applied twice.
        headers = [
            (key, value)
            for key, value in streamed.headers.multi_items()
            if key.lower() not in ("content-encoding", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=b"".join(self._chunks),
            request=request,
        )


def parse_token_response(
    response: httpx.Response, *, config: TokenEndpointConfig, grant: Grant, sent_at: datetime
) -> TelnyxToken:
    """Turn a read token endpoint answer into a `TelnyxToken`, or raise the matching error.

    Statuses 429 and 5xx are the retry policy's business (`_retry.retry_delay`); given one
    anyway, this raises `TokenResponseError`.

    Args:
        response: The answer, with its body read.
        config: The config the request was built from (for messages and redaction).
        grant: The grant that was sent (a refresh grant's token survives a response without one).
        sent_at: When the request was sent (aware); the token expires `expires_in` after it, so
            network latency never lengthens a token's life.

    Returns:
        The token, with `expires_at = sent_at + expires_in` and `issued_at = sent_at`.

    Raises:
        TokenRequestError: a 4xx with an RFC 6749 error body (a subclass per known error code).
        TokenResponseError: anything else that is not a usable token.
        ConfigurationError: `sent_at` is naive.
    """
    if sent_at.tzinfo is None:
        msg = "sent_at must be timezone-aware; the injected now() returned a naive datetime."
        raise ConfigurationError(msg)
    status = response.status_code
    where = f"Telnyx token endpoint {config.token_url}"
    if 300 <= status <= 399:
        # A server may echo what it received into the path it redirects to.
        location = printable(
            _without_query(response.headers.get("location", "")), grant_secrets(config, grant)
        )
        to = f" to {location}" if location else ""
        msg = (
            f"{where} answered {status} (a redirect{to}). The token URL is probably wrong: it "
            "should be the API base URL plus /oauth/token, e.g. "
            "https://api.telnyx.com/v2/oauth/token. Check base_url and token_url."
        )
        raise TokenResponseError(msg, status_code=status)
    size = _body_size(response)
    if size > MAX_BODY_BYTES:
        msg = (
            f"{where} answered {status} with a {size}-byte body, over the "
            f"{MAX_BODY_BYTES}-byte limit for a token answer. Check base_url and token_url."
        )
        raise TokenResponseError(msg, status_code=status)
    if 200 <= status <= 299:
        return _token_from_body(response, config=config, grant=grant, sent_at=sent_at)
    if 400 <= status <= 499 and status != 429:
        raise request_error(response, json_body(response), config=config, grant=grant)
    msg = (
        f"{where} answered an unexpected status {status}. Try again later or check "
        f"{STATUS_PAGE_URL}."
    )
    raise TokenResponseError(msg, status_code=status)


def _body_size(response: httpx.Response) -> int:
    declared = response.headers.get("content-length", "")
    size = len(response.content)
    if declared.isdigit() and declared.isascii():
        return max(size, int(declared))
    return size


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0][:_LOCATION_LIMIT]


def json_body(response: httpx.Response) -> object:
    """The decoded JSON body, or `_NOT_JSON`; never lets a decoder error (and its input) out."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def _token_from_body(
    response: httpx.Response, *, config: TokenEndpointConfig, grant: Grant, sent_at: datetime
) -> TelnyxToken:
    status = response.status_code
    where = f"Telnyx token endpoint {config.token_url}"
    body = json_body(response)
    problem = _token_body_problem(body)
    if problem is not None:
        if body is _NOT_JSON:
            problem = f"{describe_body(response)} that is not JSON"
        msg = (
            f"{where} answered {status} for the {grant.grant_type} grant of client id "
            f"{config.client_id!r}, but not with a usable token: {problem}. "
            + _bad_body_next_step(response)
        )
        raise TokenResponseError(msg, status_code=status)
    assert isinstance(body, dict)  # _token_body_problem checked it
    refresh_token = body.get("refresh_token")
    kept_refresh = grant.refresh_token if isinstance(grant, RefreshTokenGrant) else None
    scope = body.get("scope")
    requested_scope = None if isinstance(grant, AuthorizationCodeGrant) else grant.scope
    return TelnyxToken(
        access_token=SecretStr(body["access_token"]),
        token_type="Bearer",
        expires_at=sent_at + timedelta(seconds=body["expires_in"]),
        issued_at=sent_at,
        scope=scope if scope is not None else requested_scope,
        refresh_token=SecretStr(refresh_token) if refresh_token else kept_refresh,
    )


def _token_body_problem(body: object) -> str | None:
    """What makes `body` not a token response, phrased without any of its values; None if fine."""
    if body is _NOT_JSON:
        return "not JSON"
    if not isinstance(body, dict):
        return f"JSON {type(body).__name__} instead of an object"
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        return "access_token is missing or not a non-empty string"
    if not _VISIBLE_ASCII.fullmatch(access_token):
        # It goes into an Authorization header verbatim; spaces or control bytes would break it.
        return "access_token contains characters that cannot go into a header"
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return "token_type is not Bearer"
    expires_in = body.get("expires_in")
    if type(expires_in) is not int:
        return "expires_in is missing or not an integer"
    if expires_in <= 0 or expires_in > MAX_EXPIRES_IN_SECONDS:
        return f"expires_in={expires_in} is outside 1..{MAX_EXPIRES_IN_SECONDS} seconds"
    for name in ("scope", "refresh_token"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return f"{name} is not a string"
    return None


def _bad_body_next_step(response: httpx.Response) -> str:
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        return (
            "An HTML page usually means the token URL points at a web page or a proxy, not the "
            "Telnyx API; check base_url and token_url."
        )
    return f"This is a server-side problem; try again later or check {STATUS_PAGE_URL}."
