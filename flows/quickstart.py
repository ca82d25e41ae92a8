"""Quickstart: a token, the balance, three messages and the phone numbers, in one command.

    make demo                              # or: .venv/bin/python flows/quickstart.py

Offline by default. With no `TELNYX_CLIENT_ID` in the environment, the script starts the embedded
`TelnyxEmulator` (a local Telnyx on a loopback port) and keeps Prefect's state in `./.demo`
(`PREFECT_HOME`) with Prefect's ephemeral API, so your `~/.prefect` and any Prefect server you use
stay untouched. Set `PREFECT_HOME` or `PREFECT_API_URL` in the environment to override that.

It saves the block "telnyx-demo", runs the flow, clears this process's token cache (as a new
process would start) and runs a check again, then prints what happened: one token request in all,
because the second run took the token saved in the block.

With `TELNYX_CLIENT_ID` and `TELNYX_CLIENT_SECRET` set, the same script runs against Telnyx with
your own Prefect configuration, and sends a message only to the numbers given with `--send-to`:

    .venv/bin/python flows/quickstart.py --send-to +15551234567 [--from +15557654321]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, unmapped
from prefect.settings import (
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token
from prefect_telnyx_oauth.account import get_balance
from prefect_telnyx_oauth.messaging import send_message
from prefect_telnyx_oauth.numbers import list_phone_numbers
from prefect_telnyx_oauth.testing import offline_prefect, reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator

DEMO_HOME = Path(__file__).resolve().parents[1] / ".demo"

BLOCK_NAME = "telnyx-demo"
OFFLINE_RECIPIENTS = ("+15557650001", "+15557650002", "+15557650003")
# A first start migrates a fresh database: on a busy machine that outlasts Prefect's 20 s default.
STARTUP_TIMEOUT_SECONDS = 120


@flow(name="telnyx-quickstart")
async def quickstart(
    block_name: str = BLOCK_NAME,
    send_to: list[str] | None = None,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
) -> dict[str, Any]:
    """Get a token, read the balance, list the phone numbers and send one message per recipient.

    Args:
        block_name: The saved `TelnyxOAuthCredentials` block.
        send_to: Recipients in E.164 format; none sends nothing.
        from_: The sending number; by default the account's first active number.
        messaging_profile_id: Send through this messaging profile instead of `from_`.

    Returns:
        Plain data only, never the token: when the token expires, the balance, how many phone
        numbers the account has, and the ids of the messages sent.
    """
    token = get_telnyx_token(block_name)
    balance = get_balance(block_name)
    numbers = list_phone_numbers(block_name, page_size=10)
    recipients = list(send_to or [])
    if recipients and not (from_ or messaging_profile_id):
        active = [n["phone_number"] for n in numbers if n.get("status") == "active"]
        if not active:
            msg = "The account has no active phone number to send from; pass --from."
            raise ValueError(msg)
        from_ = active[0]
    texts = [
        f"Hello from prefect-telnyx-oauth ({i} of {len(recipients)})"
        for i in range(1, len(recipients) + 1)
    ]
    sent = send_message.map(
        unmapped(block_name),
        recipients,
        texts,
        from_=unmapped(from_),
        messaging_profile_id=unmapped(messaging_profile_id),
    ).result()
    return {
        "token_expires_at": token.expires_at.isoformat(),
        "balance": f"{balance.get('balance')} {balance.get('currency')}",
        "phone_numbers": len(numbers),
        "message_ids": [message["id"] for message in sent],
    }


@dataclass
class DemoReport:
    """What the two runs did, for the summary (and for tests)."""

    first: dict[str, Any]
    second: dict[str, Any]
    seconds: float
    counters: dict[str, Any] = field(default_factory=dict)

    @property
    def reused_token(self) -> bool:
        """Whether the second run used the same token as the first (same expiry instant)."""
        return bool(self.first["token_expires_at"] == self.second["token_expires_at"])


def step(text: str) -> None:
    """Say what the next slow step is before it starts, so a first run is never silent."""
    print(text, flush=True)


def prefect_api_step() -> str:
    """Announce the Prefect API this run uses: a local one it starts, or the one configured."""
    api_url = get_current_settings().api.url
    if api_url:
        return f"Using the Prefect API at {api_url}..."
    home = get_current_settings().home
    return (
        f"Starting a local Prefect API (its state lives in {home}; the first start sets up its "
        "database and can take a minute)..."
    )


async def run_demo(
    credentials: TelnyxOAuthCredentials,
    recipients: list[str],
    *,
    block_name: str = BLOCK_NAME,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
) -> DemoReport:
    """Save the block, run the flow, forget the token in memory, and run a check again."""
    started = time.monotonic()
    step(prefect_api_step())
    # The first call to the API starts the local one, when there is no other.
    await credentials.asave(block_name, overwrite=True)
    step(f"Saved the block {block_name!r}. Running the quickstart flow...")
    first = await quickstart(block_name, recipients, from_, messaging_profile_id)
    # As if a new process started: only the token saved in the block can spare a token request.
    reset_token_caches()  # no token and no loaded block in memory, as in a new process
    step("Running it again with this process's token cache cleared, as a new process would...")
    second = await quickstart(block_name, [], from_, messaging_profile_id)
    return DemoReport(first=first, second=second, seconds=time.monotonic() - started)


def summary(report: DemoReport, emulator: TelnyxEmulator | None) -> str:
    """The closing lines, in plain words."""
    lines = [
        "",
        "Summary",
        f"  Balance: {report.first['balance']}; phone numbers: {report.first['phone_numbers']}.",
        f"  Messages sent: {len(report.first['message_ids'])}.",
    ]
    if emulator is not None:
        counters = emulator.counters
        lines += [
            f"  Token requests made: {counters.token_requests} (for both runs).",
            f"  API calls made: {counters.api_requests}.",
        ]
    if report.reused_token:
        lines += [
            "  The second run reused the token saved in the block: no new token was requested,",
            "  even with this process's token cache cleared.",
        ]
    else:
        lines.append("  The second run got a new token (the first one was near expiry).")
    lines.append(f"  Done in {report.seconds:.1f} s.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line: offline on the emulator, or against Telnyx with `TELNYX_*` set."""
    parser = argparse.ArgumentParser(description="The prefect-telnyx-oauth quickstart.")
    parser.add_argument("--send-to", action="append", default=[], metavar="+E164")
    parser.add_argument("--from", dest="from_", metavar="+E164")
    parser.add_argument("--messaging-profile-id")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("TELNYX_CLIENT_ID"):
        print("Running against Telnyx with TELNYX_CLIENT_ID from the environment.")
        if not args.send_to:
            print("Sending nothing: pass --send-to +E164 to send a message.")
        credentials = TelnyxOAuthCredentials.from_env()
        report = asyncio.run(
            run_demo(
                credentials,
                args.send_to,
                from_=args.from_,
                messaging_profile_id=args.messaging_profile_id,
            )
        )
        print(summary(report, None))
        return 0
    patient: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        # offline_prefect sets this too, but not when PREFECT_HOME is in the environment.
        updates = {PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: STARTUP_TIMEOUT_SECONDS}
        patient = temporary_settings(updates=updates)
    with TelnyxEmulator() as emulator, offline_prefect(DEMO_HOME), patient:
        print(f"Offline: the Telnyx emulator serves {emulator.base_url}.")
        credentials = TelnyxOAuthCredentials(
            client_id=emulator.client_id,
            client_secret=emulator.client_secret,
            base_url=emulator.base_url,
        )
        report = asyncio.run(run_demo(credentials, args.send_to or list(OFFLINE_RECIPIENTS)))
        print(summary(report, emulator))
    return 0


if __name__ == "__main__":
    sys.exit(main())
