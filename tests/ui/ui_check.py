"""`make ui-check`: the block form and the docs site, in a real headless Chromium.

    .venv/bin/python tests/ui/ui_check.py [--screenshot docs/img/block-form.png] [--site DIR]

1. Starts `prefect server start` on 127.0.0.1 (a free port, a temporary `PREFECT_HOME`) and
   registers the block type with `prefect block register -m prefect_telnyx_oauth`, as a user
   of a remote server does.
2. Opens the block's create page in Prefect's default UI and checks what a person sees: the
   credential fields (the secret in a masked input), plain text boxes for the optional text
   fields, and none of the token cache fields. Fills the form with the local emulator's client,
   writes the screenshot the docs show, and saves.
3. Loads the block from Python: the values typed in the browser arrived, and the block gets a
   token from the emulator. Opens the saved block's page: the secret shows masked.
4. With `--site`, opens the built docs site: the mermaid diagram renders from the local asset.

Chromium is Debian's (`CHROMIUM`, default /usr/bin/chromium), driven by playwright; the browser
never talks to anything but 127.0.0.1 (other requests, such as the catalog logo or the UI's
analytics, are aborted and listed). Exits non-zero with the reason on any failure, including a
missing browser: there is no silent skip.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SLUG = "telnyx-oauth-credentials"
BLOCK_NAME = "ui-check-telnyx"
SECRET = "ui-check-secret-9f3b"  # typed into the form; must never be shown in clear
VISIBLE_FIELDS = ("Client Id", "Client Secret", "Scope", "Base Url")
HIDDEN_FIELDS = (
    "Access Token",
    "Access Token Expires At",
    "Access Token Issued At",
    "Refresh Token",
    "Access Token Credentials",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the check runs as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class UICheckError(AssertionError):
    """What the browser showed differs from what a user must see."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise UICheckError(message)
    print(f"ok: {message}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on loopback; yields its API URL."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The UI asks /ui-settings where the API is; `--port` alone leaves it at 4200.
        "PREFECT_UI_API_URL": api,
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise UICheckError(f"prefect server exited: {(home / 'server.log').read_text()}")
            with contextlib.suppress(URLError, OSError), urlopen(f"{api}/health", timeout=2) as up:
                if up.status == 200:
                    break
            if time.monotonic() > deadline:
                raise UICheckError("prefect server did not answer /api/health within 180 s")
            time.sleep(0.5)
        print(f"prefect server up at {api}")
        yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def register_block_type(api: str, home: Path) -> None:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
    command = [str(BIN / "prefect"), "block", "register", "-m", "prefect_telnyx_oauth"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    check(
        done.returncode == 0 and "Telnyx OAuth Credentials" in done.stdout,
        "`prefect block register -m prefect_telnyx_oauth` registers the block type",
    )


def launch_browser(playwright: object, profile: Path) -> object:
    executable = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        msg = (
            f"no Chromium at {executable}. Install Debian's: apt-get install -y chromium "
            "(or set CHROMIUM to its path). Never `playwright install`."
        )
        raise UICheckError(msg)
    return playwright.chromium.launch_persistent_context(  # type: ignore[attr-defined]
        str(profile),
        executable_path=executable,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 1100},
    )


def loopback_only(context: object, blocked: list[str]) -> None:
    """Abort every request that would leave 127.0.0.1, and remember it."""

    def route(route: object, request: object) -> None:
        url = request.url  # type: ignore[attr-defined]
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)  # type: ignore[attr-defined]


def show_console_error(message: object) -> None:
    text = message.text  # type: ignore[attr-defined]
    # Requests aborted by loopback_only() are expected; other errors help read a failure.
    if message.type == "error" and "ERR_FAILED" not in text:  # type: ignore[attr-defined]
        print(f"browser console: {text}")


def field(page: object, label: str) -> object:
    """The input of a form field; optional fields are labelled "<label> (Optional)"."""
    pattern = re.compile(rf"^{re.escape(label)}( \(Optional\))?$")
    return page.get_by_label(pattern)  # type: ignore[attr-defined]


def check_create_form(page: object, ui: str) -> None:
    page.goto(f"{ui}/blocks/catalog/{SLUG}/create")  # type: ignore[attr-defined]
    field(page, "Client Id").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    for label in VISIBLE_FIELDS:
        box = field(page, label)  # type: ignore[attr-defined]
        check(box.is_visible(), f"the form shows {label}")
    secret_type = field(page, "Client Secret").get_attribute("type")  # type: ignore[attr-defined]
    check(secret_type == "password", f"Client Secret is a masked input (type={secret_type!r})")
    for label in ("Scope", "Token Url"):
        tag = field(page, label).evaluate("e => e.tagName")  # type: ignore[attr-defined]
        check(tag in ("INPUT", "TEXTAREA"), f"{label} is a plain text box ({tag})")
    toggles = page.get_by_role("tab", name="None", exact=True).count()  # type: ignore[attr-defined]
    check(toggles == 0, f"no 'str / None' toggle on the form ({toggles} found)")
    text = page.locator("main").inner_text()  # type: ignore[attr-defined]
    for label in HIDDEN_FIELDS:
        check(label not in text, f"the form does not show {label}")
    # Prefect 3.9's block forms save without validating the schema: the descriptions must say
    # what the block refuses at load.
    for rule in ("without whitespace at the start or end", "plain http is allowed only for"):
        check(rule in text, f"the form states the rule {rule!r}")


