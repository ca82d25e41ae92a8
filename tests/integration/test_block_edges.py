"""The block at its edges: re-saved after `authorize`, pickled, edited in the UI, typed in the form.

Issue 17 §1 (a re-save never drops a connected user silently) and §6 (the block works wherever
Python and the UI take it), each against a real peer: the emulator on a loopback socket, a real
Prefect API, and a process started with the spawn method.
"""

from __future__ import annotations

import multiprocessing
import pickle
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from prefect_telnyx_oauth import (
    ConfigurationError,
    InvalidClientError,
    TelnyxOAuthCredentials,
    get_telnyx_token,
)
from prefect_telnyx_oauth.cli import app
from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now
from tests.integration._pickle_child import token_in_child
from tests.integration.helpers import make_block
from tests.integration.test_authorization_code_block import connect
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

runner = CliRunner()


def _name() -> str:
    return f"edges-{uuid.uuid4().hex[:10]}"


def _load(name: str) -> TelnyxOAuthCredentials:
    block = TelnyxOAuthCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert isinstance(block, TelnyxOAuthCredentials)
    return block


def _connected(emulator: TelnyxEmulator) -> str:
    """A saved block whose Telnyx user connected it, as `authorize --block NAME` leaves it."""
    name = _name()
    block = make_block(emulator)
    block.save(name, _sync=True)  # type: ignore[call-arg]
    connect(block, emulator)
    return name


def _env(monkeypatch: pytest.MonkeyPatch, emulator: TelnyxEmulator, secret: str) -> None:
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", secret)
    monkeypatch.setenv("TELNYX_BASE_URL", emulator.base_url)


def _assert_still_connected(name: str, emulator: TelnyxEmulator) -> None:
    saved = _load(name)
    assert saved.grant_type == "authorization_code"
    assert saved.refresh_token is not None
    assert saved.refresh_token.get_secret_value() == emulator.issued_refresh_tokens()[-1]


# -- §1: a re-save keeps the user's connection, or refuses ---------------------------------------


def test_readme_resave_from_env_keeps_the_user_connection_and_later_runs_act_as_the_user(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _connected(emulator)
    _env(monkeypatch, emulator, emulator.client_secret)
    TelnyxOAuthCredentials.from_env().save(name, overwrite=True)  # the README's line
    _assert_still_connected(name, emulator)

    # A later run, in a new process, once the access token has expired: refreshed as the user.
    block = _load(name)
    past = {"access_token_expires_at": (utc_now() - timedelta(minutes=1)).isoformat()}
    with get_client(sync_client=True) as client:
        client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=past, merge_existing_data=True),
        )
    reset_token_caches()
    _load(name).get_token()
    assert emulator.counters.token_requests_by_grant == {
        "authorization_code": 1,
        "refresh_token": 1,
    }


