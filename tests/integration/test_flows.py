"""Each flow file against the emulator, as `make demo` and the scripts run them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact
from prefect.settings import get_current_settings

from flows import bulk_messages, keep_token_fresh, quickstart
from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

REPO = Path(__file__).resolve().parents[2]
SENDER = "+15550100000"  # the emulator's first phone number


# -- quickstart ----------------------------------------------------------------------------------


async def test_quickstart_two_runs_send_one_token_request_and_three_messages(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    report = await quickstart.run_demo(
        make_block(emulator), list(quickstart.OFFLINE_RECIPIENTS), block_name="qs-two-runs"
    )
    assert emulator.counters.token_requests == 1
    assert emulator.counters.messages_created == 3
    assert report.first["balance"] == "100.00 USD"
    assert report.first["phone_numbers"] == 25
    assert len(set(report.first["message_ids"])) == 3
    assert report.second["message_ids"] == []
    assert report.reused_token
    text = quickstart.summary(report, emulator)
    assert "Token requests made: 1" in text
    assert f"API calls made: {emulator.counters.api_requests}." in text
    assert "reused the token saved in the block" in text


def test_quickstart_main_with_env_credentials_sends_only_to_send_to(
    prefect_api: None,
    emulator: TelnyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("TELNYX_BASE_URL", emulator.base_url)
    assert quickstart.main([]) == 0
    assert "Sending nothing" in capsys.readouterr().out
    assert emulator.counters.messages_created == 0
    assert quickstart.main(["--send-to", "+15557650009"]) == 0
    assert emulator.counters.messages_created == 1


def test_quickstart_script_offline_from_clean_state_prints_summary(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TELNYX_", "PREFECT_"))
    }
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, str(REPO / "flows" / "quickstart.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Token requests made: 1 (for both runs)." in done.stdout
    assert "Messages sent: 3." in done.stdout
    assert "The second run reused the token saved in the block" in done.stdout


# -- bulk messages -------------------------------------------------------------------------------


CSV = """to,text
+15557650001,Order 1 shipped.
555-0100,Bad number.
+15557650002,
+15557650003,"Order 3 shipped, with a comma."
+15557650001,Order 1 shipped.
"""


async def test_bulk_messages_bad_rows_reported_good_rows_sent(
    prefect_api: None,
    emulator: TelnyxEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csv_path = tmp_path / "batch.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    await make_block(emulator).asave("bulk-test", overwrite=True)
    outcomes = await bulk_messages.bulk_messages(str(csv_path), "bulk-test", from_=SENDER)
    assert [(o["line"], o["status"]) for o in outcomes] == [
        (2, "sent"),
        (3, "failed"),
        (4, "failed"),
        (5, "sent"),
        (6, "duplicate"),
    ]
    assert outcomes[1]["error"].startswith("40310")
    assert outcomes[2]["error"].startswith("10004")
    assert emulator.counters.messages_created == 2
    artifact = await Artifact.aget(bulk_messages.ARTIFACT_KEY)
    assert artifact is not None
    table = str(artifact.data)
    assert "**2 of 5 rows sent.**" in table
    assert f"| 2 | +15557650001 | sent | {outcomes[0]['message_id']} |" in table
    assert "| 3 | 555-0100 | failed | 40310" in table
    assert "| 6 | +15557650001 | duplicate | same as line 2 |" in table
    # Progress shows in the flow run's logs (the Prefect UI): one line per message sent or failed.
    run_lines = [r.getMessage() for r in caplog.records if r.name == "prefect.flow_runs"]
    assert f"Sending 4 messages from {csv_path} (5 rows)." in run_lines
    progress = [line for line in run_lines if line.startswith("Progress: ")]
    assert progress == [f"Progress: {done} of 4 messages done." for done in range(1, 5)]
    assert any(line.startswith("Line 3 not sent: 40310") for line in run_lines)
    assert "2 of 5 rows failed; see artifact 'telnyx-bulk-messages'." in run_lines


async def test_bulk_messages_same_file_again_sends_nothing_new(
    prefect_api: None, emulator: TelnyxEmulator, tmp_path: Path
) -> None:
    csv_path = tmp_path / "again.csv"
    csv_path.write_text("to,text\n+15557650001,Hello.\n+15557650002,Hello.\n", encoding="utf-8")
    await make_block(emulator).asave("bulk-again", overwrite=True)
    first = await bulk_messages.bulk_messages(str(csv_path), "bulk-again", from_=SENDER)
    second = await bulk_messages.bulk_messages(str(csv_path), "bulk-again", from_=SENDER)
    assert [o["message_id"] for o in first] == [o["message_id"] for o in second]
    assert emulator.counters.messages_created == 2
    await bulk_messages.bulk_messages(str(csv_path), "bulk-again", from_=SENDER, batch_id="day-2")
    assert emulator.counters.messages_created == 4


def test_bulk_messages_read_rows_without_text_column_raises(tmp_path: Path) -> None:
    csv_path = tmp_path / "wrong.csv"
    csv_path.write_text("number,body\n+15557650001,hi\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text or to column"):
        bulk_messages.read_rows(csv_path)


# -- keep token fresh ----------------------------------------------------------------------------


async def load_expiry(name: str) -> Any:
    block = await TelnyxOAuthCredentials.aload(name)
    assert isinstance(block, TelnyxOAuthCredentials)
    return block.access_token_expires_at


async def test_keep_token_fresh_far_from_expiry_keeps_the_saved_token(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("fresh-far", overwrite=True)
    first = await keep_token_fresh.keep_token_fresh("fresh-far", refresh_within_minutes=15)
    second = await keep_token_fresh.keep_token_fresh("fresh-far", refresh_within_minutes=15)
    assert first["refreshed"]  # no saved token yet: the first run gets one
    assert not second["refreshed"]
    assert second["expires_at"] == first["expires_at"]
    assert emulator.counters.token_requests == 1


async def test_keep_token_fresh_near_expiry_refreshes_and_saves_to_block(
    prefect_api: None, emulator_factory: Callable[..., TelnyxEmulator]
) -> None:
    emulator = emulator_factory(token_ttl_seconds=600)  # every token is within 15 minutes
    await make_block(emulator).asave("fresh-near", overwrite=True)
    first = await keep_token_fresh.keep_token_fresh("fresh-near", refresh_within_minutes=15)
    second = await keep_token_fresh.keep_token_fresh("fresh-near", refresh_within_minutes=15)
    assert second["refreshed"]
    assert second["expires_at"] > first["expires_at"]
    assert emulator.counters.token_requests == 2
    saved = await load_expiry("fresh-near")
    assert saved.isoformat() == second["expires_at"]


def test_quickstart_offline_prefect_without_env_uses_demo_home_and_ephemeral_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with quickstart.offline_prefect(quickstart.DEMO_HOME):
        settings = get_current_settings()
        assert settings.home == quickstart.DEMO_HOME
        assert settings.api.url is None


def test_quickstart_offline_prefect_with_prefect_home_in_env_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    before = get_current_settings()
    with quickstart.offline_prefect(quickstart.DEMO_HOME):
        assert get_current_settings() is before
