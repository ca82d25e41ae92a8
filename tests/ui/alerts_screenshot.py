"""The screenshot of docs/alerts.md: a block's token-failure Automation in Prefect's own UI.

    .venv/bin/python tests/ui/alerts_screenshot.py docs/img/alerts-automation.png

Starts `prefect server start` on 127.0.0.1 (as `ui_check.py` does), saves a block and a Slack
notification block (nothing is sent: the Automation does not fire), runs `create_token_alert`,
opens the Automation's page in headless Chromium, checks that its name shows, and writes the
screenshot. The browser talks only to 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from ui_check import (  # noqa: E402
    UICheckError,
    check,
    launch_browser,
    loopback_only,
    prefect_server,
    register_block_type,
)


def main() -> int:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/alerts-automation.png")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        try:
            with prefect_server(home) as api:
                register_block_type(api, home)
                automation_id, name = _create_alert(api, home)
                _screenshot(api, home, automation_id, name, target)
        except UICheckError as exc:
            print(f"alerts screenshot FAILED: {exc}", file=sys.stderr)
            return 1
    print(f"wrote {target}")
    return 0


def _create_alert(api: str, home: Path) -> tuple[str, str]:
    os.environ.update(PREFECT_API_URL=api, PREFECT_HOME=str(home))
    from prefect.blocks.notifications import SlackWebhook
    from pydantic import SecretStr

    from prefect_telnyx_oauth import TelnyxOAuthCredentials
    from prefect_telnyx_oauth.alerts import create_token_alert

    TelnyxOAuthCredentials(
        client_id="prod-client", client_secret=SecretStr("not-a-real-secret-0000")
    ).save("prod-telnyx", overwrite=True)
    SlackWebhook(url="https://hooks.slack.com/services/T000/B000/XXXX").save(
        "ops-slack", overwrite=True
    )
    automation = create_token_alert("prod-telnyx", notify=["slack-webhook/ops-slack"])
    return str(automation.id), automation.name


def _screenshot(api: str, home: Path, automation_id: str, name: str, target: Path) -> None:
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as playwright:
        context = launch_browser(playwright, home / "chromium-profile")
        loopback_only(context, blocked)
        page = context.new_page()  # type: ignore[attr-defined]
        ui = api.removesuffix("/api")
        page.goto(f"{ui}/automations/automation/{automation_id}")
        page.get_by_text(name).first.wait_for(timeout=60_000)
        check(page.get_by_text(name).count() > 0, f"the Automation page shows {name!r}")
        page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1280, "height": 300})
        context.close()  # type: ignore[attr-defined]
    if blocked:
        print("aborted non-loopback requests:", *blocked, sep="\n  ")


if __name__ == "__main__":
    sys.exit(main())