def test_create_block_overwrite_with_the_same_credentials_keeps_the_user_connection(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _connected(emulator)
    _env(monkeypatch, emulator, emulator.client_secret)
    result = runner.invoke(app, ["create-block", name, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "Kept the Telnyx user connected" in result.output
    _assert_still_connected(name, emulator)


def test_save_with_other_client_credentials_refuses_and_names_authorize(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _connected(emulator)
    _env(monkeypatch, emulator, "another-secret-0123456789")
    with pytest.raises(ConfigurationError) as info:
        TelnyxOAuthCredentials.from_env().save(name, overwrite=True)
    text = str(info.value)
    assert f"prefect-telnyx-oauth authorize --block {name}" in text
    assert "disconnect=True" in text
    _assert_still_connected(name, emulator)  # nothing half-saved
    assert _load(name).client_secret.get_secret_value() == emulator.client_secret


def test_save_with_an_explicit_client_credentials_grant_refuses_unless_disconnect(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    name = _connected(emulator)
    block = make_block(emulator, grant_type="client_credentials")
    with pytest.raises(ConfigurationError, match="authorize --block"):
        block.save(name, overwrite=True)
    _assert_still_connected(name, emulator)

    block.save(name, overwrite=True, disconnect=True)  # meant: the client itself from now on
    saved = _load(name)
    assert saved.grant_type == "client_credentials"
    assert saved.refresh_token is None


async def test_asave_with_other_client_credentials_refuses_unless_disconnect(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    name = _connected(emulator)
    other = make_block(emulator, client_id="another-client")
    with pytest.raises(ConfigurationError, match=f"authorize --block {name}"):
        await other.asave(name, overwrite=True)
    saved = await TelnyxOAuthCredentials.aload(name)
    assert (saved.client_id, saved.grant_type) == (emulator.client_id, "authorization_code")

    await other.asave(name, overwrite=True, disconnect=True)
    saved = await TelnyxOAuthCredentials.aload(name)
    assert (saved.client_id, saved.grant_type) == ("another-client", "client_credentials")
    assert saved.refresh_token is None


def test_create_block_overwrite_with_another_secret_refuses_unless_disconnect(
    prefect_api: None, emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _connected(emulator)
    _env(monkeypatch, emulator, "another-secret-0123456789")
    refused = runner.invoke(app, ["create-block", name, "--overwrite"])
    assert refused.exit_code == 1, refused.output
    assert f"prefect-telnyx-oauth authorize --block {name}" in refused.output
    assert "--disconnect" in refused.output
    _assert_still_connected(name, emulator)

    replaced = runner.invoke(app, ["create-block", name, "--overwrite", "--disconnect"])
    assert replaced.exit_code == 0, replaced.output
    saved = _load(name)
    assert saved.grant_type == "client_credentials"
    assert saved.refresh_token is None
    assert saved.client_secret.get_secret_value() == "another-secret-0123456789"


# -- §6: pickled, edited in the UI, typed in the form --------------------------------------------


def test_block_pickles_after_a_token_and_a_spawned_process_reuses_that_token(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    first = block.get_token().access_token.get_secret_value()
    pickle.dumps(block)
    # Spawn, not fork: a forked child would share this process's token cache and prove nothing.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        in_child = pool.submit(token_in_child, block).result(timeout=120)
    assert in_child == first
    assert emulator.counters.token_requests == 1  # the child used the token the block carried
    assert block.get_token().access_token.get_secret_value() == first  # the parent still works


async def test_by_name_retry_after_invalid_client_picks_up_an_auth_method_fixed_in_the_ui(
    prefect_api: None, emulator_factory: Any
) -> None:
    # Decoding Basic credentials raw, this server refuses a percent-encoded secret in Basic: it
    # accepts this client only with client_secret_post, as some real gateways do.
    emulator = emulator_factory(client_secret="s3cret+with%plus", basic_auth_decoding="raw")
    name = _name()
    await make_block(emulator).asave(name)

    @flow
    async def pipeline() -> str:
        return get_telnyx_token(name).access_token.get_secret_value()

    with pytest.raises(InvalidClientError, match="token_endpoint_auth_method"):
        await pipeline()
    async with get_client() as client:  # what the error message suggests, done in the UI
        document = await client.read_block_document_by_name(name, "telnyx-oauth-credentials")
        await client.update_block_document(
            document.id,
            BlockDocumentUpdate(
                data={"token_endpoint_auth_method": "client_secret_post"},
                merge_existing_data=True,
            ),
        )
    token = await pipeline()
    assert token == emulator.issued_access_tokens()[-1]
    assert emulator.counters.token_requests_by_status.get(200) == 1


# The keys the Prefect UI (3.9) keeps of a schema and of each property before it posts them to
# /ui/schemas/validate (its `Schema` and `SchemaProperty` mappers): a `pattern` on a property never
# reaches the server, while `allOf` at the root goes through whole.
_UI_KEYS = (
    "position", "block_type_slug", "$ref", "anyOf", "allOf", "example", "default", "const",
    "description", "enum", "format", "items", "prefixItems", "properties", "required", "title",
    "type", "maxItems", "minItems", "definitions",
)  # fmt: skip


def _as_the_ui_sends(schema: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in schema.items() if key in _UI_KEYS}
    kept["properties"] = {
        name: {key: value for key, value in field.items() if key in _UI_KEYS}
        for name, field in schema["properties"].items()
    }
    return kept


def _form_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """What the UI's create form shows per field, from the Prefect API's own validation of the
    block schema registered there."""
    checksum = TelnyxOAuthCredentials._calculate_schema_checksum()
    with get_client(sync_client=True) as client:
        registered = client.read_block_schema_by_checksum(checksum)
    schema = _as_the_ui_sends(registered.fields)
    answer = httpx.post(
        f"{PREFECT_API_URL.value()}/ui/schemas/validate",
        json={"schema": schema, "values": values},
    )
    answer.raise_for_status()
    body = answer.json()
    return {error["property"]: error["errors"] for error in body["errors"]}


_GOOD = {"client_id": "form-client", "client_secret": "form-secret-0123456789"}


_WHITESPACE = ("whitespace", "copied line end")
_PLAIN_HTTP = ("plain http", "127.0.0.1, ::1 and localhost", "clear text")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("client_secret", "form-secret-0123456789\n", _WHITESPACE),
        ("client_secret", " form-secret-0123456789", _WHITESPACE),
        ("base_url", "http://api.example.com/v2", _PLAIN_HTTP),
        ("base_url", "HTTP://api.example.com/v2", _PLAIN_HTTP),
        ("base_url", "http://127.0.0.1.example.com/v2", _PLAIN_HTTP),
        ("base_url", "http://localhost.example.com/v2", _PLAIN_HTTP),
        ("base_url", "http://api.localhost/v2", _PLAIN_HTTP),
        ("token_url", "http://login.example.com/oauth/token", _PLAIN_HTTP),
    ],
)
def test_form_refuses_what_the_block_refuses_with_the_same_words(
    prefect_api: None, field: str, value: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        TelnyxOAuthCredentials(**(_GOOD | {field: value}))
    errors = _form_errors(_GOOD | {field: value})
    assert list(errors) == [field]
    for word in words:
        assert word in str(refused.value)
        assert word in errors[field][0]
    if field == "client_secret":
        assert value.strip() not in errors[field][0]  # the masked input's value is never shown


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "https://api.telnyx.com/v2"),
        ("base_url", "http://127.0.0.1:8080/v2"),
        ("base_url", "http://localhost/v2"),
        ("base_url", "http://[::1]:9000/v2"),
        ("token_url", "https://login.example.com/oauth/token"),
        ("client_secret", "form secret with inner spaces"),
    ],
)
def test_form_accepts_what_the_block_accepts(prefect_api: None, field: str, value: str) -> None:
    TelnyxOAuthCredentials(**(_GOOD | {field: value}))
    assert _form_errors(_GOOD | {field: value}) == {}


def test_form_descriptions_state_the_rules_in_the_words_of_the_block() -> None:
    properties = TelnyxOAuthCredentials.model_json_schema()["properties"]
    assert all(word in properties["client_secret"]["description"] for word in _WHITESPACE[:2])
    assert all(word in properties["base_url"]["description"] for word in _PLAIN_HTTP[:2])


async def test_block_saved_by_a_form_with_a_plain_http_base_url_is_refused_at_load(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    name = _name()
    block_id = await make_block(emulator).asave(name)
    async with get_client() as client:  # as the UI saves it: no validation on the way
        await client.update_block_document(
            block_id,
            BlockDocumentUpdate(
                data={"base_url": "http://api.example.com/v2"}, merge_existing_data=True
            ),
        )
    with pytest.raises(ConfigurationError, match=r"base_url .* plain http"):
        await TelnyxOAuthCredentials.aload(name)
