"""A long-lived process for the fault tests, driven line by line on stdin (not collected).

Usage: python _steady.py, then one command per line; each answers one JSON line on stdout:

- `load NAME`: (re)load saved block NAME; answers `{}`.
- `call NAME`: with the loaded block, get a token and `GET /balance` through `get_client()`.
- `loop NAME SECONDS`: `call` every 20 ms for SECONDS; answers the calls made and every error.

A `call` answers the token's fingerprint (sha256 of the access token, never the token), its
seconds left, the API status, the error if any, and the warnings our loggers wrote since the last
answer. The process quits at end of input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from typing import Any

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.models import utc_now


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def call(block: TelnyxOAuthCredentials) -> dict[str, Any]:
    try:
        token = block.get_token()
        with block.get_client() as client:
            status = client.get("/balance").status_code
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    secret = token.access_token.get_secret_value()
    return {
        "token": hashlib.sha256(secret.encode()).hexdigest(),
        "left": token.seconds_left(utc_now()),
        "status": status,
        "error": None if status == 200 else f"HTTP {status}",
    }


def main() -> None:
    warnings = Warnings()
    for name in ("telnyx_oauth", "prefect_telnyx_oauth"):
        logging.getLogger(name).addHandler(warnings)
    blocks: dict[str, TelnyxOAuthCredentials] = {}
    for line in sys.stdin:
        command, name, *rest = line.split()
        if command == "load" or name not in blocks:
            blocks[name] = TelnyxOAuthCredentials.load(name, _sync=True)
        answer: dict[str, Any] = {}
        if command == "call":
            answer = call(blocks[name])
        elif command == "loop":
            results = []
            end = time.monotonic() + float(rest[0])
            while time.monotonic() < end:
                results.append(call(blocks[name]))
                time.sleep(0.02)
            answer = {
                "calls": len(results),
                "errors": [r["error"] for r in results if r["error"]],
                "tokens": sorted({r["token"] for r in results if "token" in r}),
            }
        answer["warnings"], warnings.lines = warnings.lines, []
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
