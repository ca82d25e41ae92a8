"""The token endpoint protocol without I/O: build the request, parse the answer, decide retries.

Every function here is pure, so the sync and async shells of `token_client.py`, the token cache
and the tests share one implementation of RFC 6749
§2.3.1 (client authentication), §4.1.3, §4.4 and §6 (the three grants) and §5 (the answers) as the
Telnyx spec `telnyx-oauth-token.openapi.yaml` describes them.

Nothing here puts a client secret, an authorization code, a PKCE verifier or a token into an
exception message: messages name the token URL, the client id, the grant and the status.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import quote_plus, urlencode

import httpx
from pydantic import SecretStr

from prefect_telnyx_oauth._urls import require_secure_url
from prefect_telnyx_oauth.errors import (
    OAUTH_ERRORS,
    ConfigurationError,
    TokenRequestError,
    TokenResponseError,
)
from prefect_telnyx_oauth.models import GrantType, TelnyxToken
from prefect_telnyx_oauth.settings import TokenEndpointAuthMethod, TokenRequestFormat

MAX_BODY_BYTES: Final = 64 * 1024
"""Token and error bodies are a few hundred bytes; anything over this is not a token answer."""

MAX_EXPIRES_IN_SECONDS: Final = 366 * 24 * 3600
"""An `expires_in` above a year is a server bug, and would keep a token cached far too long."""

STATUS_PAGE_URL: Final = "https://status.telnyx.com"

_DESCRIPTION_LIMIT = 200
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_BODY_FORMATS = ("form", "json")


@dataclass(frozen=True)
class ClientCredentialsGrant:
    """RFC 6749 §4.4: a token for the client itself."""

    grant_type: ClassVar[GrantType] = "client_credentials"
    scope: str | None = None


@dataclass(frozen=True)
class RefreshTokenGrant:
    """RFC 6749 §6: trade a refresh token for a new access token."""

    grant_type: ClassVar[GrantType] = "refresh_token"
    refresh_token: SecretStr
    scope: str | None = None


@dataclass(frozen=True)
class AuthorizationCodeGrant:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636): trade an authorization code for tokens."""

    grant_type: ClassVar[GrantType] = "authorization_code"
    # A code is single-use and the verifier proves possession; neither belongs in a repr.
    code: str = field(repr=False)
    redirect_uri: str
    code_verifier: str = field(repr=False)


Grant = ClientCredentialsGrant | RefreshTokenGrant | AuthorizationCodeGrant


@dataclass(frozen=True)
class TokenEndpointConfig:
    """Where and how to ask for tokens, and how hard to retry.

    Args:
        token_url: The token endpoint; https, or http on a loopback host (the emulator).
        client_id: The OAuth client id.
        client_secret: The OAuth client secret; never shown by `repr`.
        auth_method: `client_secret_basic` (HTTP Basic, RFC 6749 §2.3.1) or `client_secret_post`.
        body_format: `form` (application/x-www-form-urlencoded) or `json`.
        timeout_seconds: Timeout of each HTTP request.
        max_attempts: Attempts per token request, counting the first.
        backoff_base_seconds: The first retry waits up to this long (full jitter), doubling after.
        backoff_max_seconds: Upper bound of one backoff wait.
        retry_after_cap_seconds: The longest `Retry-After` we wait; a longer one ends the retries.

    Raises:
        ConfigurationError: a value is invalid; the message names it.
    """

    token_url: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    auth_method: TokenEndpointAuthMethod = "client_secret_basic"
    body_format: TokenRequestFormat = "form"
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    retry_after_cap_seconds: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_url", require_secure_url(self.token_url, name="token_url"))
        if isinstance(self.client_secret, str):
            # A plain str would show up in repr() of anything holding it; wrap it at the door.
            object.__setattr__(self, "client_secret", SecretStr(self.client_secret))
        if not self.client_id:
            msg = "client_id is empty. Set it to the OAuth client id from the Telnyx portal."
            raise ConfigurationError(msg)
        if not self.client_secret.get_secret_value():
            msg = f"client_secret of client id {self.client_id!r} is empty. Set it."
            raise ConfigurationError(msg)
        if self.auth_method not in _AUTH_METHODS:
            msg = f"auth_method {self.auth_method!r} is not one of {', '.join(_AUTH_METHODS)}."
            raise ConfigurationError(msg)
        if self.body_format not in _BODY_FORMATS:
            msg = f"body_format {self.body_format!r} is not one of {', '.join(_BODY_FORMATS)}."
            raise ConfigurationError(msg)
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            msg = f"max_attempts must be an int >= 1, got {self.max_attempts!r}."
            raise ConfigurationError(msg)
        if self.max_attempts < 1:
            msg = f"max_attempts must be >= 1, got {self.max_attempts}."
            raise ConfigurationError(msg)
        for name in ("timeout_seconds", "backoff_base_seconds", "backoff_max_seconds"):
            _require_seconds(name, getattr(self, name), allow_zero=name != "timeout_seconds")
        _require_seconds("retry_after_cap_seconds", self.retry_after_cap_seconds, allow_zero=True)

    @classmethod
    def from_base_url(cls, base_url: str, **kwargs: Any) -> TokenEndpointConfig:
        """Build a config whose token URL is `base_url + "/oauth/token"`.

        Example:
            ```python
            config = TokenEndpointConfig.from_base_url(
                "https://api.telnyx.com/v2", client_id="...", client_secret=SecretStr("...")
            )
            ```
        """
        base = require_secure_url(base_url, name="base_url")
        return cls(token_url=f"{base}/oauth/token", **kwargs)


