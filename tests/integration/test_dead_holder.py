"""A lock holder killed mid-refresh: a `client_credentials` waiter does not wait out its lease,
and an `authorization_code` waiter never spends the rotating refresh token the holder spent.

The holder is an independently started interpreter (`subprocess`, never a fork of this process,
which imported our code and shares its caches and keys). It loads the saved block, takes the
refresh lock on the real Prefect API (a global concurrency limit with Prefect's 60 s minimum
lease) and sends its token request, which the emulator holds for a minute; it is SIGKILLed there.
The waiter in this process then finds the lock held by nobody alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate
from prefect.settings import PREFECT_API_URL

from prefect_telnyx_oauth import TelnyxOAuthCredentials, TokenEndpointUnavailableError
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from tests.integration.helpers import make_block
from tests.integration.test_authorization_code_block import connect

pytestmark = pytest.mark.slow


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.01)


def start_holder(name: str, home: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TELNYX_"))}
    env |= {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    code = (
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B\n"
        f"B.load({name!r}, _sync=True).get_token()\n"
    )
    log = (home.parent / f"{home.name}.log").open("w")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)


def kill_mid_request(name: str, emulator: TelnyxEmulator, home: Path) -> float:
    """Start a holder, SIGKILL it once its token request reached the (slow) endpoint; return
    the monotonic instant of the kill."""
    before = emulator.counters.token_requests
    emulator.set_token_latency(60)  # the holder's request is still in flight when it dies
    holder = start_holder(name, home)
    try:
        wait_until(lambda: emulator.counters.token_requests > before, 120, "holder's request")
        os.kill(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)
    emulator.set_token_latency(0.05)
    return killed_at


async def test_client_credentials_waiter_requests_its_own_token_when_the_holder_died(
    prefect_api: None, emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    name = "dead-holder"
    await make_block(emulator).asave(name, overwrite=True)
    killed_at = kill_mid_request(name, emulator, tmp_path / "holder")

    waiter = await TelnyxOAuthCredentials.aload(name)
    token = await waiter.aget_token()
    waited = time.monotonic() - killed_at

    access = token.access_token.get_secret_value()
    assert access in emulator.issued_access_tokens()
    # Its own request, not the dead holder's: exactly one more reached the endpoint.
    assert emulator.counters.token_requests == 2
    async with get_client() as client:
        document = await client.read_block_document_by_name(name, "telnyx-oauth-credentials")
    assert document.data["access_token"] == access  # saved for the rest of the fleet
    # Well short of the holder's lease (60 s, reclaimed after 70-77 s): not waited out.
    assert waited < 40, f"waited {waited:.0f} s"
    print(f"\ndead holder: the waiter had its token {waited:.1f} s after the kill")


async def test_authorization_code_waiter_never_spends_the_refresh_token_of_a_dead_holder(
    prefect_api: None, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator: TelnyxEmulator = emulator_factory(rotate_refresh_tokens=True)
    name = "dead-holder-connected"
    # A deadline shorter than the lease, so the waiter's wait ends before the lease does.
    block = make_block(emulator, token_deadline_seconds=20)
    await block.asave(name, overwrite=True)
    connect(block, emulator)
    async with get_client() as client:  # the saved access token has expired since
        past = {"access_token_expires_at": (utc_now() - timedelta(minutes=1)).isoformat()}
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=past, merge_existing_data=True),
        )
    reset_token_caches()  # the waiter is a later flow run: it holds no token in memory
    kill_mid_request(name, emulator, tmp_path / "holder")

    waiter = await TelnyxOAuthCredentials.aload(name)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        await waiter.aget_token()
    assert "refresh lock" in str(caught.value)
    # Only the dead holder spent the refresh token; the waiter sent nothing.
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }
