"""`python -m telnyx_oauth.emulator` as a user runs it: a subprocess whose printed URL,
exports and curl commands work as printed, which logs each request unless `--quiet`, says what to
do when its port is taken, warns when bound beyond loopback, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import base64
import os
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote_plus

import httpx
import pytest

from tests.integration._token_spec import SpecChecker

START_TIMEOUT_SECONDS = 30.0


class RunningCli:
    """A started CLI process, the text it printed up to its last banner line, and the rest."""

    def __init__(
        self, process: subprocess.Popen[str], output: str, rest: queue.Queue[str | None]
    ) -> None:
        self.process = process
        self.output = output
        self._rest = rest
        self.exports = {}
        for line in output.splitlines():
            if line.startswith("export "):
                name, _, value = shlex.split(line)[1].partition("=")
                self.exports[name] = value

    @property
    def base_url(self) -> str:
        return self.exports["TELNYX_BASE_URL"]

    def stop(self) -> tuple[str, str]:
        """Stop the CLI with SIGTERM; return what it printed after the banner, and its stderr."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        rest = []
        while (line := self._rest.get(timeout=10)) is not None:
            rest.append(line)
        assert self.process.stderr is not None
        return "".join(rest), self.process.stderr.read()


def _read_banner(stream: IO[str]) -> tuple[str, queue.Queue[str | None]]:
    """Read lines until the banner's last line (the knobs curl), with a deadline.

    Returns the banner and a queue of the lines printed after it, ended by None at EOF.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not any("/_emulator/knobs" in line for line in seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the CLI printed no banner in time: {''.join(seen)!r}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        assert line is not None, f"the CLI exited before its banner: {''.join(seen)!r}"
        seen.append(line)
    return "".join(seen), lines


def cli_command(*args: str) -> list[str]:
    """The CLI's command line on a free port, with extra arguments."""
    return [sys.executable, "-m", "telnyx_oauth.emulator", "--port", "0", *args]


CLI_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def start_cli(*args: str) -> RunningCli:
    """Start the CLI on a free port with extra arguments and read its banner."""
    process = subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CLI_ENV,
    )
    assert process.stdout is not None
    try:
        return RunningCli(process, *_read_banner(process.stdout))
    except BaseException:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def cli() -> Iterator[RunningCli]:
    """One CLI with default flags, shared by the module: each start costs seconds (imports)."""
    running = start_cli()
    yield running
    running.process.kill()
    running.process.wait()


def test_cli_prints_exports_that_get_a_token_and_the_balance(cli: RunningCli) -> None:
    checker = SpecChecker()

    with checker.client(base_url=cli.base_url) as http:
        issued = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": cli.exports["TELNYX_CLIENT_ID"],
                "client_secret": cli.exports["TELNYX_CLIENT_SECRET"],
            },
        )
        balance = http.get(
            "/balance", headers={"Authorization": f"Bearer {issued.json()['access_token']}"}
        )

    assert cli.base_url.startswith("http://127.0.0.1:")
    assert cli.base_url.endswith("/v2")
    assert set(cli.exports) == {"TELNYX_BASE_URL", "TELNYX_CLIENT_ID", "TELNYX_CLIENT_SECRET"}
    assert issued.status_code == 200
    assert checker.checked == 1
    assert balance.json()["data"]["balance"] == "100.00"


