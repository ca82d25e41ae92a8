"""`register` (RFC 7591) and `grants list/revoke`, against the emulator and a real Prefect API."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from typer.testing import CliRunner

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth.cli import app
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block

pytestmark = pytest.mark.usefixtures("prefect_api")

runner = CliRunner()


def _name() -> str:
    return f"reg-{uuid.uuid4().hex[:10]}"


def _exists(name: str) -> bool:
    try:
        TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    except ValueError:
        return False
    return True


def test_register_saves_a_working_block_and_shows_the_secret_only_once(
    emulator: TelnyxEmulator,
) -> None:
    name = _name()
    result = runner.invoke(
        app,
        [
            "register",
            "--name",
            "nightly-etl",
            "--redirect-uri",
            "https://example.com/callback",
            "--save-block",
            name,
            "--base-url",
            emulator.base_url,
        ],
    )

    assert result.exit_code == 0, result.output
    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert isinstance(block, TelnyxOAuthCredentials)
    secret = block.client_secret.get_secret_value()
    assert result.output.count(secret) == 1
    assert block.client_id in result.output
    assert block.client_id != emulator.client_id
    assert secret not in repr(block)
    assert secret not in block.model_dump_json()
    assert emulator.oauth_registry.counters.registrations == 1
    # The registered client is a real one: the saved block gets a token with it.
    block.get_token()
    assert emulator.counters.token_requests_by_status == {200: 1}
    token = runner.invoke(app, ["token", "--block", name])
    assert token.exit_code == 0, token.output
    assert secret not in token.output


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--redirect-uri", "http://example.com/callback"], "plain http on a non-loopback"),
        (["--redirect-uri", "not a url"], "'not a url'"),
        (["--grant", "password"], "Unknown grant type 'password'"),
        (["--grant", "authorization_code"], "needs a redirect URI"),
        (["--name", " "], "name is empty"),
    ],
)
def test_register_refuses_bad_input_before_any_request(
    emulator: TelnyxEmulator, extra: list[str], expected: str
) -> None:
    name = _name()
    args = ["register", "--name", "etl", "--save-block", name, "--base-url", emulator.base_url]

    result = runner.invoke(app, [*args, *extra])

    assert result.exit_code == 1
    assert expected in result.output
    assert emulator.oauth_registry.counters.registrations == 0
    assert not _exists(name)


def test_register_a_loopback_redirect_for_a_user_block(emulator: TelnyxEmulator) -> None:
    name = _name()
    result = runner.invoke(
        app,
        [
            "register",
            "--name",
            "desk-tool",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            "http://127.0.0.1:8765/callback",
            "--save-block",
            name,
            "--base-url",
            emulator.base_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"authorize --block {name}" in result.output
    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert block.grant_type == "authorization_code"


def test_emulator_refuses_registration_metadata_as_rfc_7591_says(
    emulator: TelnyxEmulator,
) -> None:
    url = f"{emulator.base_url}/oauth/register"
    bad_uri = httpx.post(url, json={"client_name": "x", "redirect_uris": ["http://evil.test/cb"]})
    bad_grant = httpx.post(url, json={"client_name": "x", "grant_types": ["password"]})
    assert bad_uri.status_code == 400
    assert bad_uri.json()["error"] == "invalid_redirect_uri"
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "invalid_client_metadata"


def test_grants_list_and_revoke(emulator: TelnyxEmulator) -> None:
    name = _name()
    make_block(emulator).save(name, _sync=True)  # type: ignore[call-arg]
    kept = emulator.oauth_registry.add_grant("client-a", ("messaging",))
    gone = emulator.oauth_registry.add_grant("client-b", ("numbers", "messaging"))

    listed = runner.invoke(app, ["grants", "list", "--block", name])
    revoked = runner.invoke(app, ["grants", "revoke", gone, "--block", name])
    after = runner.invoke(app, ["grants", "list", "--block", name])

    assert listed.exit_code == 0, listed.output
    assert kept in listed.output
    assert gone in listed.output
    assert "client-b" in listed.output
    assert "numbers messaging" in listed.output
    assert revoked.exit_code == 0, revoked.output
    assert emulator.oauth_registry.grant_ids() == [kept]
    assert kept in after.output
    assert gone not in after.output


def test_grants_list_walks_every_page(emulator: TelnyxEmulator) -> None:
    name = _name()
    make_block(emulator).save(name, _sync=True)  # type: ignore[call-arg]
    ids = [emulator.oauth_registry.add_grant(f"client-{i}") for i in range(130)]

    listed = runner.invoke(app, ["grants", "list", "--block", name])

    assert listed.exit_code == 0, listed.output
    assert all(grant in listed.output for grant in ids)


def test_grants_revoke_unknown_and_malformed_ids(emulator: TelnyxEmulator) -> None:
    name = _name()
    make_block(emulator).save(name, _sync=True)  # type: ignore[call-arg]

    malformed = runner.invoke(app, ["grants", "revoke", "not-a-uuid", "--block", name])
    assert malformed.exit_code == 1
    assert "'not-a-uuid' is not a UUID" in malformed.output
    assert emulator.oauth_registry.counters.grant_requests == 0

    unknown = runner.invoke(app, ["grants", "revoke", str(uuid.uuid4()), "--block", name])
    assert unknown.exit_code == 1
    assert "404" in unknown.output


def test_register_sends_the_api_key_from_the_environment_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    class Registrar(BaseHTTPRequestHandler):
        """A registration endpoint that records the Authorization header it was sent."""

        def do_POST(self) -> None:
            seen.append(self.headers.get("authorization"))
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps(
                {"client_id": "from-registrar", "client_secret": "registrar-secret-1234"}
            ).encode()
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registrar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_key = "KEY0123456789abcdef"
    monkeypatch.setenv("TELNYX_API_KEY", api_key)
    try:
        result = runner.invoke(
            app,
            [
                "register",
                "--name",
                "etl",
                "--save-block",
                _name(),
                "--base-url",
                f"http://127.0.0.1:{server.server_address[1]}/v2",
            ],
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.exit_code == 0, result.output
    assert seen == [f"Bearer {api_key}"]
    assert api_key not in result.output


def test_register_refused_by_the_server_masks_an_echoed_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refuser(BaseHTTPRequestHandler):
        """A registration endpoint that refuses and quotes the Authorization header back."""

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            description = f"token {self.headers.get('authorization')} may not register"
            body = json.dumps(
                {"error": "invalid_client_metadata", "error_description": description}
            ).encode()
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_key = "KEY0123456789abcdef"
    monkeypatch.setenv("TELNYX_API_KEY", api_key)
    name = _name()
    try:
        result = runner.invoke(
            app,
            [
                "register",
                "--name",
                "etl",
                "--save-block",
                name,
                "--base-url",
                f"http://127.0.0.1:{server.server_address[1]}/v2",
            ],
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.exit_code == 1
    assert "status 400" in result.output
    assert "invalid_client_metadata" in result.output
    assert api_key not in result.output
    assert "token Bearer ***" in result.output  # the server's words, the key masked
    assert not _exists(name)