def _require_seconds(name: str, value: float, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be a finite number of seconds {bound}, got {value!r}."
        raise ConfigurationError(msg)


# --- request -------------------------------------------------------------------------------------


def basic_authorization(client_id: str, client_secret: SecretStr) -> str:
    """The `Authorization` header value of `client_secret_basic`.

    RFC 6749 §2.3.1 form-urlencodes the id and the secret before joining them with ":", so a
    secret holding ":" or "%" or non-ASCII text still splits and decodes unambiguously.
    """
    userpass = f"{quote_plus(client_id)}:{quote_plus(client_secret.get_secret_value())}"
    return "Basic " + base64.b64encode(userpass.encode("ascii")).decode("ascii")


def token_request_fields(config: TokenEndpointConfig, grant: Grant) -> dict[str, str]:
    """The body parameters of a token request, in a fixed order, with no empty ones."""
    fields: dict[str, str] = {"grant_type": grant.grant_type}
    if isinstance(grant, ClientCredentialsGrant):
        optional: dict[str, str | None] = {"scope": grant.scope}
    elif isinstance(grant, RefreshTokenGrant):
        fields["refresh_token"] = grant.refresh_token.get_secret_value()
        optional = {"scope": grant.scope}
    else:
        fields |= {
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.code_verifier,
        }
        optional = {}
    fields |= {key: value for key, value in optional.items() if value is not None}
    if config.auth_method == "client_secret_post":
        fields["client_id"] = config.client_id
        fields["client_secret"] = config.client_secret.get_secret_value()
    return fields


def build_token_request(config: TokenEndpointConfig, grant: Grant) -> httpx.Request:
    """Build the `POST {token_url}` request for `grant`, with the per-request timeout attached.

    The timeout lives in the request's extensions, so it applies even on a caller's client whose
    own default timeout differs.
    """
    fields = token_request_fields(config, grant)
    headers = {"Accept": "application/json"}
    if config.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_authorization(config.client_id, config.client_secret)
    if config.body_format == "json":
        headers["Content-Type"] = "application/json"
        content = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = urlencode(fields).encode("ascii")
    return httpx.Request(
        "POST",
        config.token_url,
        headers=headers,
        content=content,
        extensions={"timeout": httpx.Timeout(config.timeout_seconds).as_dict()},
    )


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


# --- response ------------------------------------------------------------------------------------


def parse_token_response(
    response: httpx.Response, *, config: TokenEndpointConfig, grant: Grant, sent_at: datetime
) -> TelnyxToken:
    """Turn a read token endpoint answer into a `TelnyxToken`, or raise the matching error.

    Statuses 429 and 5xx are the retry policy's business (`_token_retry.retry_delay`); given one
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
        location = _without_query(response.headers.get("location", ""))
        to = f" to {location}" if location else ""
        msg = (
            f"{where} answered {status} (a redirect{to}). The token URL is probably wrong: it "
            "should be the API base URL plus /oauth/token, e.g. "
            "https://api.telnyx.com/v2/oauth/token."
        )
        raise TokenResponseError(msg, status_code=status)
    size = _body_size(response)
    if size > MAX_BODY_BYTES:
        msg = (
            f"{where} answered {status} with a {size}-byte body, over the "
            f"{MAX_BODY_BYTES}-byte limit for a token answer. Check the token URL."
        )
        raise TokenResponseError(msg, status_code=status)
    if 200 <= status <= 299:
        return _token_from_body(response, config=config, grant=grant, sent_at=sent_at)
    if 400 <= status <= 499 and status != 429:
        raise _request_error(response, config=config, grant=grant)
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
    return url.split("?", 1)[0].split("#", 1)[0][:_DESCRIPTION_LIMIT]


def _json_body(response: httpx.Response) -> object:
    """The decoded JSON body, or `_NOT_JSON`; never lets a decoder error (and its input) out."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def _describe_body(response: httpx.Response) -> str:
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
    kind = content_type[:60] if content_type else "untyped"
    return f"a {len(response.content)}-byte {kind} body"


def _token_from_body(
    response: httpx.Response, *, config: TokenEndpointConfig, grant: Grant, sent_at: datetime
) -> TelnyxToken:
    status = response.status_code
    where = f"Telnyx token endpoint {config.token_url}"
    body = _json_body(response)
    problem = _token_body_problem(body)
    if problem is not None:
        if body is _NOT_JSON:
            problem = f"{_describe_body(response)} that is not JSON"
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
            "Telnyx API; check token_url/base_url."
        )
    return f"This is a server-side problem; try again later or check {STATUS_PAGE_URL}."


