"""Keep a block's token fresh on a schedule, so pipelines never wait on the token endpoint.

    .venv/bin/python flows/keep_token_fresh.py --block prod-telnyx   # serves until Ctrl-C
    .venv/bin/python flows/keep_token_fresh.py --block prod-telnyx --run-once

It first checks that the block exists on the Prefect API, so a typo fails at once with one line
saying how to create the block, rather than on every scheduled run. `--run-once` runs the flow
once (a cron job, a check after setup) and exits.

Every run reads the token saved in the block. If it expires within `refresh_within_minutes`
(or there is none), the run gets a new one, which is saved to the block for every flow run,
process and worker that loads it; otherwise it changes nothing and sends no request.

Choose `refresh_within_minutes` larger than the schedule's interval (15 minutes against the
default every-10-minutes cron), so at least one run falls inside the window before expiry.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger
from prefect.settings import get_current_settings

from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token
from telnyx_oauth.models import utc_now

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


def missing_block_message(block_name: str) -> str | None:
    """Return a one-line error when no block named `block_name` is saved, else None."""

    async def load() -> None:
        await TelnyxOAuthCredentials.aload(block_name)

    try:
        asyncio.run(load())
    except ValueError as exc:
        # Only Prefect's "Unable to find block document named ...": a block that exists but fails
        # to load (a ConfigurationError, a ValidationError) must surface as itself.
        if "Unable to find block document" not in str(exc):
            raise
        api = get_current_settings().api.url or "the local ephemeral Prefect API"
        create = f"TelnyxOAuthCredentials.from_env().save({block_name!r})"
        return (
            f"error: no TelnyxOAuthCredentials block named {block_name!r} on {api}. Create it once "
            "(or in the UI under Blocks), with TELNYX_CLIENT_ID and TELNYX_CLIENT_SECRET set: "
            f'python -c "from prefect_telnyx_oauth import TelnyxOAuthCredentials; {create}"'
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Check the block exists, then serve the flow on a cron schedule (or run it once).

    Returns:
        The exit status: 0, or 1 when the block does not exist.
    """
    parser = argparse.ArgumentParser(description="Keep a Telnyx block's token fresh.")
    parser.add_argument("--block", required=True, help="the saved TelnyxOAuthCredentials block")
    parser.add_argument("--cron", default=DEFAULT_CRON)
    parser.add_argument("--refresh-within-minutes", type=float, default=15)
    parser.add_argument(
        "--run-once", action="store_true", help="run the flow once and exit instead of serving"
    )
    args = parser.parse_args(argv)
    problem = missing_block_message(args.block)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    if args.run_once:
        result = asyncio.run(keep_token_fresh(args.block, args.refresh_within_minutes))
        verb = "Refreshed" if result["refreshed"] else "Kept"
        print(f"{verb} the token of block {args.block!r}; it expires at {result['expires_at']}.")
        return 0
    keep_token_fresh.serve(
        name=f"keep-{args.block}-fresh",
        cron=args.cron,
        parameters={
            "block_name": args.block,
            "refresh_within_minutes": args.refresh_within_minutes,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
