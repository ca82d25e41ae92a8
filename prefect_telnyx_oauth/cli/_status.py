"""`token` (the stored token's status) and `check` (a token and one cheap API call)."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from prefect_telnyx_oauth._api import call_telnyx
from prefect_telnyx_oauth._prefect_store import TOKEN_FIELDS, token_from_data
from prefect_telnyx_oauth.cli._common import (
    describe_error,
    fail,
    format_duration,
    format_instant,
    load_block,
)
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken, utc_now

BlockOption = Annotated[str, typer.Option("--block", "-b", help="Name of the saved block.")]


def token(
    block: BlockOption,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Get a new token now, whatever the stored one.")
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Also print the access token itself.")
    ] = False,
) -> None:
    """Show the status of the block's token: grant, scope, expiry, time left, refresh token."""
    credentials = load_block(block)
    fresh: TelnyxToken | None = None
    if refresh:
        try:
            fresh = credentials.get_token(force_refresh=True)
        except (TelnyxOAuthError, httpx.HTTPError) as exc:
            fail(f"Block {block!r}: {describe_error(exc)}")
    fields = {name: getattr(credentials, name) for name in TOKEN_FIELDS}
    current = fresh or token_from_data(fields, credentials.credential_parts())
    grant = getattr(credentials, "grant_type", None) or "client_credentials"
    lines = [("Block", block), ("Grant", grant)]
    if current is None:
        why = (
            "none usable: the stored one was issued to other credentials (edited since?)"
            if fields["access_token"]
            else "none stored yet"
        )
        lines.append(("Token", f"{why}. `--refresh` gets one now."))
        _print(lines)
        return
    if current.scope:
        scope = current.scope
    else:
        scope = f"{credentials.scope} (requested)" if credentials.scope else "(client default)"
    left = current.seconds_left(utc_now())
    valid = left > 0
    lines += [
        ("Scope", scope),
        ("Issued at", format_instant(current.issued_at)),
        ("Expires at", format_instant(current.expires_at)),
        ("Time left", format_duration(left) if valid else f"expired {format_duration(left)} ago"),
        ("Valid now", "yes" if valid else "no"),
        ("Refresh token", "held" if current.refresh_token else "none"),
    ]
    if show:
        lines.append(("Access token", current.access_token.get_secret_value()))
    _print(lines)


def _print(lines: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in lines) + 2
    for label, value in lines:
        typer.echo(f"{label + ':':<{width}}{value}")


def check(block: BlockOption) -> None:
    """Get a token and call GET /balance: prints OK, or the typed error and what to do."""
    credentials = load_block(block)
    try:
        current = credentials.get_token()
        body = call_telnyx(credentials, "GET", "/balance")
    except TelnyxOAuthError as exc:
        fail(f"Block {block!r}: {describe_error(exc)}")
    except httpx.RequestError as exc:
        fail(
            f"Block {block!r}: the Telnyx API at {credentials.base_url} could not be reached "
            f"({type(exc).__name__}). Check base_url and the network."
        )
    raw = body.get("data")
    data = raw if isinstance(raw, dict) else {}
    currency = data.get("currency", "")
    available = data.get("available_credit")
    balance = f"available credit {available} {currency}".strip() if available else "answered"
    typer.echo(
        f"OK: block {block!r} got a token valid until {format_instant(current.expires_at)}; "
        f"GET /balance {balance}."
    )
