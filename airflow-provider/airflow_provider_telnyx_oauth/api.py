"""Telnyx API calls for TaskFlow: the same calls as the Prefect tasks, as plain functions.

Each takes a connection id, returns plain JSON data (never a token, so an XCom can never hold
one), and raises the core's `TelnyxAPIError` with Telnyx's own error codes. Call them inside a
`@task`, or wrap one: `send = task(send_message)`.

Example:
    ```python
    @task
    def notify() -> str:
        return send_message("telnyx_default", "+15551234567", "Build passed",
                            from_="+15557654321")["id"]
    ```
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook
from telnyx_oauth._api_errors import api_error, check_path, json_body, may_retry
from telnyx_oauth._retry import DEFAULT_RETRY_POLICY, retry_delay
from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.models import utc_now

logger = logging.getLogger("airflow_provider_telnyx_oauth.api")

TIMEOUT_SECONDS = 30.0
MAX_PAGE_SIZE = 250
"""The largest `page[size]` Telnyx accepts."""


def call_telnyx(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    label: str,
    params: Mapping[str, Any] | None = None,
    json_body_: Any = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Send one API request through `client`, retrying what is safe to retry.

    Raises:
        TelnyxAPIError: Telnyx answered 4xx or 5xx (after any retries), or not with JSON.
        httpx.RequestError: the network kept failing, or failed on a request not safe to retry.
    """
    method, path = method.upper(), check_path(path)
    headers = {"Accept": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    retryable = may_retry(method, idempotency_key)
    attempt = 0
    while True:
        attempt += 1
        outcome: httpx.Response | httpx.RequestError
        try:
            outcome = client.request(method, path, params=params, json=json_body_, headers=headers)
        except httpx.RequestError as exc:
            outcome = exc
        if isinstance(outcome, httpx.Response) and outcome.is_success:
            return json_body(method, path, outcome, label=label)
        delay = retry_delay(
            attempt,
            outcome,
            retryable=retryable,
            policy=DEFAULT_RETRY_POLICY,
            now=utc_now(),
            rng=random.random,
        )
        if delay is None:
            if isinstance(outcome, httpx.RequestError):
                raise outcome
            raise api_error(
                method, path, outcome, label=label, attempts=attempt, retryable=retryable
            )
        logger.warning("Telnyx API %s %s failed; retrying in %.1f s.", method, path, delay)
        time.sleep(delay)


def _call(conn_id: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    hook = TelnyxOAuthHook(conn_id)
    with hook.get_conn(timeout=TIMEOUT_SECONDS) as client:
        return call_telnyx(client, method, path, label=f"connection {conn_id!r}", **kwargs)


def _run_scope() -> str | None:
    """The running task instance (run id, task id, map index), so a retry never sends twice."""
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
    except Exception:  # outside a task: no scope
        return None
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"


def send_message(
    conn_id: str,
    to: str,
    text: str,
    *,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Send an SMS (`POST /messages`) and return the created message record.

    Without `idempotency_key`, the key is derived from the message and the task instance, so a
    task retry never sends twice; pass your own key to send the same text again deliberately.

    Raises:
        TelnyxAPIError: Telnyx refused the message, e.g. 422 code "40310" for an invalid `to`.
    """
    payload: dict[str, Any] = {"to": to, "text": text}
    if from_:
        payload["from"] = from_
    if messaging_profile_id:
        payload["messaging_profile_id"] = messaging_profile_id
    if idempotency_key is None:
        material = json.dumps([_run_scope(), to, from_, messaging_profile_id, text])
        idempotency_key = "airflow-telnyx:" + hashlib.sha256(material.encode()).hexdigest()
    body = _call(conn_id, "POST", "/messages", json_body_=payload, idempotency_key=idempotency_key)
    message: dict[str, Any] = body.get("data") or {}
    logger.info("Telnyx accepted message %s.", message.get("id"))
    return message


def get_balance(conn_id: str) -> dict[str, Any]:
    """Return the account balance record (`GET /balance`): `balance`, `currency`, ..."""
    data: dict[str, Any] = _call(conn_id, "GET", "/balance").get("data") or {}
    return data


def list_phone_numbers(
    conn_id: str,
    *,
    filters: Mapping[str, Any] | None = None,
    page_size: int = MAX_PAGE_SIZE,
    max_pages: int | None = None,
) -> list[dict[str, Any]]:
    """Return the account's phone numbers (`GET /phone_numbers`), following every page.

    Raises:
        ConfigurationError: `page_size` or `max_pages` is out of range.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}."
        raise ConfigurationError(msg)
    if max_pages is not None and max_pages < 1:
        msg = f"max_pages must be at least 1 (or None for all pages), got {max_pages}."
        raise ConfigurationError(msg)
    params = {
        name if name.startswith("filter[") else f"filter[{name}]": value
        for name, value in (filters or {}).items()
    }
    records: list[dict[str, Any]] = []
    label = f"connection {conn_id!r}"
    with TelnyxOAuthHook(conn_id).get_conn(timeout=TIMEOUT_SECONDS) as client:
        page = 1
        while True:
            query = {**params, "page[number]": page, "page[size]": page_size}
            body = call_telnyx(client, "GET", "/phone_numbers", label=label, params=query)
            data = body.get("data") or []
            records.extend(data)
            meta = body.get("meta") or {}
            total = meta.get("total_pages")
            total = total if isinstance(total, int) else 1
            if not data or page >= total or (max_pages is not None and page >= max_pages):
                return records
            page += 1


def lookup_number(
    conn_id: str,
    phone_number: str,
    *,
    lookup_type: Literal["carrier", "caller-name"] | None = "carrier",
) -> dict[str, Any]:
    """Look up a number's carrier or caller name (`GET /number_lookup/{number}`)."""
    path = f"/number_lookup/{quote(phone_number, safe='+')}"
    params = {"type": lookup_type} if lookup_type else None
    data: dict[str, Any] = _call(conn_id, "GET", path, params=params).get("data") or {}
    return data
