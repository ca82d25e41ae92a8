"""The export's artifacts in the Prefect UI, in a real headless Chromium; writes the docs' picture.

    .venv/bin/python tests/ui/export_artifacts.py --screenshot docs/img/export-artifacts.png \\
        --table-screenshot docs/img/export-artifact-table.png

Starts `prefect server start` (as `ui_check.py` does), runs `export_detail_records` over three
hours of emulator records in its own process against that server, then opens the flow run's
Artifacts tab and checks what a person sees: the progress artifact and one table artifact per
window; then one window's table: records, pages, cost by currency and the file. The browser
talks to 127.0.0.1 only. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.ui.ui_check import (
    BIN,
    ROOT,
    UICheckError,
    check,
    launch_browser,
    loopback_only,
    prefect_server,
    show_console_error,
)

RUN = """
import datetime as dt, sys
from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.detail_records import export_detail_records
TelnyxOAuthCredentials(client_id=sys.argv[2], client_secret=sys.argv[3], base_url=sys.argv[1]).save(
    "prod-telnyx", overwrite=True
)
start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
state = export_detail_records(
    "prod-telnyx", destination=sys.argv[4], start_at=start, end_at=start + dt.timedelta(hours=3),
    return_state=True,
)
print(state.state_details.flow_run_id)
"""


def run_export(api: str, home: Path, emulator: object) -> str:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
    command = [
        str(BIN / "python"),
        "-c",
        RUN,
        emulator.base_url,  # type: ignore[attr-defined]
        emulator.client_id,  # type: ignore[attr-defined]
        emulator.client_secret,  # type: ignore[attr-defined]
        str(home / "exports"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    check(done.returncode == 0, f"the export ran against the server ({done.stderr[-2000:]})")
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="write the Artifacts tab here (PNG)")
    parser.add_argument("--table-screenshot", type=Path, help="write one window's table here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from telnyx_oauth.emulator import TelnyxEmulator

    home = Path(tempfile.mkdtemp(prefix="export-artifacts-"))
    blocked: list[str] = []
    try:
        with TelnyxEmulator() as emulator, prefect_server(home) as api, sync_playwright() as pw:
            emulator.seed_detail_records(180)
            flow_run = run_export(api, home, emulator)
            context = launch_browser(pw, home / "chromium-profile")
            loopback_only(context, blocked)
            page = context.new_page()  # type: ignore[attr-defined]
            page.on("console", show_console_error)
            ui = api.removesuffix("/api") + "/v2"
            page.goto(f"{ui}/runs/flow-run/{flow_run}?tab=Artifacts")
            page.get_by_text("telnyx-messaging-20260101-0000").first.wait_for(timeout=60_000)
            page.get_by_text("Telnyx messaging export: 3 windows").wait_for(timeout=60_000)
            text = page.locator("main").inner_text()
            for hour in ("0000", "0100", "0200"):
                check(f"telnyx-messaging-20260101-{hour}" in text, f"table artifact {hour} shown")
            check("PROGRESS" in text.upper(), "the run's progress artifact is shown")
            if args.screenshot is not None:
                page.screenshot(path=str(args.screenshot), full_page=True)
                print(f"wrote {args.screenshot}")
            page.get_by_text("telnyx-messaging-20260101-0000").first.click()
            page.get_by_text("cost (EUR)").first.wait_for(timeout=60_000)
            text = page.locator("main").inner_text()
            for shown in ("records", "60", "pages", "cost (USD)", "0.2760", "0.0222", "file"):
                check(shown in text, f"the window's table shows {shown!r}")
            if args.table_screenshot is not None:
                page.screenshot(path=str(args.table_screenshot), full_page=True)
                print(f"wrote {args.table_screenshot}")
            context.close()  # type: ignore[attr-defined]
    except UICheckError as exc:
        print(f"export-artifacts FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("export-artifacts passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
