"""`authorize`: connect a Telnyx account to a saved block (authorization code grant with PKCE).

The redirect comes back to a one-shot listener on 127.0.0.1 (RFC 8252 §7.3: the server accepts
any port of a registered loopback redirect URI). The listener answers the redirect and closes;
nothing is saved unless the `state` matches and the code exchange succeeds.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

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
from telnyx_oauth.discovery import discover
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.pkce import build_authorization_url, generate_pkce_pair

CALLBACK_PATH = "/callback"
_POLL_SECONDS = 0.1
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>prefect-telnyx-oauth</title>"
    "</head><body><p>{message}</p><p>You can close this tab and return to the terminal.</p>"
    "</body></html>"
)


class AuthorizationFailed(Exception):
    """The authorization ended without tokens; the message is the one line to show."""


class RedirectListener:
    """Takes one authorization redirect on `http://127.0.0.1:PORT/callback`, then closes.

    Requests to other paths (a browser's favicon) get a 404 and do not count. The request line
    carries the authorization code, so nothing is logged.

    Args:
        port: The port to bind; 0 picks a free one (see `redirect_uri`).

    Raises:
        OSError: the port cannot be bound.
    """

    def __init__(self, port: int = 0) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            # A connection that never sends a request must not hold the listener for long.
            timeout = 10

            def do_GET(self) -> None:
                listener._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._server.timeout = _POLL_SECONDS
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"
        self._params: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="redirect-listener", daemon=True)

    def _serve(self) -> None:
        with self._server:
            while not (self._arrived.is_set() or self._stopping.is_set()):
                self._server.handle_request()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        if parts.path != CALLBACK_PATH:
            self._respond(handler, 404, "Not the authorization redirect.")
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        message = (
            "Telnyx did not authorize the connection."
            if "error" in params
            else "Authorization received."
        )
        self._respond(handler, 200, message)
        self._params = params
        self._arrived.set()

    @staticmethod
    def _respond(handler: BaseHTTPRequestHandler, status: int, message: str) -> None:
        body = _PAGE.format(message=message).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> None:
        """Serve from a daemon thread."""
        self._thread.start()

    def wait(self, timeout_seconds: float) -> dict[str, str] | None:
        """Return the redirect's query parameters, or None after `timeout_seconds`; then close."""
        try:
            arrived = self._arrived.wait(timeout_seconds)
        finally:
            self.close()
        return self._params if arrived else None

    def close(self) -> None:
        """Stop serving and release the port."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        else:
            self._server.server_close()


def _printable(text: str, limit: int = 200) -> str:
    # The error text comes from a URL anyone could craft: one line, bounded.
    text = "".join(char if char.isprintable() else " " for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code_from(params: dict[str, str] | None, state: str, timeout_seconds: float) -> str:
    """The authorization code of a redirect that answers our request, or why there is none."""
    if params is None:
        msg = (
            f"No authorization arrived within {timeout_seconds:g} s; nothing was saved. Run the "
            "command again (or raise --timeout)."
        )
        raise AuthorizationFailed(msg)
    if not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
        msg = (
            "The redirect's state does not match this authorization request (a stale or forged "
            "redirect); nothing was saved. Run the command again."
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
    port: int = 0,
    timeout_seconds: float = 300.0,
    open_url: Callable[[str], object] | None = webbrowser.open,
    echo: Callable[[str], object] = typer.echo,
) -> TelnyxToken:
    """Run the authorization code flow for a saved block and store the tokens on it.

    Args:
        block_name: The saved block; its client id, secret and base URL are used.
        scope: Scopes to ask for; None: the block's scope, else the client's default.
        port: The listener's port on 127.0.0.1; 0 picks a free one.
        timeout_seconds: How long to wait for the redirect.
        open_url: Opens the authorization URL (a browser); None only prints it.
        echo: Prints a line for the user.

    Returns:
        The new token (access and refresh), already saved on the block document.

    Raises:
        AuthorizationFailed: timeout, denied consent, state mismatch, or no usable port.
        TokenError: the token endpoint refused the code exchange.
    """
    block = load_block(block_name)
    metadata = discover(block.base_url, timeout_seconds=block.timeout_seconds)
    try:
        listener = RedirectListener(port)
    except OSError as exc:
        msg = f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}). Use --port 0 for a free port."
        raise AuthorizationFailed(msg) from None
    pair = generate_pkce_pair()
    state = secrets.token_urlsafe(24)
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
    code = _code_from(params, state, timeout_seconds)
    return exchange_authorization_code(
        block,
        token_url=block.token_url or metadata.token_endpoint,
        code=code,
        redirect_uri=listener.redirect_uri,
        code_verifier=pair.verifier,
    )


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
        int, typer.Option(min=0, max=65535, help="Listener port on 127.0.0.1; 0 picks one.")
    ] = 0,
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
