"""The token request without I/O: the grants, the endpoint configuration, and the request itself.

RFC 6749 §2.3.1 (client authentication), §4.1.3, §4.4 and §6 (the three grants) as the Telnyx
spec `telnyx-oauth-token.openapi.yaml` describes them. Nothing here puts a client secret, an
authorization code, a PKCE verifier or a token into an exception message or a repr.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from telnyx_oauth._checks import (
    check_attempts,
    check_choice,
    check_client_id,
    check_client_secret,
    check_seconds,
)
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth._version import __version__
from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.models import GrantType
from telnyx_oauth.settings import (
    AUTH_METHODS,
    BODY_FORMATS,
    TokenEndpointAuthMethod,
    TokenRequestFormat,
)

USER_AGENT = f"telnyx-oauth-core/{__version__} httpx/{httpx.__version__}"
"""Sent with every token request, so the server's logs tell our requests apart; a front end puts
its own product token first (`TokenEndpointConfig.user_agent_product`)."""

_PRODUCT = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An RFC 9110 product token with its version: `name/version`."""


def user_agent(product: str | None) -> str:
    """The User-Agent header: `product` (a front end's `name/version`), then the core's own."""
    return f"{product} {USER_AGENT}" if product else USER_AGENT


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
        user_agent_product: The front end's `name/version`, sent before the core's in the
            User-Agent (`prefect-telnyx-oauth/0.1.0 telnyx-oauth-core/0.1.0 httpx/...`).

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
    user_agent_product: str | None = None

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "token_url": require_secure_url(self.token_url, name="token_url"),
            "client_id": check_client_id(self.client_id),
            # A plain str would show up in repr() of anything holding it; wrap it at the door.
            "client_secret": check_client_secret(self.client_secret),
            "auth_method": check_choice("auth_method", self.auth_method, AUTH_METHODS),
            "body_format": check_choice("body_format", self.body_format, BODY_FORMATS),
            "max_attempts": check_attempts("max_attempts", self.max_attempts),
            "timeout_seconds": check_seconds(
                "timeout_seconds", self.timeout_seconds, allow_zero=False
            ),
        }
        product = self.user_agent_product
        if product is not None and not (isinstance(product, str) and _PRODUCT.fullmatch(product)):
            msg = (
                f"user_agent_product must be one `name/version` product token such as "
                f"'my-app/1.0', got {product!r}"
            )
            raise ConfigurationError(msg)
        for name in ("backoff_base_seconds", "backoff_max_seconds", "retry_after_cap_seconds"):
            checked[name] = check_seconds(name, getattr(self, name), allow_zero=True)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

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


def basic_authorization(client_id: str, client_secret: SecretStr) -> str:
    """The `Authorization` header value of `client_secret_basic`.

    RFC 6749 §2.3.1 encodes the id and the secret before joining them with ":", so a secret
    holding ":" or "%" or non-ASCII text still splits and decodes unambiguously. Percent-encoding
    (a space as `%20`, never `+`) round-trips on servers that decode with `unquote` (Authlib) and
    with `unquote_plus` (Spring) alike; a `+` for a space is refused by the first kind.
    """
    userpass = f"{quote(client_id, safe='')}:{quote(client_secret.get_secret_value(), safe='')}"
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


def build_token_request(
    config: TokenEndpointConfig, grant: Grant, *, timeout_seconds: float | None = None
) -> httpx.Request:
    """Build the `POST {token_url}` request for `grant`, with the per-request timeout attached.

    The timeout lives in the request's extensions, so it applies even on a caller's client whose
    own default timeout differs. `timeout_seconds` overrides `config.timeout_seconds` (a caller
    with less time left than that passes what remains).
    """
    fields = token_request_fields(config, grant)
    headers = {
        "Accept": "application/json",
        "User-Agent": user_agent(config.user_agent_product),
    }
    if config.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_authorization(config.client_id, config.client_secret)
    if config.body_format == "json":
        headers["Content-Type"] = "application/json"
        content = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = urlencode(fields).encode("ascii")
    timeout = config.timeout_seconds if timeout_seconds is None else timeout_seconds
    return httpx.Request(
        "POST",
        config.token_url,
        headers=headers,
        content=content,
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )
