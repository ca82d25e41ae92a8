"""Prefect tasks for the Telnyx account: the balance."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from prefect_telnyx_oauth._api import call_telnyx
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.tasks import _load


@task(name="get_balance", cache_policy=NONE)
def get_balance(credentials: TelnyxOAuthCredentials | str) -> dict[str, Any]:
    """Return the account balance (`GET /balance`).

    Args:
        credentials: The block, or the name of a saved block (loaded inside the task).

    Returns:
        The balance record, amounts as strings: `balance`, `credit_limit`, `available_credit`,
        `pending` and `currency`.

    Example:
        ```python
        @flow
        def check_funds():
            if float(get_balance("prod-telnyx")["available_credit"]) < 10:
                ...
        ```
    """
    data: dict[str, Any] = call_telnyx(_load(credentials), "GET", "/balance").get("data") or {}
    return data