def test_cli_with_flags_serves_their_knobs_and_stops_cleanly_on_sigterm() -> None:
    cli = start_cli(
        "--client-id",
        "cli-client",
        "--client-secret",
        "s3cret with %+: \u00e9",
        "--token-ttl",
        "120",
        "--refresh-token-on-client-credentials",
        "--rotate-refresh-tokens",
        "--fail-next-token-requests",
        "1",
        "--fail-next-api-requests",
        "1",
        "--fail-status",
        "504",
        "--basic-auth-decoding",
        "unquote",
    )
    checker = SpecChecker()
    data = {
        "grant_type": "client_credentials",
        "client_id": cli.exports["TELNYX_CLIENT_ID"],
        "client_secret": cli.exports["TELNYX_CLIENT_SECRET"],
    }

    try:
        with checker.client(base_url=cli.base_url) as http:
            failed = http.post("/oauth/token", data=data)
            issued = http.post("/oauth/token", data=data).json()
            refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
            refreshed = http.post("/oauth/token", data={**data, **refresh}).json()
            bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
            api_statuses = [http.get("/balance", headers=bearer).status_code for _ in range(2)]
            # Under --basic-auth-decoding unquote, a `+` in Basic stays a `+`: not the secret.
            plus = quote_plus(data["client_secret"])
            basic = base64.b64encode(f"{data['client_id']}:{plus}".encode()).decode()
            form_basic = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
    finally:
        logged, errors = cli.stop()

    assert cli.exports["TELNYX_CLIENT_SECRET"] == "s3cret with %+: \u00e9"
    assert failed.status_code == 504
    assert issued["expires_in"] == 120
    assert refreshed["refresh_token"] != issued["refresh_token"]
    assert api_statuses == [504, 200]
    assert form_basic.status_code == 401
    assert cli.process.returncode == 0
    assert errors == ""
    # One access log line per request, in order, with its status.
    assert [line.rsplit(" ", 3)[-3:] for line in logged.splitlines()] == [
        ["/v2/oauth/token", 'HTTP/1.1"', "504"],
        ["/v2/oauth/token", 'HTTP/1.1"', "200"],
        ["/v2/oauth/token", 'HTTP/1.1"', "200"],
        ["/v2/balance", 'HTTP/1.1"', "504"],
        ["/v2/balance", 'HTTP/1.1"', "200"],
        ["/v2/oauth/token", 'HTTP/1.1"', "401"],
    ]
    with pytest.raises(httpx.ConnectError):
        httpx.get(cli.base_url + "/balance")


def test_cli_admin_route_changes_knobs_at_run_time(cli: RunningCli) -> None:
    admin = cli.base_url.removesuffix("/v2") + "/_emulator"
    knobs = {"rate_limit_next_token_requests": 1, "retry_after": 9, "token_ttl_seconds": 5}
    data = {
        "grant_type": "client_credentials",
        "client_id": cli.exports["TELNYX_CLIENT_ID"],
        "client_secret": cli.exports["TELNYX_CLIENT_SECRET"],
    }

    with SpecChecker().client(base_url=cli.base_url) as http:
        http.post(admin + "/knobs", json=knobs)
        http.post(admin + "/counters/reset")
        limited = http.post("/oauth/token", data=data)
        issued = http.post("/oauth/token", data=data)
        counters = http.get(admin + "/counters").json()

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "9"
    assert issued.json()["expires_in"] == 5
    assert counters["token_requests_by_status"] == {"429": 1, "200": 1}


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash"
)
def test_cli_printed_shell_commands_run_as_printed(cli: RunningCli) -> None:
    lines = cli.output.splitlines()
    script = "\n".join(
        line
        for line in lines
        if line.startswith(("export ", "TOKEN=$(")) or ("/balance" in line and "curl" in line)
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        # The banner reads the token with python3: the venv's, first on the PATH.
        env={"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])},
    )

    assert done.returncode == 0, done.stderr
    assert '"balance":"100.00"' in done.stdout


def test_cli_quiet_logs_no_request() -> None:
    cli = start_cli("--quiet")
    try:
        balance = httpx.get(cli.base_url + "/balance")
    finally:
        logged, errors = cli.stop()

    assert balance.status_code == 401
    # The request was answered before SIGTERM, so a line it logged would be in the output.
    assert logged == ""
    assert errors == ""  # nor a warning: loopback is the default host


def test_cli_port_in_use_says_to_pass_port_0_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [*cli_command(), "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=CLI_ENV,
        )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port 0" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_bound_beyond_loopback_warns_that_admin_routes_are_open() -> None:
    # A wildcard bind also serves loopback: the test's traffic never leaves this machine.
    cli = start_cli("--host", "0.0.0.0", "--quiet")
    try:
        counters = httpx.get(cli.base_url.removesuffix("/v2") + "/_emulator/counters")
    finally:
        _, errors = cli.stop()

    assert cli.base_url.startswith("http://127.0.0.1:")
    assert counters.status_code == 200
    assert errors.count("\n") == 1
    assert errors.startswith("warning: binding 0.0.0.0: the /_emulator/ admin routes are")
    assert "unauthenticated" in errors
