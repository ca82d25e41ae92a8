"""Task processes of a real LocalExecutor: the execution API server plus
`airflow dags test --use-executor`, against the emulator on loopback.

Every task runs in its own process, so only the connection's Variable and the file lock can make
them share one token; and every task log file must show `***` where a token was printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.conftest import connection_json

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_server(airflow_db: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """`airflow api-server` on loopback; yields the environment its task processes need."""
    port = _free_port()
    env = dict(os.environ)
    env.update(
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=os.urandom(16).hex(),
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp_path / "logs"),
    )
    server = subprocess.Popen(
        [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/execution/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("airflow api-server did not become healthy within 120 s")
        yield env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_task_processes_share_one_token_and_logs_mask_it(
    api_server: dict[str, str], emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    env = dict(api_server, AIRFLOW_CONN_TELNYX_TEST=connection_json(emulator))

    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "telnyx_leaky", "--use-executor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert emulator.counters.token_requests == 1
    assert emulator.counters.api_requests == 4
    tokens = emulator.issued_access_tokens()
    logs = sorted((tmp_path / "logs").glob("dag_id=telnyx_leaky/**/task_id=leak/**/*.log"))
    assert len(logs) == 4
    for log in logs:
        text = log.read_text()
        assert "leaked by print: ***" in text
        assert "leaked by logging: Bearer ***" in text
        assert not any(token in text for token in tokens)
