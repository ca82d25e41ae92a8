"""Eight processes on two Prefect API servers that share one PostgreSQL database.

PostgreSQL lets writes run concurrently where SQLite serialises them, so this is where a race in
the refresh lock or the token write-back would show. Half the processes talk to each server.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from tests.integration.scale._servers import ApiServer, fleet, update_block_data
from tests.integration.test_cross_process import save_block

pytestmark = pytest.mark.slow


def fingerprints(reports: list[dict[str, Any]]) -> set[str]:
    return {token.split(":")[0] for report in reports for token in report["tokens"]}


def test_eight_processes_on_two_servers_send_one_token_request(
    api_pair: list[ApiServer], emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    emulator.set_token_latency(0.05)
    save_block(api_pair[0], tmp_path / "setup", "fleet", emulator)
    reports = fleet(api_pair, tmp_path, "fleet", processes=8)
    assert [r["errors"] for r in reports] == [[]] * 8
    issued = {hashlib.sha256(t.encode()).hexdigest() for t in emulator.issued_access_tokens()}
    assert len(fingerprints(reports)) == 1
    assert fingerprints(reports) <= issued
    assert emulator.counters.token_requests == 1


async def test_rotation_race_on_two_servers_surfaces_no_invalid_grant(
    api_pair: list[ApiServer], emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = emulator_factory(
        rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    )
    emulator.set_token_latency(0.05)
    save_block(api_pair[1], tmp_path / "setup", "rotating", emulator)
    # A first token with a refresh token lands in the document, then it is made stale.
    api_pair[1].run(
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
        "B.load('rotating', _sync=True).get_token()",
        tmp_path / "setup",
    )
    stale = (utc_now() - timedelta(minutes=5)).isoformat()
    await update_block_data(api_pair[0], "rotating", {"access_token_expires_at": stale})
    emulator.reset_counters()
    reports = fleet(api_pair, tmp_path, "rotating", processes=8, threads=10)
    assert [r["errors"] for r in reports] == [[]] * 8
    assert len(fingerprints(reports)) == 1
    assert emulator.counters.token_requests_by_grant == {"refresh_token": 1}
    assert emulator.counters.token_requests_by_status == {200: 1}
