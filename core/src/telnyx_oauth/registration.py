"""Register an OAuth client with Telnyx (RFC 7591), and read the grants users gave clients.

Every argument is checked before anything is sent: a redirect URI must be https (or http on a
loopback host) and each grant type one Telnyx knows, so bad input costs no request.

Example:
    ```python
    client = register_client("https://api.telnyx.com/v2", name="nightly-etl")
    client.client_secret  # SecretStr: shown once by the CLI, then kept in a block
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from telnyx_oauth._redact import redact
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.errors import ConfigurationError, TelnyxAPIError, TelnyxErrorDetail

__all__ = [
    "AUTH_METHODS",
    "GRANT_TYPES",
    "OAuthGrant",
    "RegisteredClient",
    "check_registration",
    "parse_grants",
    "register_client",
]

GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


@dataclass(frozen=True)
class RegisteredClient:
    """What Telnyx answered to a registration; the secret stays a `SecretStr`."""

    client_id: str
    client_secret: SecretStr | None
    client_name: str | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str | None
    token_endpoint_auth_method: str


@dataclass(frozen=True)
class OAuthGrant:
    """One grant a user gave a client (`GET /oauth/grants`)."""

    id: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: datetime | None
    last_used_at: datetime | None = field(default=None)


def check_registration(
    *, name: str, redirect_uris: Sequence[str], grant_types: Sequence[str], auth_method: str
) -> dict[str, Any]:
    """The registration body, or a `ConfigurationError` naming the bad value (nothing sent).

    Raises:
        ConfigurationError: an empty name, a redirect URI that is not https (nor http on
            loopback), an unknown grant type or auth method, or authorization_code without
            a redirect URI.
    """
    if not name.strip():
        raise ConfigurationError("The client name is empty; give it a name users will see.")
    unknown = [grant for grant in grant_types if grant not in GRANT_TYPES]
    if unknown or not grant_types:
        msg = (
            f"Unknown grant type {unknown[0]!r}. " if unknown else "No grant type. "
        ) + f"Use one or more of: {', '.join(GRANT_TYPES)}."
        raise ConfigurationError(msg)
    if auth_method not in AUTH_METHODS:
        msg = f"Unknown token endpoint auth method {auth_method!r}; use one of {AUTH_METHODS}."
        raise ConfigurationError(msg)
    uris = [require_secure_url(uri, name="redirect URI") for uri in redirect_uris]
    if "authorization_code" in grant_types and not uris:
        msg = "The authorization_code grant needs a redirect URI (--redirect-uri)."
        raise ConfigurationError(msg)
    return {
        "client_name": name,
        "redirect_uris": uris,
        "grant_types": list(grant_types),
        "token_endpoint_auth_method": auth_method,
    }


def register_client(
    base_url: str,
    *,
    name: str,
    redirect_uris: Sequence[str] = (),
    grant_types: Sequence[str] = ("client_credentials",),
    scope: str | None = None,
    auth_method: str = "client_secret_basic",
    api_key: SecretStr | None = None,
    client: httpx.Client | None = None,
    timeout_seconds: float = 30.0,
) -> RegisteredClient:
    """Register an OAuth client at `{base_url}/oauth/register` (RFC 7591).

    Args:
        base_url: The Telnyx API root, e.g. `https://api.telnyx.com/v2`.
        name: The client's name, shown to users who authorize it.
        redirect_uris: Where the authorization code flow may return (https, or loopback http).
        grant_types: Among `client_credentials`, `authorization_code`, `refresh_token`.
        scope: Space-separated scopes the client may ask for (Telnyx's default if None).
        auth_method: How the client will authenticate at the token endpoint.
        api_key: A Telnyx API key sent as Bearer, if the server asks for one.
        client: An `httpx.Client` to send with (one is opened per call otherwise).
        timeout_seconds: The request's timeout.

    Raises:
        ConfigurationError: bad input (before any request), or a base URL that is not https.
        TelnyxAPIError: Telnyx refused the registration (its RFC 7591 error is in the text).
    """
    url = require_secure_url(base_url, name="base_url") + "/oauth/register"
    body = check_registration(
        name=name, redirect_uris=redirect_uris, grant_types=grant_types, auth_method=auth_method
    )
    if scope:
        body["scope"] = scope
    headers = {"Accept": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
    if client is None:
        with httpx.Client(timeout=timeout_seconds) as own:
            response = own.post(url, json=body, headers=headers)
    else:
        response = client.post(url, json=body, headers=headers, timeout=timeout_seconds)
    hidden = [api_key.get_secret_value()] if api_key is not None else []
    if response.status_code != 201 and response.status_code != 200:
        raise _refused(response, url, hidden)
    data = response.json()
    secret = data.get("client_secret")
    return RegisteredClient(
        client_id=str(data["client_id"]),
        client_secret=SecretStr(secret) if secret else None,
        client_name=data.get("client_name"),
        redirect_uris=tuple(data.get("redirect_uris") or ()),
        grant_types=tuple(data.get("grant_types") or ()),
        scope=data.get("scope"),
        token_endpoint_auth_method=data.get("token_endpoint_auth_method", auth_method),
    )


def parse_grants(body: dict[str, Any]) -> list[OAuthGrant]:
    """The grants of one `GET /oauth/grants` page body."""
    return [
        OAuthGrant(
            id=str(item["id"]),
            client_id=str(item.get("client_id")),
            scopes=tuple(item.get("scopes") or ()),
            created_at=_instant(item.get("created_at")),
            last_used_at=_instant(item.get("last_used_at")),
        )
        for item in body.get("data") or []
    ]


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _refused(response: httpx.Response, url: str, hidden: list[str]) -> TelnyxAPIError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    said = f" ({redact(str(error), hidden)}: {redact(str(description or ''), hidden)[:200]!r})"
    msg = (
        f"Telnyx refused to register the client at {url} with status {response.status_code}"
        f"{said if error else ''}. Check the name, redirect URIs and grant types."
    )
    detail = TelnyxErrorDetail(code=str(error) if error else None, title=None, detail=None)
    return TelnyxAPIError(msg, status_code=response.status_code, errors=[detail])
