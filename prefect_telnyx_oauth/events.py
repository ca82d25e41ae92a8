"""The Prefect events of a block's token: `telnyx.oauth.token.issued`, `.refreshed`, `.failed`.

None carries a token or a secret. `issued` marks every new token; `refreshed` is emitted beside
it when the token came from a refresh token, so an Automation can watch a connected user's
refreshes alone.

All name the block as their resource (`prefect.block-document.<id>`, or the client id for an
unsaved block). A failure's resource also carries `telnyx.oauth.retryable` and
`telnyx.oauth.error` labels, so an Automation can tell a blip from a refused secret
(`alerts.py`): Automation triggers match resource labels, not payloads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL
from pydantic import SecretStr

from telnyx_oauth._redact import redact
from telnyx_oauth.errors import (
    TelnyxOAuthError,
    TokenEndpointUnavailableError,
    TokenError,
    TokenRequestError,
    TokenStoreUnavailableError,
)
from telnyx_oauth.models import TelnyxToken

if TYPE_CHECKING:
    from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials

logger = logging.getLogger("prefect_telnyx_oauth.events")

TOKEN_ISSUED = "telnyx.oauth.token.issued"
TOKEN_REFRESHED = "telnyx.oauth.token.refreshed"
TOKEN_FAILED = "telnyx.oauth.token.failed"
RETRYABLE_LABEL = "telnyx.oauth.retryable"
ERROR_LABEL = "telnyx.oauth.error"


def can_emit() -> bool:
    """Only inside a run or with an API URL: elsewhere `emit_event` starts a server and blocks."""
    return bool(FlowRunContext.get() or TaskRunContext.get() or PREFECT_API_URL.value())


def block_resource_id(document_id: object | None, client_id: str) -> str:
    """The resource id of a block's events: its document, or its client id if it is unsaved."""
    if document_id:
        return f"prefect.block-document.{document_id}"
    return f"telnyx.oauth.client.{client_id}"


def is_retryable(error: TelnyxOAuthError) -> bool:
    """True when trying again later may cure `error` (an outage, a slow store), False when
    something must change first (a refused secret, a revoked refresh token, a bad setting)."""
    return isinstance(error, (TokenEndpointUnavailableError, TokenStoreUnavailableError))


async def emit_token_issued(
    credentials: TelnyxOAuthCredentials, token: TelnyxToken, grant: str
) -> None:
    """Emit `telnyx.oauth.token.issued` for a token just obtained with `grant`, and
    `telnyx.oauth.token.refreshed` too when `grant` is `refresh_token`."""
    if not can_emit():
        return
    document_id = getattr(credentials, "_block_document_id", None)
    name = getattr(credentials, "_block_document_name", None)
    resource_id = block_resource_id(document_id, credentials.client_id)
    resource = {"prefect.resource.id": resource_id, "prefect.resource.name": name or ""}
    payload = {
        "grant": grant,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat(),
        "block_name": name,
        "client_id": credentials.client_id,
    }
    _emit(TOKEN_ISSUED, resource, payload)
    if grant == "refresh_token":
        _emit(TOKEN_REFRESHED, resource, payload)


async def emit_token_failed(
    error: TelnyxOAuthError,
    *,
    document_id: object | None,
    block_name: str | None,
    client_id: str,
    grant: str,
    secrets: Iterable[SecretStr | str | None],
) -> None:
    """Emit `telnyx.oauth.token.failed`: no token could be had, after the retries.

    Args:
        error: The error the callers get.
        document_id: The block's document id (None for an unsaved block).
        block_name: The block's name.
        client_id: The OAuth client id.
        grant: The block's grant (`client_credentials`, or `authorization_code` for a user).
        secrets: Everything that must not appear in the event; the error's text is masked with
            the core redactor, in every form the secrets could have been sent in.
    """
    if not can_emit():
        return
    plain = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    hidden = [s for s in plain if s]
    retryable = is_retryable(error)
    code = error.error if isinstance(error, TokenRequestError) else None
    description = error.error_description if isinstance(error, TokenRequestError) else None
    resource = {
        "prefect.resource.id": block_resource_id(document_id, client_id),
        "prefect.resource.name": block_name or "",
        RETRYABLE_LABEL: "true" if retryable else "false",
        ERROR_LABEL: code or type(error).__name__,
    }
    _emit(
        TOKEN_FAILED,
        resource,
        {
            "error_class": type(error).__name__,
            "error": code,
            "error_description": redact(description, hidden) if description else None,
            "status_code": getattr(error, "status_code", None),
            "retryable": retryable,
            "grant": grant,
            "attempts": error.attempts if isinstance(error, TokenError) else 0,
            "message": redact(str(error), hidden),
            "block_name": block_name,
            "client_id": client_id,
        },
    )


def _emit(event: str, resource: dict[str, str], payload: dict[str, object]) -> None:
    try:
        emit_event(event=event, resource=resource, payload=payload)
    except Exception as exc:  # an event is a nicety; it must never fail a token request
        logger.warning("could not emit %s: %s", event, exc)
