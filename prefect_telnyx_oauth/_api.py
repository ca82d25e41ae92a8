"""The one core every Telnyx API task shares, `call_telnyx`, and the generic `telnyx_request` task.

`call_telnyx` sends through the block's `httpx.Client` (bearer auth, one refresh on 401), retries
what `_retry.retry_delay` says is safe to retry, sleeping as long as it says, and turns a
failed answer into a `TelnyxAPIError` (see `_api_errors` for the policy).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from prefect import task
from prefect.cache_policies import NONE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.logging.loggers import LoggingAdapter

from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.tasks import _load, forget_loaded
from telnyx_oauth._api_errors import (
    api_error,
    check_path,
    json_body,
    may_retry,
)
from telnyx_oauth._retry import DEFAULT_RETRY_POLICY, RetryPolicy, retry_delay
from telnyx_oauth.errors import InvalidClientError
from telnyx_oauth.models import utc_now

logger = logging.getLogger("prefect_telnyx_oauth.api")

DEFAULT_TIMEOUT_SECONDS = 30.0
"""Timeout of each API request, in seconds (the block's `timeout_seconds` is the token's)."""

Sleep = Callable[[float], None]


def run_logger() -> logging.Logger | LoggingAdapter:
    """The task or flow run's logger (shown in the Prefect UI); the module's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logger


def call_telnyx(
    credentials: TelnyxOAuthCredentials,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    idempotency_key: str | None = None,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Sleep = time.sleep,
    now: Callable[[], datetime] = utc_now,
    rng: Callable[[], float] = random.random,
) -> dict[str, Any]:
    """Call the Telnyx API with the block's token and return the decoded JSON body.

    Args:
        credentials: The block whose token authenticates the call.
        method: The HTTP method.
        path: The path below the block's `base_url`, e.g. `/balance`.
        params: Query parameters.
        json: The JSON body.
        idempotency_key: Sent as `Idempotency-Key`; makes a POST safe to retry.
        client: A client from `credentials.get_client()` to reuse (pagination); one is opened
            and closed per call otherwise.
        policy: How 429, 5xx and network failures are retried.
        sleep: Waits between attempts (tests inject a recorder).
        now: The clock, for `Retry-After` HTTP dates.
        rng: Random numbers in [0, 1), for backoff jitter.

    Returns:
        The response body (`{}` for an empty one), e.g. `{"data": {...}}`.

    Raises:
        TelnyxAPIError: Telnyx answered 4xx or 5xx (after any retries), or not with JSON.
        httpx.RequestError: The network kept failing, or failed on a request not safe to retry.
        ConfigurationError: `path` is an absolute URL.
        TokenError: No token could be obtained.
    """
    if client is None:
        with credentials.get_client(timeout=DEFAULT_TIMEOUT_SECONDS) as own:
            return call_telnyx(
                credentials,
                method,
                path,
                params=params,
                json=json,
                idempotency_key=idempotency_key,
                client=own,
                policy=policy,
                sleep=sleep,
                now=now,
                rng=rng,
            )
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
            outcome = client.request(method, path, params=params, json=json, headers=headers)
        except httpx.RequestError as exc:
            outcome = exc
        except InvalidClientError:
            forget_loaded(credentials)  # edited in the UI? the next call by name reloads it
            raise
        if isinstance(outcome, httpx.Response) and outcome.is_success:
            return json_body(method, path, outcome, label=credentials.label)
        delay = retry_delay(
            attempt, outcome, retryable=retryable, policy=policy, now=now(), rng=rng
        )
        if delay is None:
            if isinstance(outcome, httpx.RequestError):
                raise outcome
            if outcome.status_code == httpx.codes.UNAUTHORIZED:
                forget_loaded(credentials)
            raise api_error(
                method,
                path,
                outcome,
                label=credentials.label,
                attempts=attempt,
                retryable=retryable,
                policy=policy,
                now=now(),
            )
        what = (
            f"answered {outcome.status_code}"
            if isinstance(outcome, httpx.Response)
            else f"failed ({type(outcome).__name__})"
        )
        run_logger().warning(
            "Telnyx API %s %s %s; retrying in %.1f s (attempt %d of %d).",
            method,
            path,
            what,
            delay,
            attempt + 1,
            policy.max_attempts,
        )
        sleep(delay)


# -- the generic task ----------------------------------------------------------------------------


@task(name="telnyx_request", cache_policy=NONE)
def telnyx_request(
    credentials: TelnyxOAuthCredentials | str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Call any Telnyx API endpoint with the block's token; return the JSON body.

    429 and 5xx answers are retried (a POST only with an idempotency key), honouring
    `Retry-After`; a 401 gets one token refresh.

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        method: The HTTP method, e.g. "GET".
        path: The path below the block's `base_url`, e.g. "/balance".
        params: Query parameters, e.g. `{"filter[status]": "active"}`.
        json: The JSON body.
        idempotency_key: Sent as `Idempotency-Key`; makes a POST safe to retry.

    Returns:
        The decoded body, e.g. `{"data": {...}, "meta": {...}}`.

    Raises:
        TelnyxAPIError: Telnyx answered 4xx or 5xx; `.status_code`, `.errors`, `.retry_after`.

    Example:
        ```python
        @flow
        def pipeline():
            body = telnyx_request("prod-telnyx", "GET", "/messaging_profiles")
        ```
    """
    return call_telnyx(
        _load(credentials),
        method,
        path,
        params=params,
        json=json,
        idempotency_key=idempotency_key,
    )
