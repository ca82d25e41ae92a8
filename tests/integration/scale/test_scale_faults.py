"""Faults at scale: the Prefect API down, a UI edit during a refresh, PostgreSQL restarted under
load, and a lock holder killed mid-refresh.

These run on `isolated_pair` (two API servers on a PostgreSQL cluster of this module's own), since
they stop a server and restart the database. Long-lived processes (`_steady.py`) hold a token in
memory across the fault; the emulator, in this process, counts what reaches the token endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.scale._postgres import Postgres
from tests.integration.scale._servers import ApiServer, fleet, read_block_data, update_block_data
from tests.integration.test_cross_process import WORKER, save_block

pytestmark = pytest.mark.slow

STEADY = Path(__file__).parent / "_steady.py"


class Steady:
    """One `_steady.py` process: send a command, get its JSON answer."""

    def __init__(self, server: ApiServer, home: Path) -> None:
        self._stderr = (home.parent / f"{home.name}.stderr").open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(STEADY)],
            env=server.env(home),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, Path(self._stderr.name).read_text()[-3000:]
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        self.send(command)
        return self.answer()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._stderr.close()


@pytest.fixture
def steady(tmp_path: Path) -> Iterator[Callable[[ApiServer], Steady]]:
    started: list[Steady] = []

    def start(server: ApiServer) -> Steady:
        started.append(Steady(server, tmp_path / f"steady-{len(started)}"))
        return started[-1]

    yield start
    for process in started:
        process.close()


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.005)


async def test_api_down_keeps_calls_working_and_persistence_resumes_when_it_returns(
    isolated_pair: list[ApiServer],
    emulator_factory: Any,
    steady: Callable[[ApiServer], Steady],
    tmp_path: Path,
) -> None:
    emulator: TelnyxEmulator = emulator_factory(token_ttl_seconds=8)
    server = isolated_pair[1]
    save_block(server, tmp_path / "setup", "down", emulator)
    a, b = steady(server), steady(server)
    warm = [a.ask("call down"), b.ask("call down")]
    assert warm[0]["token"] == warm[1]["token"]
    assert emulator.counters.token_requests == 1

    server.stop()
    try:
        # Warm: served from memory, nothing asked of anyone.
        assert [a.ask("call down")["token"], b.ask("call down")["token"]] == [warm[0]["token"]] * 2
        assert emulator.counters.token_requests == 1
        # Due with the API still down: each process refreshes for itself, and says so.
        time.sleep(max(warm[0]["left"], warm[1]["left"]) + 0.5)
        alone = [a.ask("call down"), b.ask("call down")]
        assert [r["error"] for r in alone] == [None, None]
        assert all(r["warnings"] for r in alone), alone
        assert emulator.counters.token_requests == 3
    finally:
        server.start()

    # Back: the next refresh is saved again and shared, with no manual step.
    time.sleep(max(r["left"] for r in alone) + 0.5)
    shared = [a.ask("call down"), b.ask("call down")]
    assert [r["error"] for r in shared] == [None, None]
    assert shared[0]["token"] == shared[1]["token"]
    assert emulator.counters.token_requests == 4
    saved = await read_block_data(isolated_pair[0], "down")
    assert sha(saved["access_token"]) == shared[0]["token"]


async def test_secret_edited_during_a_refresh_survives_and_is_never_mixed_with_tokens(
    isolated_pair: list[ApiServer],
    emulator: TelnyxEmulator,
    steady: Callable[[ApiServer], Steady],
    tmp_path: Path,
) -> None:
    old_secret, new_secret = emulator.client_secret, "rotated-in-the-portal"
    latency = 1.0
    emulator.set_token_latency(latency)
    worker, fresh = steady(isolated_pair[0]), steady(isolated_pair[1])
    # The edit lands from before the token answer to after the worker's write-back (a few ms
    # to tens of ms after the answer on PostgreSQL), one round per offset.
    for n, offset in enumerate((-0.2, -0.01, 0.0, 0.01, 0.03, 0.1)):
        name = f"edited-{n}"
        emulator.add_client(emulator.client_id, old_secret)
        save_block(isolated_pair[0], tmp_path / "setup", name, emulator)
        before = emulator.counters.token_requests
        worker.ask(f"load {name}")
        worker.send(f"call {name}")
        wait_until(lambda b=before: emulator.counters.token_requests > b, 60, "token request")
        time.sleep(latency + offset)
        await update_block_data(isolated_pair[1], name, {"client_secret": new_secret})
        old = worker.answer()
        assert old["error"] is None, (offset, old)
        emulator.add_client(emulator.client_id, new_secret)  # rotated in the Telnyx portal

        saved = await read_block_data(isolated_pair[0], name)
        assert saved["client_secret"] == new_secret, offset
        # The new secret never gets the old token: a fresh load requests its own.
        fresh.ask(f"load {name}")
        new = fresh.ask(f"call {name}")
        assert new["error"] is None, (offset, new)
        assert new["token"] != old["token"], offset
        # The old copy never gets the new secret's token.
        assert worker.ask(f"call {name}")["token"] == old["token"], offset
    emulator.set_token_latency(0)


def test_postgres_restart_under_load_surfaces_no_error(
    isolated_pair: list[ApiServer],
    isolated_postgres: Postgres,
    emulator_factory: Any,
    steady: Callable[[ApiServer], Steady],
    tmp_path: Path,
) -> None:
    emulator: TelnyxEmulator = emulator_factory(token_ttl_seconds=3)
    save_block(isolated_pair[0], tmp_path / "setup", "restart", emulator)
    fleet_ = [steady(isolated_pair[i % 2]) for i in range(4)]
    for process in fleet_:
        assert process.ask("load restart")["warnings"] == []
        process.send("loop restart 20")
    time.sleep(5)
    isolated_postgres.stop()
    time.sleep(3)  # down long enough for refreshes (3 s tokens) to fall due meanwhile
    isolated_postgres.start()
    reports = [process.answer() for process in fleet_]
    assert [r["errors"] for r in reports] == [[]] * 4
    assert all(r["calls"] > 0 for r in reports)
    # Sharing resumes: once due again, every process ends up on the token one of them saved.
    time.sleep(3.5)
    tokens = {p.ask("call restart")["token"] for p in fleet_}
    assert len(tokens) == 1


@pytest.mark.timeout(600)
def test_killed_lock_holder_delays_others_then_one_request_follows(
    isolated_pair: list[ApiServer], emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    save_block(isolated_pair[0], tmp_path / "setup", "killed", emulator)
    emulator.set_token_latency(60)  # the holder's request is still in flight when it dies
    go = tmp_path / "go-holder"
    go.touch()
    with (tmp_path / "holder.log").open("w") as log:
        holder = subprocess.Popen(
            [sys.executable, str(WORKER), "killed", "1", str(go)],
            env=isolated_pair[0].env(tmp_path / "holder"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: emulator.counters.token_requests == 1, 120, "holder's request")
            locked_at = emulator.counters.token_request_times[0]
            os.kill(holder.pid, signal.SIGKILL)
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.wait(timeout=30)
    emulator.set_token_latency(0.05)
    killed_at = time.monotonic()
    reports = fleet(isolated_pair, tmp_path, "killed", processes=4)
    done_at = time.monotonic()
    assert [r["errors"] for r in reports] == [[]] * 4
    held = {t.split(":")[0] for r in reports for t in r["tokens"]}
    assert held <= {sha(t) for t in emulator.issued_access_tokens()}
    # No waiter waits out the dead holder's lease: after 10-15 s without a new token one
    # requests its own and the others take it (two that stall together may both request, and
    # each keeps its own token).
    assert 2 <= emulator.counters.token_requests <= 1 + len(reports)
    print(
        f"\nkilled holder: waiters done {done_at - killed_at:.0f} s after the kill, "
        f"{done_at - locked_at:.0f} s after the holder took the lock; "
        f"{emulator.counters.token_requests - 1} requests, {len(held)} tokens held"
    )
