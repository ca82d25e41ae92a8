"""`authorize`: connect a Telnyx account to a saved block (authorization code grant with PKCE).

The redirect comes back to a loopback listener (`_listener.py`) that ends the wait only for the
redirect carrying this request's `state`; nothing is saved unless the code exchange succeeds.
"""

from __future__ import annotations

import secrets
import webbrowser
from collections.abc import Callable
from typing import Annotated

import httpx
import typer

from prefect_telnyx_oauth.cli._blocks import exchange_authorization_code
from prefect_telnyx_oauth.cli._common import (
    describe_error,
    fail,
    format_duration,
    format_instant,
    load_block,
    prefect_unreachable,
)
from prefect_telnyx_oauth.cli._listener import (
    AuthorizationFailed,
    RedirectListener,
    redirect_target,
)
from telnyx_oauth.discovery import default_metadata, discover
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.pkce import build_authorization_url, generate_pkce_pair


def _printable(text: str, limit: int = 200) -> str:
    # The error text comes from a URL anyone could craft: one line, bounded.
    text = "".join(char if char.isprintable() else " " for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code_from(params: dict[str, str] | None, timeout_seconds: float) -> str:
    """The authorization code of the redirect that answers our request, or why there is none."""
    if params is None:
        msg = (
            f"No authorization arrived within {timeout_seconds:g} s; nothing was saved. Run the "
            "command again (or raise --timeout)."
        )
        raise AuthorizationFailed(msg)
    if "error" in params:
        reason = _printable(params["error"], 64)
        if params.get("error_description"):
            reason += f": {_printable(params['error_description'])}"
        msg = f"Telnyx did not authorize the connection ({reason}); nothing was saved."
        raise AuthorizationFailed(msg)
    if not params.get("code"):
        msg = "The redirect carried neither a code nor an error; nothing was saved."
        raise AuthorizationFailed(msg)
    return params["code"]


def authorize_block(
    block_name: str,
    *,
    scope: str | None = None,
    port: int | None = None,
    redirect_uri: str | None = None,
    timeout_seconds: float = 300.0,
    open_url: Callable[[str], object] | None = webbrowser.open,
    echo: Callable[[str], object] = typer.echo,
) -> TelnyxToken:
    """Run the authorization code flow for a saved block and store the tokens on it.

    Args:
        block_name: The saved block; its client id, secret and base URL are used.
        scope: Scopes to ask for; None: the block's scope, else the client's default.
        port: The listener's port on 127.0.0.1; 0 (the default) picks a free one.
        redirect_uri: A loopback http redirect URI registered for the client, sent as given;
            the listener binds to its host and port. Not together with `port`.
        timeout_seconds: How long to wait for the redirect.
        open_url: Opens the authorization URL (a browser); None only prints it.
        echo: Prints a line for the user.

    Returns:
        The new token (access and refresh), already saved on the block document.

    Raises:
        AuthorizationFailed: a redirect URI that is not loopback http, timeout, denied
            consent, or no usable port.
        TokenError: the token endpoint refused the code exchange.
    """
    # A wrong redirect URI is refused before anything is requested.
    if redirect_uri is not None:
        if port is not None:
            msg = "Pass --port or --redirect-uri, not both: the redirect URI names its port."
            raise AuthorizationFailed(msg)
        redirect_target(redirect_uri)
    block = load_block(block_name)
    # The same rule as every token request: base_url's own endpoints unless the block opts in
    # to the server's metadata, so the code, verifier and secret go only where the user pointed.
    metadata = (
        discover(block.base_url, timeout_seconds=block.timeout_seconds)
        if block.discover_token_endpoint
        else default_metadata(block.base_url)
    )
    state = secrets.token_urlsafe(24)
    listener = _listen(state, port or 0, redirect_uri)
    pair = generate_pkce_pair()
    try:
        url = build_authorization_url(
            metadata.authorization_endpoint,
            block.client_id,
            listener.redirect_uri,
            scope or block.scope,
            state,
            pair.challenge,
        )
    except TelnyxOAuthError:
        listener.close()
        raise
    listener.start()
    try:
        echo(f"Open this URL to connect block {block_name!r} (waiting {timeout_seconds:g} s):")
        echo(url)
        if open_url is not None:
            open_url(url)
        params = listener.wait(timeout_seconds)
    finally:
        # Also on Ctrl+C or a failing browser launcher: the port is never left open.
        listener.close()
    code = _code_from(params, timeout_seconds)
    return exchange_authorization_code(
        block,
        token_url=block.token_url or metadata.token_endpoint,
        code=code,
        redirect_uri=listener.redirect_uri,
        code_verifier=pair.verifier,
    )


def _listen(state: str, port: int, redirect_uri: str | None) -> RedirectListener:
    try:
        return RedirectListener(state, port, redirect_uri)
    except OSError as exc:
        if redirect_uri is None:
            msg = (
                f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}). Use --port 0 for a free port."
            )
        else:
            msg = (
                f"Cannot listen for the redirect URI {redirect_uri} ({exc.strerror}). Free its "
                "port, or register another loopback redirect URI and pass that one."
            )
        raise AuthorizationFailed(msg) from None


def open_in_browser(url: str) -> None:
    """Open `url` in the user's browser; when none can be opened, say so (the URL is printed)."""
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        typer.echo("No browser could be opened: open the URL above yourself.", err=True)


def authorize(
    block: Annotated[str, typer.Option("--block", "-b", help="Name of the saved block.")],
    scope: Annotated[
        str | None, typer.Option(help="Scopes to ask for. Default: the block's scope.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Listener port on 127.0.0.1. Default: 0, any free port."
        ),
    ] = None,
    redirect_uri: Annotated[
        str | None,
        typer.Option(
            help="The loopback redirect URI registered for the client, for servers that match "
            "it exactly, e.g. http://127.0.0.1:8765/callback. The listener binds to its port."
        ),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL; do not open a browser.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the redirect.")
    ] = 300.0,
) -> None:
    """Connect a Telnyx account: consent in the browser, then store the tokens on the block."""
    try:
        token = authorize_block(
            block,
            scope=scope,
            port=port,
            redirect_uri=redirect_uri,
            timeout_seconds=timeout,
            open_url=None if no_browser else open_in_browser,
        )
    except AuthorizationFailed as exc:
        fail(str(exc))
    except TelnyxOAuthError as exc:
        fail(f"Block {block!r}: {describe_error(exc)} Nothing was saved.")
    except (httpx.HTTPError, OSError) as exc:
        fail(prefect_unreachable(exc))
    left = format_duration(token.seconds_left(utc_now()))
    refresh = (
        "refresh token stored"
        if token.refresh_token
        else "no refresh token issued: run authorize again once it expires"
    )
    typer.echo(
        f"Connected block {block!r}: scope {token.scope or '(client default)'}; access token "
        f"expires at {format_instant(token.expires_at)} (in {left}); {refresh}."
    )
