"""The Prefect event `telnyx.oauth.token.issued`: grant, scope, expiry and block, never a token."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL

from telnyx_oauth.models import TelnyxToken

if TYPE_CHECKING:
    from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials

logger = logging.getLogger("prefect_telnyx_oauth.events")

TOKEN_ISSUED = "telnyx.oauth.token.issued"


def can_emit() -> bool:
    """Only inside a run or with an API URL: elsewhere `emit_event` starts a server and blocks."""
    return bool(FlowRunContext.get() or TaskRunContext.get() or PREFECT_API_URL.value())


async def emit_token_issued(
    credentials: TelnyxOAuthCredentials, token: TelnyxToken, grant: str
) -> None:
    """Emit `telnyx.oauth.token.issued` for a token just obtained with `grant`."""
    if not can_emit():
        return
    document_id = getattr(credentials, "_block_document_id", None)
    name = getattr(credentials, "_block_document_name", None)
    resource_id = (
        f"prefect.block-document.{document_id}"
        if document_id
        else f"telnyx.oauth.client.{credentials.client_id}"
    )
    try:
        emit_event(
            event=TOKEN_ISSUED,
            resource={"prefect.resource.id": resource_id, "prefect.resource.name": name or ""},
            payload={
                "grant": grant,
                "scope": token.scope,
                "expires_at": token.expires_at.isoformat(),
                "block_name": name,
                "client_id": credentials.client_id,
            },
        )
    except Exception as exc:  # an event is a nicety; it must never fail a token request
        logger.warning("could not emit %s: %s", TOKEN_ISSUED, exc)
