"""An async flow: the block, an async token, an async httpx client, and the token task.

    .venv/bin/python flows/async_pipeline.py [BLOCK_NAME]      # default: prod-telnyx

Every way of getting a token below shares one token: the run sends one token request at most,
and none while the block's saved token is fresh.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from prefect import flow

from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token


@flow
async def async_pipeline(block_name: str = "prod-telnyx") -> dict[str, Any]:
    # In async code, load() must be awaited (or call aload()).
    credentials = await TelnyxOAuthCredentials.load(block_name)

    # A token without blocking the event loop; concurrent callers share one refresh.
    token = await credentials.aget_token()

    # An httpx.AsyncClient with the base URL and bearer auth set; a 401 refreshes once.
    async with credentials.get_async_client() as client:
        answer = await client.get("/balance")
        answer.raise_for_status()
        balance = answer.json()["data"]["balance"]

    # The token task is a sync task: an async flow calls it like a sync flow does, and gets
    # the value back. Inside a run it logs where the token came from (cached, shared, new).
    same = get_telnyx_token(block_name)

    # Plain data only: never return or log the token itself.
    return {"balance": balance, "shared": same.expires_at == token.expires_at}


if __name__ == "__main__":
    print(asyncio.run(async_pipeline(*sys.argv[1:2])))
