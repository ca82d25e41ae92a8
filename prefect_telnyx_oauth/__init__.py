"""An always-valid Telnyx OAuth bearer token for Prefect flows.

```python
from prefect import flow
from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token

@flow
def pipeline():
    token = get_telnyx_token("prod-telnyx")
```
"""

from prefect_telnyx_oauth._api import telnyx_request
from prefect_telnyx_oauth._version import __version__
from prefect_telnyx_oauth.account import get_balance
from prefect_telnyx_oauth.auth import TelnyxOAuth
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.errors import (
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
    UnsupportedGrantTypeError,
)
from prefect_telnyx_oauth.messaging import get_message, message_idempotency_key, send_message
from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.numbers import list_phone_numbers, lookup_number
from prefect_telnyx_oauth.sdk import aget_telnyx_sdk_client, get_telnyx_sdk_client
from prefect_telnyx_oauth.settings import TelnyxSettings
from prefect_telnyx_oauth.tasks import get_telnyx_auth_headers, get_telnyx_token
from prefect_telnyx_oauth.token_client import (
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
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "RefreshTokenGrant",
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
    "TokenRequestError",
    "TokenResponseError",
    "UnsupportedGrantTypeError",
    "__version__",
    "aget_telnyx_sdk_client",
    "arequest_token",
    "get_balance",
    "get_message",
    "get_telnyx_auth_headers",
    "get_telnyx_sdk_client",
    "get_telnyx_token",
    "list_phone_numbers",
    "lookup_number",
    "message_idempotency_key",
    "request_token",
    "send_message",
    "telnyx_request",
]
