"""What every command shares: loading a block, one-line failures, times a person can read."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

import httpx
import typer

from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from telnyx_oauth.errors import TelnyxOAuthError

BLOCK_TYPE_SLUG = "telnyx-oauth-credentials"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` as one line on stderr and exit with `code`."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def describe_error(exc: BaseException) -> str:
    """One line naming the error type and its message, which says what to do next."""
    return f"{type(exc).__name__}: {exc}"


def prefect_unreachable(exc: BaseException) -> str:
    """The line for a Prefect API that could not be reached, naming where it was looked for."""
    from prefect.settings import PREFECT_API_URL

    where = PREFECT_API_URL.value() or "the ephemeral Prefect API"
    return (
        f"Could not reach the Prefect API at {where} ({type(exc).__name__}). Check "
        "PREFECT_API_URL (`prefect config view`) or start one with `prefect server start`."
    )


def load_block(name: str) -> TelnyxOAuthCredentials:
    """Load the saved block `name`, or exit with a line saying how to create it."""
    try:
        block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        fail(
            f"No Telnyx OAuth Credentials block named {name!r}. Create it with "
            f"`prefect-telnyx-oauth create-block {name}`."
        )
    except TelnyxOAuthError as exc:
        fail(f"Block {name!r} could not be loaded: {describe_error(exc)}")
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    assert isinstance(block, TelnyxOAuthCredentials)
    return block


def format_instant(value: datetime | None) -> str:
    """An aware instant as ISO 8601 in UTC, seconds precision; "-" when unknown."""
    if value is None:
        return "-"
    return value.replace(microsecond=0).isoformat()


def format_duration(seconds: float) -> str:
    """`3725` -> `1h 2m 5s`; whole seconds, largest two units of days, hours, minutes, seconds."""
    remaining = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        if amount or (unit == "s" and not parts):
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])
