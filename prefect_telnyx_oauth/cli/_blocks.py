"""`create-block`, and saving the tokens of an authorization on a block document."""

from __future__ import annotations

import re
from typing import Annotated

import httpx
import typer
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from prefect_telnyx_oauth.cli._common import (
    BLOCK_TYPE_SLUG,
    describe_error,
    fail,
    prefect_unreachable,
)
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from telnyx_oauth.errors import ConfigurationError, TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.settings import TelnyxSettings

_BLOCK_NAME = re.compile(r"^[a-z0-9-]+$")


def exchange_authorization_code(
    block: TelnyxOAuthCredentials,
    *,
    token_url: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> TelnyxToken:
    """Trade an authorization code for tokens and keep them on the saved block.

    Raises:
        ConfigurationError: the block has no block document.
        TokenError: the token endpoint refused the code (`InvalidGrantError` for a wrong
            verifier, a used or expired code).
    """
    if block._block_document_id is None:
        msg = f"{block.label} is not saved; save it before connecting an account to it."
        raise ConfigurationError(msg)
    return block.exchange_authorization_code(code, redirect_uri, code_verifier, token_url=token_url)


def _block_exists(name: str) -> bool:
    with get_client(sync_client=True) as client:
        try:
            client.read_block_document_by_name(name, block_type_slug=BLOCK_TYPE_SLUG)
        except ObjectNotFound:
            return False
    return True


def create_block(
    name: Annotated[str, typer.Argument(help="Block name: lowercase letters, digits, dashes.")],
    client_id: Annotated[
        str | None, typer.Option(help="OAuth client id. Default: TELNYX_CLIENT_ID.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            help="OAuth client secret. Default: TELNYX_CLIENT_SECRET, else a hidden prompt "
            "(preferred: a flag ends up in shell history).",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Telnyx API base URL. Default: TELNYX_BASE_URL.")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="Scopes to request. Default: TELNYX_OAUTH_SCOPE.")
    ] = None,
    token_url: Annotated[
        str | None, typer.Option(help="Token URL override. Default: TELNYX_TOKEN_URL.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a block that already has this name.")
    ] = False,
    disconnect: Annotated[
        bool,
        typer.Option(
            "--disconnect",
            help="With --overwrite: drop the Telnyx user connected by `authorize` (kept by "
            "default when the client credentials and scope are the same).",
        ),
    ] = False,
) -> None:
    """Save a Telnyx OAuth Credentials block from flags or TELNYX_* variables."""
    if not _BLOCK_NAME.fullmatch(name):
        fail(f"Block name {name!r} may hold only lowercase letters, digits and dashes.")
    try:
        settings = TelnyxSettings()
        exists = _block_exists(name)
    except TelnyxOAuthError as exc:
        fail(describe_error(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    if exists and not overwrite:
        fail(f"Block {name!r} already exists. Pass --overwrite to replace it.")
    client_id = client_id or settings.client_id or typer.prompt("Telnyx OAuth client id")
    secret = (
        SecretStr(client_secret)
        if client_secret
        else settings.client_secret
        or SecretStr(typer.prompt("Telnyx OAuth client secret", hide_input=True))
    )
    try:
        block = TelnyxOAuthCredentials(
            client_id=client_id,
            client_secret=secret,
            base_url=base_url or settings.base_url,
            scope=scope or settings.oauth_scope,
            token_url=token_url or settings.token_url,
        )
        block.save(name, overwrite=overwrite, disconnect=disconnect, _sync=True)  # type: ignore[call-arg]
    except TelnyxOAuthError as exc:
        fail(describe_error(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    verb = "Replaced" if exists else "Created"
    typer.echo(f"{verb} block {name!r} (client id {block.client_id!r}, base URL {block.base_url}).")
    if block.grant_type == "authorization_code":
        typer.echo("Kept the Telnyx user connected with `authorize` (refresh token and scope).")
    typer.echo(f"Next: `prefect-telnyx-oauth check --block {name}`.")
