"""Prefect API servers (`prefect server start`) on one PostgreSQL database, and fleets of processes.

Each server is a real `prefect server start` on 127.0.0.1 with its own PREFECT_HOME; all share the
database URL. The first one migrates the database; the next ones start only after it is healthy,
so two migrations never race.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from tests.integration.test_cross_process import Server, base_env, free_port, race

START_TIMEOUT_SECONDS = 180.0


class ApiServer(Server):
    """A `prefect server start` process that a test can stop and start again on the same port.

    Args:
        home: Its PREFECT_HOME (log file included).
        database_url: The shared `PREFECT_API_DATABASE_CONNECTION_URL`.
        settings: Extra PREFECT_* settings for the server process.
    """

    def __init__(self, home: Path, database_url: str, settings: dict[str, str] | None = None):
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}/api", home)
        self.database_url = database_url
        self.settings = settings or {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def start(self) -> None:
        """Start and return once `/health` answers 200."""
        env = base_env(self.home) | self.settings
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        self._log = self.log_path.open("a")
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        self._process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a stop reaches uvicorn's children too
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.healthy():
            if self._process.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server not healthy in {START_TIMEOUT_SECONDS} s")
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and wait until it is gone."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def start_servers(
    homes: Sequence[Path], database_url: str, settings: dict[str, str] | None = None
) -> list[ApiServer]:
    """Start one server per home on `database_url`, one after the other; all or none."""
    servers: list[ApiServer] = []
    try:
        for home in homes:
            server = ApiServer(home, database_url, settings)
            servers.append(server)
            server.start()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


class RoundRobin(Server):
    """Several servers seen as one by `race()`: each process it starts gets the next server.

    `race()` asks for one environment per process, in process order, so process i talks to
    server i mod n.
    """

    def __init__(self, servers: Sequence[Server]) -> None:
        super().__init__(servers[0].url, servers[0].home)
        self._next = itertools.cycle(servers)

    def env(self, home: Path) -> dict[str, str]:
        return next(self._next).env(home)


def fleet(
    servers: Sequence[Server], tmp_path: Path, name: str, processes: int, threads: int = 1
) -> list[dict[str, Any]]:
    """`race()` with process i on server i mod len(servers): JSON reports in process order."""
    return race(RoundRobin(servers), tmp_path, name, processes, threads)


async def update_block_data(server: Server, name: str, data: dict[str, Any]) -> None:
    """Merge `data` into saved block `name` through the API, as the UI's edit form does."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import BlockDocumentUpdate

    async with PrefectClient(api=server.url) as client:
        document = await client.read_block_document_by_name(name, "telnyx-oauth-credentials")
        assert document.id is not None
        update = BlockDocumentUpdate(data=data, merge_existing_data=True)
        await client.update_block_document(document.id, update)


async def read_block_data(server: Server, name: str) -> dict[str, Any]:
    """The saved block's data as the API returns it (secrets included, for assertions)."""
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=server.url) as client:
        document = await client.read_block_document_by_name(
            name, "telnyx-oauth-credentials", include_secrets=True
        )
        return dict(document.data)