_ERROR_NEXT_STEPS: dict[str, str] = {
    "invalid_client": "Check client_id and client_secret{method_hint}.",
    "invalid_request": (
        "The request was malformed for this server; check the grant parameters and, if they are "
        "right, try body_format='form'."
    ),
    "invalid_scope": "Request only scopes this client is allowed, or no scope for its default.",
    "unsupported_grant_type": (
        "Enable the {grant_type} grant for this OAuth client in the Telnyx portal, or use "
        "another grant."
    ),
}
_INVALID_GRANT_NEXT_STEPS: dict[GrantType, str] = {
    "refresh_token": (
        "The refresh token is expired, revoked or already used; get a new one with the "
        "authorization flow or the client_credentials grant."
    ),
    "authorization_code": (
        "The code is expired or already used, or redirect_uri/code_verifier differ from the "
        "authorize request; start the authorization again."
    ),
    "client_credentials": "Check that this client may use the client_credentials grant.",
}


def _request_error(
    response: httpx.Response, *, config: TokenEndpointConfig, grant: Grant
) -> TokenRequestError | TokenResponseError:
    status = response.status_code
    where = f"Telnyx token endpoint {config.token_url}"
    body = _json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error.strip():
        hint = " (check client_id and client_secret)" if status == 401 else ""
        msg = (
            f"{where} answered {status} to the {grant.grant_type} grant of client id "
            f"{config.client_id!r} without an OAuth error body ({_describe_body(response)}). "
            f"Check that the token URL is the Telnyx API's /oauth/token{hint}."
        )
        return TokenResponseError(msg, status_code=status)
    assert isinstance(body, dict)
    error = _printable(error, config, grant, limit=64)
    raw_description = body.get("error_description")
    description = (
        _printable(raw_description, config, grant, limit=_DESCRIPTION_LIMIT)
        if isinstance(raw_description, str) and raw_description.strip()
        else None
    )
    detail = f"{error}: {description!r}" if description else error
    if error == "invalid_client":
        what = f"Telnyx rejected the client credentials for client id {config.client_id!r}"
    elif error == "invalid_scope":
        scope = None if isinstance(grant, AuthorizationCodeGrant) else grant.scope
        what = f"Telnyx rejected the scope {scope!r} requested by client id {config.client_id!r}"
    else:
        what = (
            f"Telnyx refused the {grant.grant_type} token request of client id "
            f"{config.client_id!r} with status {status}"
        )
    if error == "invalid_grant":
        next_step = _INVALID_GRANT_NEXT_STEPS[grant.grant_type]
    else:
        other = _AUTH_METHODS[1 - _AUTH_METHODS.index(config.auth_method)]
        next_step = _ERROR_NEXT_STEPS.get(
            error, "See the error description and the Telnyx OAuth documentation."
        ).format(grant_type=grant.grant_type, method_hint=f", or try auth_method={other!r}")
    msg = f"{what} ({detail}). {next_step}"
    error_class = OAUTH_ERRORS.get(error, TokenRequestError)
    return error_class(msg, status_code=status, error=error, error_description=description)


def _printable(text: str, config: TokenEndpointConfig, grant: Grant, *, limit: int) -> str:
    """Server text made safe to show: our own secrets masked, one line, at most `limit` chars."""
    for secret in _known_secrets(config, grant):
        text = text.replace(secret, "***")
    text = "".join(char if char.isprintable() else " " for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _known_secrets(config: TokenEndpointConfig, grant: Grant) -> list[str]:
    secrets = [config.client_secret.get_secret_value()]
    if isinstance(grant, RefreshTokenGrant):
        secrets.append(grant.refresh_token.get_secret_value())
    elif isinstance(grant, AuthorizationCodeGrant):
        secrets += [grant.code, grant.code_verifier]
    # Longest first, so a secret containing another is masked whole.
    return sorted((secret for secret in secrets if secret), key=len, reverse=True)
