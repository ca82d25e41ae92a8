"""Prefect tasks for Telnyx messaging: send an SMS/MMS and read a message back.

`send_message` always sends an `Idempotency-Key`, derived from the message and the flow run when
none is given, so a task retry, a flow retry or a retried request never sends the text twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from prefect import task
from prefect.cache_policies import NONE
from prefect.runtime import flow_run

from prefect_telnyx_oauth._api import call_telnyx, run_logger
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.tasks import _load

_KEY_PREFIX = "prefect-telnyx:"


def message_idempotency_key(
    to: str,
    text: str,
    *,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
    scope: str | None = None,
) -> str:
    """A stable `Idempotency-Key` for one message: the same inputs always give the same key.

    Args:
        to: The recipient.
        text: The message text.
        from_: The sender number, if any.
        messaging_profile_id: The messaging profile, if any.
        scope: What else makes the message distinct, e.g. the flow run id; None for none.

    Returns:
        `prefect-telnyx:` and a SHA-256 hex digest (Telnyx accepts `[A-Za-z0-9_:-]{1,255}`).
    """
    material = json.dumps([scope, to, from_, messaging_profile_id, text], ensure_ascii=False)
    return _KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()


@task(name="send_message", cache_policy=NONE)
def send_message(
    credentials: TelnyxOAuthCredentials | str,
    to: str,
    text: str,
    *,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Send an SMS with `POST /messages` and return the created message record.

    Without `idempotency_key`, the key is derived from `to`, `from_`, `messaging_profile_id`,
    `text` and the current flow run id (none outside a flow run). So a retry of this task, or of
    the flow run, never sends twice; the flip side is that the very same text to the same number
    is sent once per flow run: pass your own key to send it again deliberately.

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        to: The recipient in E.164 format, e.g. "+15551234567".
        text: The message text.
        from_: The sending number in E.164 format; give this or `messaging_profile_id`.
        messaging_profile_id: The messaging profile that picks the sending number.
        idempotency_key: Telnyx's `Idempotency-Key`: a second request with the same key and body
            returns the first message instead of sending another.

    Returns:
        The message record (`data` of the answer): `id`, `to`, `from`, `text`, `parts`, ...

    Raises:
        TelnyxAPIError: Telnyx refused the message, e.g. 422 with code "40310" for an invalid
            `to` address or "10004" for empty text.

    Example:
        ```python
        @flow
        def notify():
            send_message("prod-telnyx", "+15551234567", "Build passed", from_="+15557654321")
        ```
    """
    block = _load(credentials)
    payload: dict[str, Any] = {"to": to, "text": text}
    if from_:
        payload["from"] = from_
    if messaging_profile_id:
        payload["messaging_profile_id"] = messaging_profile_id
    key = idempotency_key or message_idempotency_key(
        to,
        text,
        from_=from_,
        messaging_profile_id=messaging_profile_id,
        scope=flow_run.id,
    )
    body = call_telnyx(block, "POST", "/messages", json=payload, idempotency_key=key)
    message: dict[str, Any] = body.get("data") or {}
    run_logger().info(
        "Telnyx accepted message %s (%s part%s).",
        message.get("id"),
        message.get("parts"),
        "" if message.get("parts") == 1 else "s",
    )
    return message


@task(name="get_message", cache_policy=NONE)
def get_message(credentials: TelnyxOAuthCredentials | str, message_id: str) -> dict[str, Any]:
    """Return a message record (`GET /messages/{id}`), e.g. to follow its delivery status.

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        message_id: The `id` that `send_message` returned.

    Raises:
        TelnyxAPIError: 404 (code "10005") when no message has this id.
    """
    path = f"/messages/{quote(message_id, safe='')}"
    data: dict[str, Any] = call_telnyx(_load(credentials), "GET", path).get("data") or {}
    return data
