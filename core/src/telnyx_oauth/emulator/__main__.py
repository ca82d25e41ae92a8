"""`python -m telnyx_oauth.emulator`: a local Telnyx.

It prints the base URL, `export TELNYX_...` lines for the client library and ready curl commands,
then one line per request unless `--quiet`. Knobs given as flags apply from the start; change them
later with `POST /_emulator/knobs` (see the package docstring).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import shlex
import signal
import sys
import threading
from types import FrameType

from telnyx_oauth.emulator._emulator import TelnyxEmulator
from telnyx_oauth.emulator._state import BASIC_AUTH_DECODINGS

# uvicorn's access log, one record per request.
REQUEST_LOGGER = "uvicorn.access"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m telnyx_oauth.emulator",
        description="Serve a local Telnyx OAuth token endpoint and API until Ctrl-C.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    add("--port", type=int, default=8765, help="port to bind; 0 picks a free one (default 8765)")
    add("--client-id", default="emulator-client", help="id of the registered client")
    add("--client-secret", default="emulator-secret", help="secret of the registered client")
    add("--token-ttl", type=float, default=3600, metavar="S", help="access token lifetime")
    add("--rotate-refresh-tokens", action="store_true", help="rotate refresh tokens on use")
    add(
        "--refresh-token-on-client-credentials",
        action="store_true",
        help="also return a refresh token for client_credentials",
    )
    add("--fail-next-token-requests", type=int, default=0, metavar="N")
    add("--fail-next-api-requests", type=int, default=0, metavar="N")
    add("--fail-status", type=int, default=503, metavar="S", help="status of those failures")
    add("--rate-limit-next-token-requests", type=int, default=0, metavar="N")
    add("--retry-after", type=int, default=1, metavar="S", help="Retry-After of those 429s")
    add("--token-latency", type=float, default=0.0, metavar="S", help="delay of token answers")
    add(
        "--basic-auth-decoding",
        choices=BASIC_AUTH_DECODINGS,
        default="unquote_plus",
        help="how HTTP Basic client credentials are decoded (default: unquote_plus, RFC 6749)",
    )
    add("--quiet", action="store_true", help="do not log each request")
    return parser


def banner(emulator: TelnyxEmulator) -> str:
    """Return the start-up text: URL, exports and curl examples."""
    base = emulator.base_url
    admin = base.removesuffix("/v2") + "/_emulator"
    exports = {
        "TELNYX_BASE_URL": base,
        "TELNYX_CLIENT_ID": emulator.client_id,
        "TELNYX_CLIENT_SECRET": emulator.client_secret,
    }
    lines = [f"Telnyx emulator serving {base} (Ctrl-C to stop)", ""]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in exports.items()]
    token_cmd = (
        'curl -s "$TELNYX_BASE_URL/oauth/token" -d grant_type=client_credentials '
        '--data-urlencode "client_id=$TELNYX_CLIENT_ID" '
        '--data-urlencode "client_secret=$TELNYX_CLIENT_SECRET"'
    )
    read_token = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    lines += [
        "",
        "# a token:",
        token_cmd,
        "# the balance, with a fresh token:",
        f"TOKEN=$({token_cmd} | {read_token})",
        'curl -s "$TELNYX_BASE_URL/balance" -H "Authorization: Bearer $TOKEN"',
        "# change knobs while it runs:",
        f"curl -s -X POST {admin}/knobs -H 'Content-Type: application/json' "
        "-d '{\"fail_next_token_requests\": 2}'",
    ]
    return "\n".join(lines)


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (`localhost` or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def log_requests_to_stdout() -> None:
    """Print uvicorn's access log lines to stdout, whatever logging configuration is in place.

    `logging.basicConfig` does nothing once the root logger has a handler, and Prefect's logging
    configuration (loaded with Prefect, which a plugin or this package may import) gives the root
    a handler at WARNING and sets uvicorn's loggers to the server log level. So the request
    logger gets its own handler and level, and stops propagating to avoid printing twice.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.disabled = False


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = _parser().parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"warning: binding {args.host}: the /_emulator/ admin routes are unauthenticated, so "
            "anyone who can reach this address can change the knobs, register clients and read "
            "the counters. Bind 127.0.0.1 unless the network is trusted.",
            file=sys.stderr,
        )
    emulator = TelnyxEmulator(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl_seconds=args.token_ttl,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        refresh_token_on_client_credentials=args.refresh_token_on_client_credentials,
        token_latency_seconds=args.token_latency,
        log_requests=not args.quiet,
        basic_auth_decoding=args.basic_auth_decoding,
    )
    if args.fail_next_token_requests:
        emulator.fail_next_token_requests(args.fail_next_token_requests, args.fail_status)
    if args.fail_next_api_requests:
        retry_after = args.retry_after if args.fail_status == 429 else None
        emulator.fail_next_api_requests(
            args.fail_next_api_requests, args.fail_status, retry_after=retry_after
        )
    if args.rate_limit_next_token_requests:
        emulator.rate_limit_next_token_requests(
            args.rate_limit_next_token_requests, args.retry_after
        )
    # SIGTERM stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        emulator.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(
                f"port {args.port} on {args.host} is already in use: stop what holds it, or "
                "pass --port 0 to pick a free port."
            )
        return _fail(f"cannot bind {args.host} port {args.port}: {exc.strerror or exc}.")
    if not args.quiet:
        log_requests_to_stdout()
    try:
        print(banner(emulator), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
