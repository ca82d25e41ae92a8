"""The exceptions raised by telnyx-oauth-core (and re-exported by the front ends).

Every exception derives from `TelnyxOAuthError`, and no message ever contains a secret::

    TelnyxOAuthError
    ├── ConfigurationError            bad input: an http token URL, an empty client id, ...
    ├── TokenError                    the token endpoint did not give us a token
    │   ├── TokenRequestError         RFC 6749 error body (.status_code, .error, .error_description)
    │   │   ├── InvalidRequestError       400 invalid_request
    │   │   ├── InvalidClientError        401 invalid_client
    │   │   ├── InvalidGrantError         400 invalid_grant
    │   │   ├── InvalidScopeError         400 invalid_scope
    │   │   └── UnsupportedGrantTypeError 400 unsupported_grant_type
    │   ├── TokenResponseError        an answer that is neither a usable token nor an error body
    │   └── TokenEndpointUnavailableError  5xx, 429, network failures or the deadline ran out
    ├── TokenStoreError               the shared token store failed or held malformed token data
    │   └── TokenStoreUnavailableError    the store could not be reached in time (falls back)
    └── TelnyxAPIError                a Telnyx API call answered 4xx or 5xx (.status_code, .errors)
"""

from __future__ import annotations

from dataclasses import dataclass


class TelnyxOAuthError(Exception):
    """Base class of every error raised by telnyx-oauth-core."""


class ConfigurationError(TelnyxOAuthError):
    """A setting or argument is invalid; the message names it and says how to fix it.

    Deliberately not a `ValueError`, so pydantic lets it through unwrapped: constructing a block
    or settings with a bad value raises this type, not a generic `ValidationError`.
    """


class TokenError(TelnyxOAuthError):
    """The token endpoint did not give us a usable token."""

    attempts: int = 1
    """Token requests this call made before it gave up, the retried ones included."""


class TokenRequestError(TokenError):
    """The token endpoint answered with an RFC 6749 error body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str,
        error_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.error_description = error_description


class InvalidRequestError(TokenRequestError):
    """400 invalid_request: a parameter is missing, repeated or malformed."""


class InvalidClientError(TokenRequestError):
    """401 invalid_client: the client id or secret was rejected."""


class InvalidGrantError(TokenRequestError):
    """400 invalid_grant: the refresh token or authorization code is invalid, used or expired."""


class InvalidScopeError(TokenRequestError):
    """400 invalid_scope: the requested scope is unknown or not allowed for this client."""


class UnsupportedGrantTypeError(TokenRequestError):
    """400 unsupported_grant_type: the server does not support this grant."""


class TokenResponseError(TokenError):
    """The token endpoint answered with something that is neither a valid token nor an error."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class TokenEndpointUnavailableError(TokenError):
    """The token endpoint kept failing transiently (5xx, 429, timeouts) until attempts or the
    call's deadline ran out."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        retry_after: float | None,
        attempts: int,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = attempts


class TokenStoreError(TelnyxOAuthError):
    """The shared token store failed, or held token data that is not a token."""


class TokenStoreUnavailableError(TokenStoreError):
    """The shared token store could not be reached in time; the cache falls back to memory."""


@dataclass(frozen=True)
class TelnyxErrorDetail:
    """One entry of a Telnyx API error body: `{"errors": [{"code", "title", "detail"}]}`."""

    code: str | None
    title: str | None
    detail: str | None


class TelnyxAPIError(TelnyxOAuthError):
    """A Telnyx API call answered with a 4xx or 5xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        errors: list[TelnyxErrorDetail],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = errors
        self.retry_after = retry_after


OAUTH_ERRORS: dict[str, type[TokenRequestError]] = {
    "invalid_request": InvalidRequestError,
    "invalid_client": InvalidClientError,
    "invalid_grant": InvalidGrantError,
    "invalid_scope": InvalidScopeError,
    "unsupported_grant_type": UnsupportedGrantTypeError,
}
"""RFC 6749 error codes of the spec, mapped to their exception classes."""
