"""A task process for `test_independent_processes.py` (run as a script, not collected by pytest).

Usage: python _lock_worker.py CONN_ID VARIABLES_FILE LOCK_DIR GO_FILE

Builds the hook of connection CONN_ID (defined in the environment) over Variables kept in one JSON
file, with the same-host file lock in LOCK_DIR; prints READY; waits until GO_FILE exists (so every
process asks at once); asks for a token; and prints one JSON line: the token's sha256, or the error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_telnyx_oauth.hooks import TelnyxOAuthHook


class FileVariables:
    """Airflow Variables as one JSON file that every process of the test reads and writes.

    A write replaces the file in one `os.replace`, so a reader sees the old or the new values,
    never half of them. Whether two writers can overwrite each other is what the lock decides.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _values(self) -> dict[str, str]:
        try:
            values: dict[str, str] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return values

    def get(self, key: str) -> str | None:
        return self._values().get(key)

    def set(self, key: str, value: str) -> None:
        values = self._values() | {key: value}
        fd, temp = tempfile.mkstemp(dir=self.path.parent)
        with os.fdopen(fd, "w") as file:
            json.dump(values, file)
        os.replace(temp, self.path)


def main() -> None:
    conn_id, variables, lock_dir, go_file = sys.argv[1:5]
    hook = TelnyxOAuthHook(
        conn_id, variables=FileVariables(Path(variables)), lock_directory=lock_dir
    )
    hook.token_source()  # the connection, its stamp and its lock, before the race starts
    print("READY", flush=True)
    while not Path(go_file).exists():
        time.sleep(0.01)
    try:
        token = hook.get_token().access_token.get_secret_value()
        report = {"token": hashlib.sha256(token.encode()).hexdigest(), "error": None}
    except Exception as exc:
        report = {"token": None, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
