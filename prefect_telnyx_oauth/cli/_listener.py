"""The loopback listener that receives `authorize`'s redirect, and the redirect URIs it accepts.

Two ways to name where the redirect comes back (RFC 8252 §7.3):

- a port (`--port`, 0 picks a free one): `http://127.0.0.1:PORT/callback`, for servers that
  accept a registered loopback redirect URI on any port. Port 80 is the URI's default and is not
  written (`http://127.0.0.1/callback`), so an exact match with that registration holds.
- a whole redirect URI (`--redirect-uri`), sent exactly as given, for servers that match
  registered redirect URIs exactly: the listener binds to its host and port and answers its path.

Only the redirect that carries this authorization's `state` ends the wait: a local process or a
web page probing loopback ports gets a 400 and the listener keeps waiting.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CALLBACK_PATH = "/callback"
_POLL_SECONDS = 0.1
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>prefect-telnyx-oauth</title>"
    "</head><body><p>{message}</p><p>{next_step}</p></body></html>"
)
_CLOSE_TAB = "You can close this tab and return to the terminal."


class AuthorizationFailed(Exception):
    """The authorization ended without tokens; the message is the one line to show."""


def _bind_host(hostname: str) -> str | None:
    """The address to listen on for a loopback host name, or None if it is not loopback."""
    if hostname == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return None
    return str(address) if address.is_loopback else None


def _why_unusable(redirect_uri: str) -> str | None:
    """Why the listener cannot receive `redirect_uri`, or None when it can."""
    parts = urlsplit(redirect_uri)
    try:
        port = parts.port
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if parts.scheme == "https":
        return "the listener serves plain http; loopback redirect URIs use http (RFC 8252 §7.3)"
    if parts.scheme != "http":
        return "it is not an http URI"
    if _bind_host(parts.hostname or "") is None:
        return "its host is not loopback (localhost, 127.0.0.1 or [::1])"
    if port == 0:
        return "it must name the registered port (or none, for 80)"
    if "#" in redirect_uri:
        return "a redirect URI has no fragment (RFC 6749 §3.1.2)"
    return None


def redirect_target(redirect_uri: str) -> tuple[str, int, str]:
    """Where to listen for `redirect_uri`: (address, port, path).

    Raises:
        AuthorizationFailed: the URI is not an `http` URI on a loopback host (localhost,
            127.0.0.0/8 or [::1]) with an explicit or default port and no fragment.
    """
    why = _why_unusable(redirect_uri)
    if why is not None:
        msg = (
            f"--redirect-uri {redirect_uri!r} cannot be used: {why}. Pass the loopback redirect "
            "URI registered for the OAuth client, e.g. http://127.0.0.1:8765/callback."
        )
        raise AuthorizationFailed(msg)
    parts = urlsplit(redirect_uri)
    host = _bind_host(parts.hostname or "")
    assert host is not None
    return host, parts.port or 80, parts.path or "/"


class _Server(ThreadingHTTPServer):
    # One thread per connection, so an idle connection never holds up the redirect; closing
    # does not wait for such a connection (its thread ends at the handler's timeout).
    block_on_close = False
    # A flood of local probes must not fill the accept queue ahead of the real redirect (the
    # default of 5 took 36-48 s to drain 300 connections in review; 128 took 2 s).
    request_queue_size = 128


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class RedirectListener:
    """Takes the one authorization redirect that carries `state`, then closes.

    Requests to other paths (a browser's favicon) get a 404, requests to the redirect path with
    another state (or none) a 400; neither ends the wait. The request line carries the
    authorization code, so nothing is logged.

    Args:
        state: The `state` of the authorization request.
        port: The port to bind on 127.0.0.1; 0 picks a free one (see `redirect_uri`).
        redirect_uri: A whole loopback redirect URI instead (see `redirect_target`); it wins
            over `port`.

    Raises:
        AuthorizationFailed: `redirect_uri` is not a loopback http URI.
        OSError: the port cannot be bound.
    """

    def __init__(self, state: str, port: int = 0, redirect_uri: str | None = None) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            # A connection that never sends a request must not hold the listener for long.
            timeout = 10

            def do_GET(self) -> None:
                listener._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        host, path = "127.0.0.1", CALLBACK_PATH
        if redirect_uri is not None:
            host, port, path = redirect_target(redirect_uri)
        server_class = _IPv6Server if ":" in host else _Server
        self._server = server_class((host, port), Handler)
        self._server.timeout = _POLL_SECONDS
        bound = self._server.server_address[1]
        self.redirect_uri = redirect_uri or (
            f"http://127.0.0.1{'' if bound == 80 else f':{bound}'}{CALLBACK_PATH}"
        )
        self._state = state.encode()
        self._path = path
        self._params: dict[str, str] | None = None
        self._taken = threading.Lock()
        self._arrived = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="redirect-listener", daemon=True)

    def _serve(self) -> None:
        with self._server:
            while not (self._arrived.is_set() or self._stopping.is_set()):
                self._server.handle_request()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        if parts.path != self._path:
            self._respond(handler, 404, "Not the authorization redirect.", _CLOSE_TAB)
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not hmac.compare_digest(params.get("state", "").encode(), self._state):
            self._respond(
                handler,
                400,
                "This is not the redirect of this authorization: its state does not match.",
                "The command is still waiting for the redirect of the URL it printed.",
            )
            return
        with self._taken:
            first, self._params = self._params is None, self._params or params
        if not first:
            self._respond(
                handler, 409, "This authorization's redirect already arrived.", _CLOSE_TAB
            )
            return
        if "error" in params:
            self._respond(handler, 200, "Telnyx did not authorize the connection.", _CLOSE_TAB)
        elif not params.get("code"):
            self._respond(handler, 400, "The redirect carried no authorization code.", _CLOSE_TAB)
        else:
            self._respond(handler, 200, "Authorization received.", _CLOSE_TAB)
        self._arrived.set()

    @staticmethod
    def _respond(
        handler: BaseHTTPRequestHandler, status: int, message: str, next_step: str
    ) -> None:
        body = _PAGE.format(message=message, next_step=next_step).encode()
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
