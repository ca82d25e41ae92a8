"""The `prefect-telnyx-oauth` command: create a block, connect an account, inspect its token.

Every command talks to the Prefect API that Prefect's own settings name (`PREFECT_API_URL`,
a profile, or Prefect Cloud), like the `prefect` command does.
"""

from __future__ import annotations

import typer

from prefect_telnyx_oauth.cli._alerts import alerts
from prefect_telnyx_oauth.cli._authorize import authorize
from prefect_telnyx_oauth.cli._blocks import create_block
from prefect_telnyx_oauth.cli._register import grants, register
from prefect_telnyx_oauth.cli._status import check, token

__all__ = ["app", "main"]

# Tracebacks with locals would print client secrets and tokens held in local variables.
app = typer.Typer(
    name="prefect-telnyx-oauth",
    help="Manage Telnyx OAuth Credentials blocks: create, authorize, inspect, check.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command("create-block")(create_block)
app.command("authorize")(authorize)
app.command("token")(token)
app.command("check")(check)
app.add_typer(alerts, name="alerts")
app.command("register")(register)
app.add_typer(grants, name="grants")


def main() -> None:
    """Console script entry point."""
    app()
