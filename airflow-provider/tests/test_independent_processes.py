"""The same-host file lock between task processes that were started independently.

Each worker is a new interpreter started by `subprocess`, as an Airflow 3 task process is for
the provider: the supervisor forks before the task imports the provider, so nothing the provider
draws at import is shared between two tasks. A worker forked from this test process would inherit
its imported modules, and with them anything drawn at import, and would pass even with a lock
that only locks within one family of forks. Workers share the connection's Variable (one JSON
file, `_lock_worker.py`) and the lock directory; the emulator runs here and counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_telnyx_oauth.store import variable_key
from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import connection_json

WORKER = Path(__file__).parent / "_lock_worker.py"
CONN_ID = "telnyx_lock"


def race(emulator: TelnyxEmulator, tmp_path: Path, processes: int) -> list[dict[str, Any]]:
    """Start `processes` workers, release them at once, and return their JSON reports."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_TELNYX_LOCK"] = connection_json(emulator, extra={"token_lock": "file"})
    go_file = tmp_path / f"go-{len(list(tmp_path.glob('go-*')))}"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                CONN_ID,
                str(tmp_path / "variables.json"),
                str(tmp_path / "locks"),
                str(go_file),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        lines = iter(worker.stdout.readline, "")  # Airflow logs to stdout before READY
        assert any(line.strip() == "READY" for line in lines), worker.communicate()[1][-3000:]
    go_file.touch()
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_processes_started_together_send_one_token_request(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    with TelnyxEmulator(token_latency_seconds=0.5) as emulator:
        reports = race(emulator, tmp_path, processes=3)

        assert emulator.counters.token_requests == 1
        assert [r["error"] for r in reports] == [None] * 3
        assert len({r["token"] for r in reports}) == 1
        assert len(list((tmp_path / "locks").glob("*.lock"))) == 1


def test_processes_started_together_spend_a_rotating_refresh_token_once(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    with TelnyxEmulator(
        rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    ) as emulator:
        # A first token with a refresh token in the Variable, then made stale.
        assert race(emulator, tmp_path, processes=1)[0]["error"] is None
        variables_file = tmp_path / "variables.json"
        variables = json.loads(variables_file.read_text())
        stored = json.loads(variables[variable_key(CONN_ID)])
        assert stored["refresh_token"]
        past = datetime.now(timezone.utc) - timedelta(minutes=5)
        stored["access_token_expires_at"] = past.isoformat()
        variables[variable_key(CONN_ID)] = json.dumps(stored)
        variables_file.write_text(json.dumps(variables))
        emulator.reset_counters()
        emulator.set_token_latency(0.5)

        reports = race(emulator, tmp_path, processes=3)

        assert emulator.counters.token_requests_by_status == {200: 1}
        assert emulator.counters.token_requests_by_grant == {"refresh_token": 1}
        assert [r["error"] for r in reports] == [None] * 3
        assert len({r["token"] for r in reports}) == 1
