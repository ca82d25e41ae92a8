"""Prefect tasks that hand out a valid Telnyx token or bearer header.

Both tasks use `cache_policy=NONE` and `persist_result=False`: Prefect pickles persisted results
raw, `SecretStr` included, and its default input cache ignores secret values, so a token must never
become a stored result or a cache hit for other credentials. (In Prefect 3.9 `cache_policy=NONE`
alone already stops the write; `persist_result=False` keeps it stopped if the policy changes.)
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import httpx
from prefect import task
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_API_URL

from prefect_telnyx_oauth._block_source import configuration
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from telnyx_oauth.errors import InvalidClientError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_cache import default_cache, describe


def is_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only a Prefect API outage while the block was being loaded by name.

    A token endpoint that is down is not retried here: the token call already made its attempts
    within its deadline, and a task retry would multiply token requests against an endpoint that
    is down. During a refresh a Prefect API outage never surfaces (the cache falls back to this
    process).
    """
    # _sync=True: called from async code, result() would return a coroutine nobody awaits.
    error = state.result(raise_on_failure=False, _sync=True)  # type: ignore[call-overload]
    return isinstance(error, httpx.TransportError)


token_task = partial(
    task,
    cache_policy=NONE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=is_transient,
)
"""The options both token tasks share: never cached, never persisted, retried only if transient."""

BLOCK_RELOAD_SECONDS = 30.0
"""A block loaded by name is reused this long in a process, so a warm call makes no Prefect API
call; an edit in the UI takes effect within this time, and at once after a 401 or
`invalid_client`."""

_loaded: dict[tuple[str, str], tuple[float, TelnyxOAuthCredentials]] = {}


def _load(
    credentials: TelnyxOAuthCredentials | str, *, reload: bool = False
) -> TelnyxOAuthCredentials:
    if not isinstance(credentials, str):
        return credentials
    key = (str(PREFECT_API_URL.value()), credentials)
    known = _loaded.get(key)
    now = time.monotonic()
    if known is not None and not reload and now - known[0] < BLOCK_RELOAD_SECONDS:
        return known[1]
    loaded = TelnyxOAuthCredentials.load(credentials, _sync=True)  # type: ignore[call-arg]
    assert isinstance(loaded, TelnyxOAuthCredentials)
    _loaded[key] = (now, loaded)
    return loaded


def forget_loaded(block: TelnyxOAuthCredentials | None = None) -> None:
    """Make the next call by name load the block again (all blocks, or this one).

    Called when Telnyx refuses the block's credentials (a 401 or `invalid_client`): they may have
    been edited in the UI since the block was loaded. Tests call it to start clean.
    """
    for key, (_, loaded) in list(_loaded.items()):
        if block is None or loaded is block:
            _loaded.pop(key, None)


def _fetch(credentials: TelnyxOAuthCredentials | str, force_refresh: bool) -> TelnyxToken:
    block = _load(credentials)
    try:
        return _fetch_from(block, force_refresh)
    except InvalidClientError:
        if not isinstance(credentials, str):
            raise
        forget_loaded(block)
        fresh = _load(credentials, reload=True)
        # The whole configuration: the fix may be the auth method or body format, not a secret.
        if configuration(fresh) == configuration(block):
            raise
        return _fetch_from(fresh, force_refresh)  # edited since loaded: the new ones, once


def _fetch_from(credentials: TelnyxOAuthCredentials, force_refresh: bool) -> TelnyxToken:
    source = credentials._token_source()
    entry = None if force_refresh else default_cache.hit(source)
    reused = entry is not None
    if entry is None:
        entry = default_cache.get(source, force_refresh=force_refresh)
    # A reuse is logged at DEBUG, which Prefect does not ship: a warm call writes nothing.
    level = logging.DEBUG if reused else logging.INFO
    get_run_logger().log(level, "%s: %s", credentials.label, describe(entry, reused=reused))
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
    return _fetch(credentials, force_refresh)


@token_task(name="get_telnyx_auth_headers")
def get_telnyx_auth_headers(
    credentials: TelnyxOAuthCredentials | str, force_refresh: bool = False
) -> dict[str, str]:
    """Return `{"Authorization": "Bearer <token>"}` for a valid token (see `get_telnyx_token`)."""
    return _fetch(credentials, force_refresh).headers()
