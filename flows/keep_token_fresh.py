"""Keep a block's token fresh on a schedule, so pipelines never wait on the token endpoint.

    .venv/bin/python flows/keep_token_fresh.py --block prod-telnyx   # serves until Ctrl-C

Every run reads the token saved in the block. If it expires within `refresh_within_minutes`
(or there is none), the run gets a new one, which is saved to the block for every flow run,
process and worker that loads it; otherwise it changes nothing and sends no request.

Choose `refresh_within_minutes` larger than the schedule's interval (15 minutes against the
default every-10-minutes cron), so at least one run falls inside the window before expiry.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token
from prefect_telnyx_oauth.models import utc_now

DEFAULT_CRON = "*/10 * * * *"


def needs_refresh(expires_at: datetime | None, *, now: datetime, within: timedelta) -> bool:
    """True when there is no saved token, or it expires within `within` of `now`."""
    return expires_at is None or expires_at - now <= within


@flow(name="keep-telnyx-token-fresh")
async def keep_token_fresh(block_name: str, refresh_within_minutes: float = 15) -> dict[str, Any]:
    """Refresh the block's saved token when it is about to expire.

    Args:
        block_name: The saved `TelnyxOAuthCredentials` block.
        refresh_within_minutes: Refresh when the saved token has less than this left.

    Returns:
        `refreshed` (whether a new token was requested) and the saved token's `expires_at`.
    """
    block = await TelnyxOAuthCredentials.aload(block_name)
    assert isinstance(block, TelnyxOAuthCredentials)
    saved = block.access_token_expires_at
    due = needs_refresh(saved, now=utc_now(), within=timedelta(minutes=refresh_within_minutes))
    token = get_telnyx_token(block_name, force_refresh=due)
    refreshed = token.expires_at != saved
    left = token.seconds_left(utc_now()) / 60
    get_run_logger().info(
        "%s token for block %r; it expires in %.0f min.",
        "Refreshed the" if refreshed else "Kept the",
        block_name,
        left,
    )
    return {"refreshed": refreshed, "expires_at": token.expires_at.isoformat()}


def main(argv: list[str] | None = None) -> None:
    """Serve the flow on a cron schedule until interrupted."""
    parser = argparse.ArgumentParser(description="Keep a Telnyx block's token fresh.")
    parser.add_argument("--block", required=True, help="the saved TelnyxOAuthCredentials block")
    parser.add_argument("--cron", default=DEFAULT_CRON)
    parser.add_argument("--refresh-within-minutes", type=float, default=15)
    args = parser.parse_args(argv)
    keep_token_fresh.serve(
        name=f"keep-{args.block}-fresh",
        cron=args.cron,
        parameters={
            "block_name": args.block,
            "refresh_within_minutes": args.refresh_within_minutes,
        },
    )


if __name__ == "__main__":
    main()
