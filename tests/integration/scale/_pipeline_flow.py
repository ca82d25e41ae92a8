"""The pipeline deployed in the worker test (run by a process worker, not collected by pytest).

It does what a user's pipeline does: load the saved block, call Telnyx through the API tasks,
and leave the token to the block.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.account import get_balance
from prefect_telnyx_oauth.numbers import list_phone_numbers


@flow(name="scale-pipeline")
async def scale_pipeline(block_name: str) -> dict[str, Any]:
    """Read the balance and the phone numbers of the account."""
    block = await TelnyxOAuthCredentials.aload(block_name)
    assert isinstance(block, TelnyxOAuthCredentials)
    balance = get_balance(block)
    numbers = list_phone_numbers(block)
    return {"currency": balance["currency"], "numbers": len(numbers)}
