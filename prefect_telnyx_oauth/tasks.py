"""Prefect tasks that hand out a valid Telnyx token or bearer header.

Both tasks use `cache_policy=NONE` and `persist_result=False`: Prefect pickles persisted results
raw, `SecretStr` included, and its default input cache ignores secret values, so a token must never
become a stored result or a cache hit for other credentials. (In Prefect 3.9 `cache_policy=NONE`
alone already stops the write; `persist_result=False` keeps it stopped if the policy changes.)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
from prefect import task
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger

from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.errors import TokenEndpointUnavailableError
from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.token_cache import default_cache, describe


def is_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures that a later attempt can fix: Telnyx or the Prefect API was down.

    A Prefect API outage while the block is loaded by name surfaces as an httpx transport error;
    during a refresh it never surfaces (the cache falls back to this process).
    """
    # _sync=True: called from async code, result() would return a coroutine nobody awaits.
    error = state.result(raise_on_failure=False, _sync=True)  # type: ignore[call-overload]
    return isinstance(error, TokenEndpointUnavailableError | httpx.TransportError)


token_task = partial(
    task,
    cache_policy=NONE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=is_transient,
)
"""The options both token tasks share: never cached, never persisted, retried only if transient."""


def _load(credentials: TelnyxOAuthCredentials | str) -> TelnyxOAuthCredentials:
    if isinstance(credentials, str):
        loaded = TelnyxOAuthCredentials.load(credentials, _sync=True)  # type: ignore[call-arg]
        assert isinstance(loaded, TelnyxOAuthCredentials)
        return loaded
    return credentials


def _fetch(credentials: TelnyxOAuthCredentials, force_refresh: bool) -> TelnyxToken:
    source = credentials._token_source()
    entry = default_cache.get(source, force_refresh=force_refresh)
    get_run_logger().info("%s: %s", credentials.label, describe(entry))
    return credentials._remember(entry)


@token_task(name="get_telnyx_token")
def get_telnyx_token(
    credentials: TelnyxOAuthCredentials | str, force_refresh: bool = False
) -> TelnyxToken:
    """Return a valid Telnyx access token, reusing the block's cached one until near expiry.

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).
        force_refresh: Get a new token even if the cached one is still valid.

    Returns:
        The token; its secrets are `SecretStr` and it is never persisted as a result.

    Example:
        ```python
        @flow
        def pipeline():
            token = get_telnyx_token("prod-telnyx")
            httpx.get(url, headers=token.headers())
        ```
    """
    return _fetch(_load(credentials), force_refresh)


@token_task(name="get_telnyx_auth_headers")
def get_telnyx_auth_headers(
    credentials: TelnyxOAuthCredentials | str, force_refresh: bool = False
) -> dict[str, str]:
    """Return `{"Authorization": "Bearer <token>"}` for a valid token (see `get_telnyx_token`)."""
    return _fetch(_load(credentials), force_refresh).headers()
