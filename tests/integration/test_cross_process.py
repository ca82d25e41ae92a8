"""Several processes share one token through a real `prefect server start` on 127.0.0.1.

The server gets its own PREFECT_HOME (SQLite) in a temporary folder; workers are separate Python
processes that load the same saved block. The emulator runs in this process and counts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from tests.secret_scan import secret_variants

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
WORKER = HERE / "_worker.py"
SCAN_FLOW = HERE / "_scan_flow.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TELNYX_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


class Server:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def env(self, home: Path) -> dict[str, str]:
        return base_env(home, self.url)

    def run(self, code: str, home: Path) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env(home),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server-home")
    port = free_port()
    log = (home / "server.log").open("w")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=base_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "prefect server did not start in 120 s"
            time.sleep(0.5)
        server = Server(url, home)
        # Register the block type once, before any concurrent use.
        server.run(
            "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
            "B.register_type_and_schema(_sync=True)",
            tmp_path_factory.mktemp("register-home"),
        )
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def save_block(server: Server, home: Path, name: str, emulator: TelnyxEmulator) -> None:
    server.run(
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
        f"B(client_id={emulator.client_id!r}, client_secret={emulator.client_secret!r},"
        f" base_url={emulator.base_url!r}).save({name!r}, overwrite=True)",
        home,
    )


def race(
    server: Server, tmp_path: Path, name: str, processes: int, threads: int
) -> list[dict[str, Any]]:
    """Start `processes` workers, release them at once, and return their JSON reports."""
    go_file = tmp_path / f"go-{name}"
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), name, str(threads), str(go_file)],
            env=server.env(tmp_path / f"home-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "READY", worker.stderr.read() if worker.stderr else line
    go_file.touch()
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-3000:]
        # The worker's log lines travel with its report, so a failed count can be explained.
        reports.append(json.loads(out.strip().splitlines()[-1]) | {"log": err[-2000:]})
    return reports


def logs(reports: list[dict[str, Any]]) -> str:
    return "\n".join(r["log"] for r in reports if r["log"].strip())


def digests(tokens: list[str]) -> set[str]:
    return {hashlib.sha256(token.encode()).hexdigest() for token in tokens}


def test_eight_processes_on_a_cold_cache_send_one_token_request(
    prefect_server: Server, emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    emulator.set_token_latency(0.3)
    save_block(prefect_server, tmp_path / "setup", "cold-eight", emulator)
    reports = race(prefect_server, tmp_path, "cold-eight", processes=8, threads=1)
    assert [r["errors"] for r in reports] == [[]] * 8
    results = {token for r in reports for token in r["tokens"]}
    fingerprints = {result.split(":")[0] for result in results}
    assert len(fingerprints) == 1, logs(reports)
    assert fingerprints <= digests(emulator.issued_access_tokens())
    assert all(int(result.split(":")[1]) > 0 for result in results)
    assert emulator.counters.token_requests == 1, logs(reports)


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code"])
def test_rotation_race_across_processes_surfaces_no_invalid_grant(
    prefect_server: Server, emulator_factory: Any, tmp_path: Path, grant_type: str
) -> None:
    emulator = emulator_factory(
        rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    )
    emulator.set_token_latency(0.2)
    # An authorization-code block refreshes only with its refresh token: the race must hold too.
    save_block(prefect_server, tmp_path / "setup", "rotation", emulator)
    past = (utc_now() - timedelta(minutes=5)).isoformat()
    # Get a first token with a refresh token into the document, then make it stale.
    prefect_server.run(
        "import asyncio\n"
        "from prefect.client.orchestration import get_client\n"
        "from prefect.client.schemas.actions import BlockDocumentUpdate\n"
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B\n"
        "B.load('rotation', _sync=True).get_token()\n"
        "async def expire():\n"
        "    async with get_client() as c:\n"
        "        d = await c.read_block_document_by_name('rotation', 'telnyx-oauth-credentials')\n"
        f"        data = {{'access_token_expires_at': {past!r}, 'grant_type': {grant_type!r}}}\n"
        "        await c.update_block_document(d.id, BlockDocumentUpdate(data=data))\n"
        "asyncio.run(expire())\n",
        tmp_path / "setup",
    )
    emulator.reset_counters()
    reports = race(prefect_server, tmp_path, "rotation", processes=8, threads=10)
    assert [r["errors"] for r in reports] == [[]] * 8
    assert len({token.split(":")[0] for r in reports for token in r["tokens"]}) == 1
    assert emulator.counters.token_requests_by_grant == {"refresh_token": 1}, logs(reports)
    assert emulator.counters.token_requests_by_status == {200: 1}


def _needles(secret_values: list[str], client_id: str, client_secret: str) -> dict[bytes, str]:
    """Every form a secret could take in a log, a result or a database row, each with its label.

    `secret_variants` finds a secret inside a longer base64 blob at any byte alignment, such as a
    pickled token in a result file, and the Basic header (itself base64) is a secret of its own.
    """
    secrets = {f"secret {n}": value for n, value in enumerate(secret_values)}
    for form, userpass in (
        ("raw", f"{client_id}:{client_secret}"),
        ("form-encoded", f"{quote_plus(client_id)}:{quote_plus(client_secret)}"),
    ):
        secrets[f"basic header ({form})"] = base64.b64encode(userpass.encode()).decode("ascii")
    return {
        variant.encode(): label
        for label, value in secrets.items()
        for variant in secret_variants(value)
    }


def _unwrapped(data: bytes) -> list[bytes]:
    """`data` as-is, without line breaks, and without JSON-escaped line breaks too.

    Prefect stores a task result as base64 with a line break every 76 characters, inside a JSON
    document where each break is the two characters backslash and n (and JSON may write `/` as
    backslash and slash): a secret split by a break is whole again once the breaks are gone.
    """
    joined = data.replace(b"\r", b"").replace(b"\n", b"")
    unescaped = joined.replace(b"\\r", b"").replace(b"\\n", b"").replace(b"\\/", b"/")
    return [data, joined, unescaped]


def test_no_secret_reaches_logs_results_or_the_database(
    prefect_server: Server, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = emulator_factory(
        client_secret="scan-s3cret-%:+ \u00e9", refresh_token_on_client_credentials=True
    )
    home = tmp_path / "scan-home"
    save_block(prefect_server, home, "scan", emulator)
    env = prefect_server.env(home) | {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    done = subprocess.run(
        [sys.executable, str(SCAN_FLOW), "scan"],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    errors = [line for line in done.stderr.splitlines() if b"DEBUG" not in line]
    assert done.returncode == 0, b"\n".join(errors)[-4000:].decode(errors="replace")
    assert emulator.counters.tokens_issued >= 2  # the flow forced a refresh
    assert emulator.counters.api_requests_by_status.get(200, 0) >= 1
    assert b"DEBUG" in done.stderr  # the scan really saw debug output, httpx's included
    assert b"httpx" in done.stderr
    assert any((home / "storage").rglob("*")), "results were not persisted: nothing to scan"

    secrets = [emulator.client_secret]
    secrets += emulator.issued_access_tokens() + emulator.issued_refresh_tokens()
    needles = _needles(secrets, emulator.client_id, emulator.client_secret)
    haystacks = {"stdout": done.stdout, "stderr": done.stderr}
    for root in (home, prefect_server.home):
        for path in root.rglob("*"):
            if path.is_file():
                haystacks[str(path)] = path.read_bytes()
    leaks = {
        (label, where)
        for needle, label in needles.items()
        for where, data in haystacks.items()
        if any(needle in text for text in _unwrapped(data))
    }
    assert not leaks, "secrets found:\n" + "\n".join(f"{w}: {label}" for label, w in sorted(leaks))
