"""A worker process for the cross-process tests (run as a script, not collected by pytest).

Usage: python _worker.py BLOCK_NAME THREADS GO_FILE

Loads the saved block, prints READY, waits until GO_FILE exists (so every process races at
once), gets a token from THREADS threads, and prints one JSON line: token fingerprints and errors.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from pathlib import Path

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.models import utc_now


def main() -> None:
    name, threads, go_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    block = TelnyxOAuthCredentials.load(name, _sync=True)
    print("READY", flush=True)
    while not go_file.exists():
        time.sleep(0.01)
    tokens: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            token = block.get_token()
            digest = hashlib.sha256(token.access_token.get_secret_value().encode()).hexdigest()
            with lock:
                tokens.append(f"{digest}:{token.seconds_left(utc_now()):.0f}")
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"tokens": tokens, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
