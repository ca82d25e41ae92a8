"""What a new user sees from the scripts: `make` and the quickstart say what each slow step is
before it starts, and `flows/keep_token_fresh.py` checks its block before serving and can run once.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    get_current_settings,
    temporary_settings,
)

from flows import keep_token_fresh, quickstart
from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block

REPO = Path(__file__).resolve().parents[2]


def make_dry_run(*args: str) -> list[str]:
    """The commands `make` would run, in order, without running them."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


def index_of(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_announces_the_install_and_the_demo_before_running_them() -> None:
    # -W pretends pyproject.toml changed: the install runs, as on first use.
    lines = make_dry_run("-W", "pyproject.toml", "demo")

    installing = index_of(lines, 'echo "Installing prefect-telnyx-oauth')
    running = index_of(lines, 'echo "Running flows/quickstart.py')
    assert installing < index_of(lines, "pip install") < running
    assert running < index_of(lines, "python flows/quickstart.py")


async def test_quickstart_announces_each_slow_step_before_it_runs(
    prefect_api: None, emulator: TelnyxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    api_url = get_current_settings().api.url

    report = await quickstart.run_demo(make_block(emulator), [], block_name="qs-steps")

    assert capsys.readouterr().out.splitlines() == [
        f"Using the Prefect API at {api_url}...",
        "Saved the block 'qs-steps'. Running the quickstart flow...",
        "Running it again with this process's token cache cleared, as a new process would...",
    ]
    assert report.reused_token


def test_quickstart_without_a_prefect_api_says_it_starts_a_local_one(tmp_path: Path) -> None:
    with temporary_settings(updates={PREFECT_HOME: tmp_path}, restore_defaults={PREFECT_API_URL}):
        line = quickstart.prefect_api_step()

    assert line.startswith(f"Starting a local Prefect API (its state lives in {tmp_path};")


def test_keep_token_fresh_without_the_block_exits_with_one_line_on_how_to_create_it(
    prefect_api: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status = keep_token_fresh.main(["--block", "no-such-telnyx-block"])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: no TelnyxOAuthCredentials block named 'no-such-telnyx-block'")
    assert "TelnyxOAuthCredentials.from_env().save('no-such-telnyx-block')" in err


def test_keep_token_fresh_run_once_runs_the_flow_and_exits(
    prefect_api: None, emulator: TelnyxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(make_block(emulator).asave("fresh-once", overwrite=True))

    first = keep_token_fresh.main(["--block", "fresh-once", "--run-once"])
    first_out = capsys.readouterr().out
    second = keep_token_fresh.main(["--block", "fresh-once", "--run-once"])
    second_out = capsys.readouterr().out

    saved = asyncio.run(TelnyxOAuthCredentials.aload("fresh-once"))
    assert isinstance(saved, TelnyxOAuthCredentials)
    assert saved.access_token_expires_at is not None
    expires_at = saved.access_token_expires_at.isoformat()
    assert (first, second) == (0, 0)
    assert first_out == f"Refreshed the token of block 'fresh-once'; it expires at {expires_at}.\n"
    assert second_out == f"Kept the token of block 'fresh-once'; it expires at {expires_at}.\n"
    assert emulator.counters.token_requests == 1
