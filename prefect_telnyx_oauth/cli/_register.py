"""`register` (RFC 7591: a new OAuth client, saved as a block) and `grants list/revoke`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
import typer
from pydantic import SecretStr

from prefect_telnyx_oauth._api import call_telnyx
from prefect_telnyx_oauth.cli._blocks import _BLOCK_NAME, _block_exists
from prefect_telnyx_oauth.cli._common import (
    describe_error,
    fail,
    format_instant,
    load_block,
    prefect_unreachable,
)
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.registration import check_registration, parse_grants, register_client
from telnyx_oauth.settings import DEFAULT_BASE_URL

grants = typer.Typer(
    help="See and revoke the OAuth grants users gave clients.", no_args_is_help=True
)

BlockOption = Annotated[
    str, typer.Option("--block", "-b", help="The saved block whose token calls Telnyx.")
]
_PAGE_SIZE = 100
_AUTH_METHOD = "client_secret_basic"  # the block's default, so the saved block matches


def register(
    name: Annotated[str, typer.Option("--name", help="The client's name, shown to users.")],
    save_block: Annotated[
        str, typer.Option("--save-block", help="Save the new client as this block.")
    ],
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option("--redirect-uri", help="https, or http on loopback; repeatable."),
    ] = None,
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="client_credentials (default), authorization_code, ..."),
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Scopes the client may ask for.")] = None,
    base_url: Annotated[
        str, typer.Option(envvar="TELNYX_BASE_URL", help="The Telnyx API root.")
    ] = DEFAULT_BASE_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TELNYX_API_KEY",
            help="A Telnyx API key, if registration asks for one (prefer the variable).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a block that already has this name.")
    ] = False,
) -> None:
    """Register an OAuth client with Telnyx and save it as a block.

    The client secret is printed once, here; the block keeps it masked from then on.
    """
    grant_types = grant or ["client_credentials"]
    uris = redirect_uri or []
    if not _BLOCK_NAME.fullmatch(save_block):
        fail(f"Block name {save_block!r} may hold only lowercase letters, digits and dashes.")
    try:  # every check before the one request that creates something at Telnyx
        require_secure_url(base_url, name="base_url")
        check_registration(
            name=name,
            redirect_uris=uris,
            grant_types=grant_types,
            auth_method="client_secret_basic",
        )
        exists = _block_exists(save_block)
    except TelnyxOAuthError as exc:
        fail(describe_error(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    if exists and not overwrite:
        fail(f"Block {save_block!r} already exists. Pass --overwrite to replace it.")
    try:
        client = register_client(
            base_url,
            name=name,
            redirect_uris=uris,
            grant_types=grant_types,
            scope=scope,
            api_key=SecretStr(api_key) if api_key else None,
        )
    except TelnyxOAuthError as exc:
        fail(describe_error(exc))
    except httpx.HTTPError as exc:
        fail(
            f"Could not reach Telnyx at {base_url} ({type(exc).__name__}); nothing was registered."
        )
    if client.client_secret is None:
        fail(f"Telnyx registered client {client.client_id!r} without a secret; no block saved.")
    typer.echo(f"Registered client {client.client_name or name!r}: client id {client.client_id}")
    typer.echo(f"Client secret (shown this once): {client.client_secret.get_secret_value()}")
    user = "authorization_code" in grant_types and "client_credentials" not in grant_types
    try:
        block = TelnyxOAuthCredentials(
            client_id=client.client_id,
            client_secret=client.client_secret,
            base_url=base_url,
            scope=scope,
            grant_type="authorization_code" if user else "client_credentials",
        )
        block.save(save_block, overwrite=overwrite, _sync=True)  # type: ignore[call-arg]
    except (TelnyxOAuthError, httpx.HTTPError, OSError) as exc:
        fail(
            f"The client is registered but block {save_block!r} was not saved "
            f"({describe_error(exc)}). Save the id and secret above with "
            f"`prefect-telnyx-oauth create-block {save_block}`."
        )
    typer.echo(f"Saved block {save_block!r}; its secret is masked from now on.")
    step = "authorize" if user else "check"
    typer.echo(f"Next: `prefect-telnyx-oauth {step} --block {save_block}`.")


@grants.command("list")
def list_grants(block: BlockOption) -> None:
    """List the OAuth grants of the account: id, client, scopes, created, last used."""
    credentials = load_block(block)
    rows: list[Any] = []
    try:
        with credentials.get_client() as http:
            page = 1
            while True:
                params = {"page[number]": page, "page[size]": _PAGE_SIZE}
                body = call_telnyx(credentials, "GET", "/oauth/grants", params=params, client=http)
                rows += parse_grants(body)
                if page >= int((body.get("meta") or {}).get("total_pages") or 1):
                    break
                page += 1
    except (TelnyxOAuthError, httpx.HTTPError) as exc:
        fail(f"Block {block!r}: {describe_error(exc)}")
    if not rows:
        typer.echo("No OAuth grants.")
        return
    for row in rows:
        scopes = " ".join(row.scopes) or "-"
        used = format_instant(row.last_used_at)
        typer.echo(
            f"{row.id}  client {row.client_id}  scopes {scopes}  "
            f"created {format_instant(row.created_at)}  last used {used}"
        )


@grants.command("revoke")
def revoke_grant(
    grant_id: Annotated[str, typer.Argument(help="The grant's id (from `grants list`).")],
    block: BlockOption,
) -> None:
    """Revoke one OAuth grant: the client loses the access that user gave it."""
    try:
        uuid.UUID(grant_id)
    except ValueError:
        fail(f"Grant id {grant_id!r} is not a UUID; `prefect-telnyx-oauth grants list` shows ids.")
    credentials = load_block(block)
    try:
        call_telnyx(credentials, "DELETE", f"/oauth/grants/{grant_id}")
    except (TelnyxOAuthError, httpx.HTTPError) as exc:
        fail(f"Block {block!r}: {describe_error(exc)}")
    typer.echo(f"Revoked grant {grant_id}.")
