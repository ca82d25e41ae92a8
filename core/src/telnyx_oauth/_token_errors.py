"""The typed errors of a failed token request, with messages that say what to do next.

Messages name the token URL, the client id, the grant, the status and the block field to change.
Text the server sent back is shown only after every form of our own secrets is masked in it.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from telnyx_oauth._redact import printable
from telnyx_oauth._retry import RetryLimits, is_transient, server_wait_seconds
from telnyx_oauth._token_request import (
    AuthorizationCodeGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
    basic_authorization,
)
from telnyx_oauth.errors import (
    OAUTH_ERRORS,
    TokenEndpointUnavailableError,
    TokenRequestError,
    TokenResponseError,
)
from telnyx_oauth.models import GrantType

STATUS_PAGE_URL = "https://status.telnyx.com"


def describe_body(response: httpx.Response) -> str:
    """`a 120-byte text/html body`: what came back, without any of it."""
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
    kind = content_type[:60] if content_type else "untyped"
    return f"a {len(response.content)}-byte {kind} body"


_ERROR_NEXT_STEPS: dict[str, str] = {
    "invalid_client": "Check client_id and client_secret{method_hint}.",
    "invalid_request": (
        "The server found the request malformed; check the grant parameters and, if they are "
        "right, try token_request_format='form'."
    ),
    "invalid_scope": "Request only scopes this client is allowed, or no scope for its default.",
    "unsupported_grant_type": (
        "Enable the {grant_type} grant for this OAuth client in the Telnyx portal, or use "
        "another grant."
    ),
}
_INVALID_GRANT_NEXT_STEPS: dict[GrantType, str] = {
    "refresh_token": (
        "The refresh token is expired, revoked or already used; the account must be connected "
        "again (the authorization code flow) for a new one."
    ),
    "authorization_code": (
        "The code is expired or already used, or redirect_uri/code_verifier differ from the "
        "authorize request; start the authorization again."
    ),
    "client_credentials": "Check that this client may use the client_credentials grant.",
}


def request_error(
    response: httpx.Response, body: object, *, config: TokenEndpointConfig, grant: Grant
) -> TokenRequestError | TokenResponseError:
    """The error for a 4xx answer whose decoded JSON body (or anything else) is `body`."""
    status = response.status_code
    where = f"Telnyx token endpoint {config.token_url}"
    error = body.get("error") if isinstance(body, dict) else None
    secrets = grant_secrets(config, grant)
    oauth_body = isinstance(error, str) and bool(error.strip())
    if status == 404 or not oauth_body:
        # No token endpoint answers 404, whatever the body says: the URL is wrong.
        said = (
            f"({printable(str(error), secrets)})"
            if oauth_body
            else f"without an OAuth error body ({describe_body(response)})"
        )
        msg = (
            f"{where} answered {status} to the {grant.grant_type} grant of client id "
            f"{config.client_id!r} {said}. " + _no_oauth_body_next_step(status)
        )
        return TokenResponseError(msg, status_code=status)
    assert isinstance(body, dict)
    assert isinstance(error, str)
    error = printable(error, secrets)
    raw_description = body.get("error_description")
    description = (
        printable(raw_description, secrets)
        if isinstance(raw_description, str) and raw_description.strip()
        else None
    )
    detail = f"{error}: {description!r}" if description else error
    msg = f"{_what_was_refused(error, status, config, grant)} ({detail}). "
    msg += _next_step(error, config, grant)
    error_class = OAUTH_ERRORS.get(error, TokenRequestError)
    return error_class(msg, status_code=status, error=error, error_description=description)


def _no_oauth_body_next_step(status: int) -> str:
    if status == 404:
        return (
            "Nothing answers at this URL: base_url must be the Telnyx API root ending in /v2 "
            "(https://api.telnyx.com/v2), or token_url is wrong."
        )
    hint = " Check client_id and client_secret." if status == 401 else ""
    return f"Check that base_url/token_url point at the Telnyx API's /oauth/token.{hint}"


def _what_was_refused(error: str, status: int, config: TokenEndpointConfig, grant: Grant) -> str:
    client = f"client id {config.client_id!r}"
    if error == "invalid_client":
        return f"Telnyx rejected the client credentials for {client}"
    if error == "invalid_scope":
        scope = None if isinstance(grant, AuthorizationCodeGrant) else grant.scope
        asked = f"the scope {scope!r}" if scope else "the client's default scope"
        return f"Telnyx rejected {asked} requested by {client}"
    return f"Telnyx refused the {grant.grant_type} token request of {client} with status {status}"


def _next_step(error: str, config: TokenEndpointConfig, grant: Grant) -> str:
    if error == "invalid_grant":
        return _INVALID_GRANT_NEXT_STEPS[grant.grant_type]
    other = (
        "client_secret_post"
        if config.auth_method == "client_secret_basic"
        else ("client_secret_basic")
    )
    return _ERROR_NEXT_STEPS.get(
        error, "See the error description and the Telnyx OAuth documentation."
    ).format(
        grant_type=grant.grant_type,
        method_hint=f", or try token_endpoint_auth_method={other!r}",
    )


def sent_secrets(config: TokenEndpointConfig, *others: str) -> list[str]:
    """Every secret a request authenticated as `config` carried (the Basic header's too), and
    `others` it also carried (a refresh token, a code, the token being introspected)."""
    secrets = [config.client_secret.get_secret_value(), *others]
    if config.auth_method == "client_secret_basic":
        header = basic_authorization(config.client_id, config.client_secret)
        secrets.append(header.removeprefix("Basic "))
    return secrets


def grant_secrets(config: TokenEndpointConfig, grant: Grant) -> list[str]:
    if isinstance(grant, RefreshTokenGrant):
        return sent_secrets(config, grant.refresh_token.get_secret_value())
    if isinstance(grant, AuthorizationCodeGrant):
        return sent_secrets(config, grant.code, grant.code_verifier)
    return sent_secrets(config)


def unavailable_error(
    outcome: httpx.Response | httpx.RequestError | None,
    *,
    config: TokenEndpointConfig,
    limits: RetryLimits,
    attempts: int,
    now: datetime,
    deadline_seconds: float | None = None,
) -> TokenEndpointUnavailableError:
    """The error for giving up after `attempts` attempts; says what to do next.

    `outcome` is the last answer or transport error, or None when the call's deadline ran out
    before another attempt could be made; `deadline_seconds` names that deadline.
    """
    where = f"Telnyx token endpoint {config.token_url}"
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    out_of_time = f" within token_deadline_seconds={deadline_seconds:g}" if deadline_seconds else ""
    if outcome is None or isinstance(outcome, httpx.RequestError):
        msg = _transport_message(outcome, where, tries, config)
        if deadline_seconds:
            msg += f" No token within token_deadline_seconds={deadline_seconds:g}."
        return TokenEndpointUnavailableError(
            msg, status_code=None, retry_after=None, attempts=attempts
        )
    status = outcome.status_code
    wait = server_wait_seconds(outcome, now=now)
    if wait is not None and wait > limits.retry_after_cap_seconds:
        msg = (
            f"{where} answered {status} and asked to wait {wait:.0f} s, longer than the "
            f"{limits.retry_after_cap_seconds:g} s worth waiting inside a task; try again after "
            "that wait."
        )
    elif status == 429:
        later = f"after {wait:.0f} s" if wait is not None else "later"
        msg = (
            f"{where} kept answering 429 (rate limited) after {tries}{out_of_time}; try again "
            f"{later}, and share one token between tasks instead of requesting many."
        )
    else:
        msg = (
            f"{where} kept answering {status} after {tries}{out_of_time}; try again later or "
            f"check {STATUS_PAGE_URL}."
        )
    return TokenEndpointUnavailableError(
        msg, status_code=status, retry_after=wait, attempts=attempts
    )


def _transport_message(
    outcome: httpx.RequestError | None, where: str, tries: str, config: TokenEndpointConfig
) -> str:
    if outcome is None:
        return f"Gave up on the {where} after {tries}: the call ran out of time."
    kind = type(outcome).__name__
    if isinstance(outcome, httpx.TimeoutException):
        return (
            f"The {where} gave no answer within timeout_seconds={config.timeout_seconds:g} "
            f"({kind}) after {tries}. The server is slow or hung: try again later, or raise "
            "timeout_seconds."
        )
    text = printable(" ".join(str(outcome).split()), sent_secrets(config))
    reason = f"{kind}: {text}" if text else kind
    if is_transient(outcome):
        return (
            f"Could not reach the {where} after {tries} ({reason}). Check network access to "
            "the token URL (DNS, proxy, firewall) or try again later."
        )
    return (
        f"Could not talk to the {where} ({reason}); this is not retried. Check base_url, "
        "token_url and any proxy settings."
    )
