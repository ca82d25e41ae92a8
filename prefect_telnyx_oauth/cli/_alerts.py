"""`alerts create` and `alerts remove`: the block's token-failure Automation (`alerts.py`)."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from prefect_telnyx_oauth.alerts import (
    DEFAULT_FAILURES,
    DEFAULT_WITHIN_MINUTES,
    create_token_alert,
    remove_token_alert,
)
from prefect_telnyx_oauth.cli._common import describe_error, fail, prefect_unreachable
from telnyx_oauth.errors import TelnyxOAuthError

alerts = typer.Typer(
    help="Alert before auth breaks a pipeline: a Prefect Automation on token failures.",
    no_args_is_help=True,
)

BlockOption = Annotated[str, typer.Option("--block", "-b", help="Name of the saved block.")]


@alerts.command("create")
def create(
    block: BlockOption,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            help="A notification block as slug/name (slack-webhook/ops); repeatable.",
        ),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="A Webhook block's name, called with JSON.")
    ] = None,
    pause: Annotated[
        list[str] | None,
        typer.Option("--pause-deployment", help="A deployment (flow/name) to pause; repeatable."),
    ] = None,
    failures: Annotated[
        int, typer.Option("--failures", help="This many failures within the window fire it.")
    ] = DEFAULT_FAILURES,
    within_minutes: Annotated[
        float, typer.Option("--within-minutes", help="The window of --failures, in minutes.")
    ] = DEFAULT_WITHIN_MINUTES,
) -> None:
    """Create (or update) the Automation that acts on the block's token failures.

    It fires on FAILURES failures within the window, or on any failure a retry cannot cure
    (a refused secret, a revoked refresh token). Running it again leaves one Automation.
    """
    try:
        automation = create_token_alert(
            block,
            notify=notify or (),
            webhook=webhook,
            pause_deployments=pause or (),
            failures=failures,
            within_minutes=within_minutes,
        )
    except TelnyxOAuthError as exc:
        fail(describe_error(exc))
    except httpx.HTTPStatusError as exc:
        fail(_refused(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    actions = ", ".join(action.type for action in automation.actions)
    typer.echo(f"Automation {automation.name!r} ({automation.id}) is set: {actions}.")


@alerts.command("remove")
def remove(block: BlockOption) -> None:
    """Delete the block's token-failure Automation (nothing to do if there is none)."""
    try:
        removed = remove_token_alert(block)
    except httpx.HTTPStatusError as exc:
        fail(_refused(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    typer.echo(
        f"Removed the token alert of block {block!r}."
        if removed
        else f"Block {block!r} had no token alert."
    )


def _refused(exc: httpx.HTTPStatusError) -> str:
    detail = exc.response.text[:300]
    return (
        f"The Prefect API answered {exc.response.status_code} to {exc.request.method} "
        f"{exc.request.url.path}: {detail}"
    )