def fill_and_save(page: object, emulator: object, screenshot: Path | None) -> str:
    if screenshot is not None:
        # The docs show the form as a user fills it for real Telnyx; stable values keep the
        # picture identical from run to run (the emulator's port changes).
        fill(page, "prod-telnyx", "my-telnyx-oauth-client-id", "https://api.telnyx.com/v2")
        page.locator("h1, nav").first.click()  # type: ignore[attr-defined]
        form = page.locator("form").first.bounding_box()  # type: ignore[attr-defined]
        clip = {
            "x": form["x"] - 16,
            "y": form["y"] - 16,
            "width": form["width"] + 32,
            "height": form["height"] + 32,
        }
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), clip=clip, animations="disabled")  # type: ignore[attr-defined]
        print(f"wrote {screenshot}")
    fill(page, BLOCK_NAME, emulator.client_id, emulator.base_url)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save", exact=True).click()  # type: ignore[attr-defined]
    page.wait_for_url("**/blocks/block/*", timeout=60_000)  # type: ignore[attr-defined]
    return str(page.url)  # type: ignore[attr-defined]


def fill(page: object, name: str, client_id: str, base_url: str) -> None:
    field(page, "Name").fill(name)  # type: ignore[attr-defined]
    field(page, "Client Id").fill(client_id)  # type: ignore[attr-defined]
    field(page, "Client Secret").fill(SECRET)  # type: ignore[attr-defined]
    field(page, "Scope").fill("messaging numbers")  # type: ignore[attr-defined]
    field(page, "Base Url").fill(base_url)  # type: ignore[attr-defined]


def check_saved_block(api: str, home: Path, emulator: object) -> None:
    """Load the block in a fresh Python process, as a flow run would, and get a token."""
    probe = (
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as T\n"
        f"b = T.load({BLOCK_NAME!r})\n"
        "print(b.client_id, b.client_secret.get_secret_value(), b.scope, b.base_url,"
        " b.token_url, sep='|')\n"
        "b.get_token()\n"
    )
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    check(done.returncode == 0, f"the block loads in Python and gets a token {done.stderr[-2000:]}")
    values = done.stdout.strip().splitlines()[-1].split("|")
    expected = [emulator.client_id, SECRET, "messaging numbers", emulator.base_url, "None"]  # type: ignore[attr-defined]
    check(values == expected, f"the values typed in the browser arrived: {values[0]}, ...")
    requests = emulator.counters.token_requests  # type: ignore[attr-defined]
    check(requests == 1, f"the UI-made block got its token from the emulator ({requests} request)")


def check_block_page(page: object, url: str) -> None:
    page.goto(url)  # type: ignore[attr-defined]
    page.get_by_text("Client Secret", exact=True).first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # The card's code example: the load-and-use snippet of the block's docstring.
    page.get_by_text("TelnyxOAuthCredentials.load(").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    text = page.locator("main").inner_text()  # type: ignore[attr-defined]
    check("get_client()" in text, "the block's page shows the load-and-use code example")
    check(SECRET not in text, "the saved block's page does not show the secret")
    check("********" in text, "the saved block's page shows the secret masked")


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def check_docs_site(context: object, site: Path, blocked: list[str]) -> None:
    before = len(blocked)
    with serve_directory(site) as base:
        page = context.new_page()  # type: ignore[attr-defined]
        page.goto(f"{base}/token-lifecycle.html")  # mkdocs.yml: the offline plugin, no folders
        # Material swaps the `<pre class="mermaid">` source for a `<div>` holding the drawing
        # in a closed shadow root: a rendered diagram is that div, with a height.
        page.locator("div.mermaid").first.wait_for(timeout=60_000)
        height = page.evaluate("document.querySelector('div.mermaid').offsetHeight")
        check(height > 100, f"the token lifecycle diagram renders ({height} px high)")
        page.goto(f"{base}/")
        page.wait_for_load_state("networkidle")
        page.close()
    remote = blocked[before:]
    check(not remote, f"the docs site requests nothing remote ({remote})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="write the filled form here (PNG)")
    parser.add_argument("--site", type=Path, help="a built docs site to check (mkdocs build)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from telnyx_oauth.emulator import TelnyxEmulator

    home = Path(tempfile.mkdtemp(prefix="ui-check-"))
    blocked: list[str] = []
    try:
        with (
            TelnyxEmulator(client_secret=SECRET) as emulator,
            prefect_server(home) as api,
            sync_playwright() as playwright,
        ):
            register_block_type(api, home)
            context = launch_browser(playwright, home / "chromium-profile")
            loopback_only(context, blocked)
            page = context.new_page()  # type: ignore[attr-defined]
            page.on("console", show_console_error)
            # Prefect's default UI (V2): the one a user without a saved preference sees.
            ui = api.removesuffix("/api") + "/v2"
            try:
                check_create_form(page, ui)
                saved_url = fill_and_save(page, emulator, args.screenshot)
                check_saved_block(api, home, emulator)
                check_block_page(page, saved_url)
            except Exception:
                failure = Path(tempfile.gettempdir()) / "ui-check-failure.png"
                page.screenshot(path=str(failure), full_page=True)  # type: ignore[attr-defined]
                print(f"the page at the failure: {failure} ({page.url})", file=sys.stderr)  # type: ignore[attr-defined]
                raise
            page.close()  # its analytics keep firing: keep them out of the docs site's check
            if args.site is not None:
                check_docs_site(context, args.site, blocked)
            context.close()  # type: ignore[attr-defined]
    except UICheckError as exc:
        print(f"ui-check FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if blocked:
        print(f"aborted {len(blocked)} non-loopback request(s): {sorted(set(blocked))}")
    print("ui-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
