"""An always-valid Telnyx OAuth bearer token for Prefect flows.

```python
from prefect import flow
from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token

@flow
def pipeline():
    token = get_telnyx_token("prod-telnyx")
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prefect_telnyx_oauth._version import __version__

_EXPORTS: dict[str, str] = {
    "generate_pkce_pair": "telnyx_oauth.pkce",
    "build_authorization_url": "telnyx_oauth.pkce",
    "PkcePair": "telnyx_oauth.pkce",
    "discover": "telnyx_oauth.discovery",
    "adiscover": "telnyx_oauth.discovery",
    "ServerMetadata": "telnyx_oauth.discovery",
    "introspect_token": "telnyx_oauth.discovery",
    "aintrospect_token": "telnyx_oauth.discovery",
    "TokenIntrospection": "telnyx_oauth.discovery",
    "IntrospectionError": "telnyx_oauth.discovery",
    "TokenStoreError": "telnyx_oauth.errors",
    "TokenStoreUnavailableError": "telnyx_oauth.errors",
    "aget_telnyx_sdk_client": "prefect_telnyx_oauth.sdk",
    "arequest_token": "telnyx_oauth.token_client",
    "AuthorizationCodeGrant": "telnyx_oauth.token_client",
    "ClientCredentialsGrant": "telnyx_oauth.token_client",
    "ConfigurationError": "telnyx_oauth.errors",
    "get_balance": "prefect_telnyx_oauth.account",
    "get_message": "prefect_telnyx_oauth.messaging",
    "get_telnyx_auth_headers": "prefect_telnyx_oauth.tasks",
    "get_telnyx_sdk_client": "prefect_telnyx_oauth.sdk",
    "get_telnyx_token": "prefect_telnyx_oauth.tasks",
    "InvalidClientError": "telnyx_oauth.errors",
    "InvalidGrantError": "telnyx_oauth.errors",
    "InvalidRequestError": "telnyx_oauth.errors",
    "InvalidScopeError": "telnyx_oauth.errors",
    "list_phone_numbers": "prefect_telnyx_oauth.numbers",
    "lookup_number": "prefect_telnyx_oauth.numbers",
    "message_idempotency_key": "prefect_telnyx_oauth.messaging",
    "RefreshTokenGrant": "telnyx_oauth.token_client",
    "request_token": "telnyx_oauth.token_client",
    "send_message": "prefect_telnyx_oauth.messaging",
    "telnyx_request": "prefect_telnyx_oauth._api",
    "TelnyxAPIError": "telnyx_oauth.errors",
    "TelnyxErrorDetail": "telnyx_oauth.errors",
    "TelnyxOAuth": "telnyx_oauth.auth",
    "TelnyxOAuthCredentials": "prefect_telnyx_oauth.credentials",
    "TelnyxOAuthError": "telnyx_oauth.errors",
    "TelnyxSettings": "telnyx_oauth.settings",
    "TelnyxToken": "telnyx_oauth.models",
    "TokenEndpointConfig": "telnyx_oauth.token_client",
    "TokenEndpointUnavailableError": "telnyx_oauth.errors",
    "TokenError": "telnyx_oauth.errors",
    "TokenRequestError": "telnyx_oauth.errors",
    "TokenResponseError": "telnyx_oauth.errors",
    "UnsupportedGrantTypeError": "telnyx_oauth.errors",
}
"""Public name -> the module that defines it; imported on first use (PEP 562)."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    # `prefect block register -m prefect_telnyx_oauth` finds the block through dir().
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from prefect_telnyx_oauth._api import telnyx_request
    from prefect_telnyx_oauth._version import __version__
    from prefect_telnyx_oauth.account import get_balance
    from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
    from prefect_telnyx_oauth.messaging import get_message, message_idempotency_key, send_message
    from prefect_telnyx_oauth.numbers import list_phone_numbers, lookup_number
    from prefect_telnyx_oauth.sdk import aget_telnyx_sdk_client, get_telnyx_sdk_client
    from prefect_telnyx_oauth.tasks import get_telnyx_auth_headers, get_telnyx_token
    from telnyx_oauth.auth import TelnyxOAuth
    from telnyx_oauth.discovery import (
        IntrospectionError,
        ServerMetadata,
        TokenIntrospection,
        adiscover,
        aintrospect_token,
        discover,
        introspect_token,
    )
    from telnyx_oauth.errors import (
        ConfigurationError,
        InvalidClientError,
        InvalidGrantError,
        InvalidRequestError,
        InvalidScopeError,
        TelnyxAPIError,
        TelnyxErrorDetail,
        TelnyxOAuthError,
        TokenEndpointUnavailableError,
        TokenError,
        TokenRequestError,
        TokenResponseError,
        TokenStoreError,
        TokenStoreUnavailableError,
        UnsupportedGrantTypeError,
    )
    from telnyx_oauth.models import TelnyxToken
    from telnyx_oauth.pkce import PkcePair, build_authorization_url, generate_pkce_pair
    from telnyx_oauth.settings import TelnyxSettings
    from telnyx_oauth.token_client import (
        AuthorizationCodeGrant,
        ClientCredentialsGrant,
        RefreshTokenGrant,
        TokenEndpointConfig,
        arequest_token,
        request_token,
    )

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "ConfigurationError",
    "IntrospectionError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "PkcePair",
    "RefreshTokenGrant",
    "ServerMetadata",
    "TelnyxAPIError",
    "TelnyxErrorDetail",
    "TelnyxOAuth",
    "TelnyxOAuthCredentials",
    "TelnyxOAuthError",
    "TelnyxSettings",
    "TelnyxToken",
    "TokenEndpointConfig",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenIntrospection",
    "TokenRequestError",
    "TokenResponseError",
    "TokenStoreError",
    "TokenStoreUnavailableError",
    "UnsupportedGrantTypeError",
    "__version__",
    "adiscover",
    "aget_telnyx_sdk_client",
    "aintrospect_token",
    "arequest_token",
    "build_authorization_url",
    "discover",
    "generate_pkce_pair",
    "get_balance",
    "get_message",
    "get_telnyx_auth_headers",
    "get_telnyx_sdk_client",
    "get_telnyx_token",
    "introspect_token",
    "list_phone_numbers",
    "lookup_number",
    "message_idempotency_key",
    "request_token",
    "send_message",
    "telnyx_request",
]
