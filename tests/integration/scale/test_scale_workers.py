"""Deployments through real workers: a process work pool, two `prefect worker start`, two servers.

The keeper (`flows/keep_token_fresh.py`) runs on a short schedule and refreshes the block's token
before it expires; a pipeline deployment calls the Telnyx API tasks on its own schedule. Both are
deployed from this repository's local source, with no image, and picked up by two workers, one
on each API server, over several token lifetimes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.scale._servers import ApiServer, read_block_data, update_block_data
from tests.integration.test_cross_process import save_block

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
POOL = "scale-process-pool"
# Each flow run is a new Python process: on a busy 2-core machine a run starts seconds late, so
# the keeper acts with half the token's life left and runs every 5 s.
TTL_SECONDS = 30.0
KEEPER_WINDOW_SECONDS = 15.0  # the keeper refreshes when this little is left
KEEPER_EVERY_SECONDS = 5.0
PIPELINE_EVERY_SECONDS = 6.0
LIFETIMES = 3


@pytest.fixture
def workers(api_pair: list[ApiServer], tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """A process work pool and two workers polling it, one per API server."""
    api_pair[0].run(
        "import subprocess, sys;"
        f"subprocess.run([sys.executable, '-m', 'prefect', 'work-pool', 'create', {POOL!r},"
        " '--type', 'process', '--overwrite'], check=True, capture_output=True)",
        tmp_path / "pool",
    )
    started = []
    try:
        for i, server in enumerate(api_pair):
            env = server.env(tmp_path / f"worker-{i}") | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
            command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
            log = (tmp_path / f"worker-{i}.log").open("w")
            started.append(
                subprocess.Popen(
                    [*command, "--type", "process", "--name", f"scale-worker-{i}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,  # its flow-run processes are stopped with it
                )
            )
        yield started
    finally:
        for worker in started:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)


def deploy(server: ApiServer, home: Path, entrypoint: str, name: str, **kwargs: Any) -> UUID:
    every = kwargs.pop("every_seconds")
    out = server.run(
        "import runpy, sys;"
        f"sys.argv = ['_deploy.py', {entrypoint!r}, {name!r}, {POOL!r}, {str(every)!r},"
        f" {json.dumps(kwargs)!r}];"
        f"runpy.run_path({str(HERE / '_deploy.py')!r}, run_name='__main__')",
        home,
    )
    return UUID(out.split()[-2])


async def flow_runs(server: ApiServer, deployment_id: UUID) -> list[Any]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with PrefectClient(api=server.url) as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


@pytest.mark.timeout(600)  # about 3.5 min on a busy 2-core machine: leave room above 300 s
async def test_keeper_and_pipeline_deployments_on_two_workers_over_three_lifetimes(
    api_pair: list[ApiServer],
    workers: list[subprocess.Popen[str]],
    emulator_factory: Any,
    tmp_path: Path,
) -> None:
    emulator: TelnyxEmulator = emulator_factory(token_ttl_seconds=TTL_SECONDS)
    home = tmp_path / "setup"
    save_block(api_pair[0], home, "deployed", emulator)
    # Pipelines refresh on their own only in their last second; the keeper acts 15 s earlier.
    await update_block_data(api_pair[0], "deployed", {"refresh_leeway_seconds": 1})
    keeper = deploy(
        api_pair[0],
        home,
        "flows/keep_token_fresh.py:keep_token_fresh",
        "keeper",
        every_seconds=KEEPER_EVERY_SECONDS,
        block_name="deployed",
        refresh_within_minutes=KEEPER_WINDOW_SECONDS / 60,
    )
    deadline = time.monotonic() + 120
    while not (await read_block_data(api_pair[1], "deployed")).get("access_token"):
        assert all(w.poll() is None for w in workers), "a worker exited"
        assert time.monotonic() < deadline, "the keeper saved no token in 120 s"
        time.sleep(1)
    # The pipeline starts only once the keeper has saved a first token.
    pipeline = deploy(
        api_pair[1],
        home,
        str((HERE / "_pipeline_flow.py:scale_pipeline").relative_to(HERE.parents[2])),
        "pipeline",
        every_seconds=PIPELINE_EVERY_SECONDS,
        block_name="deployed",
    )
    deadline = time.monotonic() + 120
    while not [r for r in await flow_runs(api_pair[1], pipeline) if r.state and r.state.is_final()]:
        assert time.monotonic() < deadline, "no pipeline run finished in 120 s"
        time.sleep(1)
    # Then both run side by side for LIFETIMES token lifetimes.
    time.sleep(LIFETIMES * TTL_SECONDS)
    first_token = emulator.counters.token_request_times[0]
    counters = emulator.counters.snapshot()
    elapsed = time.monotonic() - first_token
    wall_minus_monotonic = time.time() - time.monotonic()
    requests = [t + wall_minus_monotonic for t in counters.token_request_times]
    keeper_runs = await flow_runs(api_pair[0], keeper)
    pipeline_runs = await flow_runs(api_pair[1], pipeline)

    states = {
        kind: sorted(r.state.type.value for r in runs if r.state and r.state.is_final())
        for kind, runs in (("keeper", keeper_runs), ("pipeline", pipeline_runs))
    }
    assert {s for kind in states.values() for s in kind} == {"COMPLETED"}, states
    assert len(states["pipeline"]) >= 3, states
    assert len(states["keeper"]) >= LIFETIMES, states
    # Every token request came from a keeper run: none fell outside the keeper runs' spans.
    spans = [
        (r.start_time.timestamp() - 0.5, (r.end_time or r.start_time).timestamp() + 0.5)
        for r in keeper_runs
        if r.start_time is not None
    ]
    stray = [t for t in requests if not any(a <= t <= b for a, b in spans)]
    assert stray == [], f"{len(stray)} of {len(requests)} token requests outside keeper runs"
    # About one token per lifetime: at least what staying valid needs, at most one per
    # keeper window (it refreshes with KEEPER_WINDOW_SECONDS left), plus the first one.
    lifetimes = elapsed / TTL_SECONDS
    most = math.ceil(elapsed / (TTL_SECONDS - KEEPER_WINDOW_SECONDS)) + 1
    assert math.floor(lifetimes) <= len(requests) <= most, (len(requests), lifetimes)
    assert counters.token_requests_by_status == {200: len(requests)}
    print(f"\n{len(requests)} token requests in {lifetimes:.1f} lifetimes; runs: {states}")
