"""The token-failure Automation, on a real `prefect server start` (its triggers and actions
services run there; the test harness's server is not relied on for them).

The action is a notification to an HTTP receiver this test starts on 127.0.0.1: the Prefect
server's actions service calls it, so a message there means the Automation fired.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from prefect_telnyx_oauth import (
    InvalidClientError,
    TelnyxOAuthCredentials,
    TokenEndpointUnavailableError,
)
from prefect_telnyx_oauth.alerts import acreate_token_alert, automation_name
from prefect_telnyx_oauth.cli import app
from prefect_telnyx_oauth.events import TOKEN_FAILED
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration.helpers import make_block
from tests.integration.test_cross_process import Server, prefect_server  # noqa: F401

runner = CliRunner()
FIRE_TIMEOUT_SECONDS = 90.0  # the triggers and actions services of a busy, shared machine


class Receiver:
    """What the notification webhook received: one JSON body per POST."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.url = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            got.messages.append(json.loads(body or b"{}"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield got
    server.shutdown()
    server.server_close()


@pytest.fixture
def on_server(prefect_server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:  # noqa: F811
    # The environment too: token events are emitted from the token cache's own thread, which
    # does not see this thread's temporary settings.
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.url)
    # Prefect keeps one events worker per process whatever the API URL: one started for the
    # session's test harness would send this test's events there. Stop it before and after.
    EventsWorker.drain_all(timeout=30)
    try:
        with temporary_settings({PREFECT_API_URL: prefect_server.url}):
            TelnyxOAuthCredentials.register_type_and_schema(_sync=True)  # type: ignore[call-arg]
            yield prefect_server
    finally:
        EventsWorker.drain_all(timeout=30)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _alerted_block(
    emulator: TelnyxEmulator, receiver: Receiver, **overrides: Any
) -> tuple[str, str]:
    """A saved block with a token alert notifying `receiver`; returns its name and resource."""
    name = _name("alerted")
    await make_block(emulator, **overrides).asave(name)
    notification = _name("receiver")
    await CustomWebhookNotificationBlock(
        name="test receiver", url=receiver.url, json_data={"text": "{{subject}}\n{{body}}"}
    ).asave(notification)
    await acreate_token_alert(name, notify=[f"custom-webhook/{notification}"], failures=3)
    loaded = await TelnyxOAuthCredentials.aload(name)
    return name, f"prefect.block-document.{loaded._block_document_id}"


async def _failed_events(resource_id: str, count: int) -> list[Any]:
    async with get_client() as client:
        for _ in range(int(FIRE_TIMEOUT_SECONDS / 0.25)):
            page = await client.read_events(
                EventFilter(
                    event=EventNameFilter(name=[TOKEN_FAILED]),
                    resource=EventResourceFilter(id=[resource_id]),
                ),
                limit=50,
            )
            if len(page.events) >= count:
                return list(page.events)
            await asyncio.sleep(0.25)
    raise AssertionError(f"fewer than {count} {TOKEN_FAILED} events of {resource_id}")


async def _first_messages(receiver: Receiver) -> list[dict[str, Any]]:
    for _ in range(int(FIRE_TIMEOUT_SECONDS / 0.25)):
        if receiver.messages:
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(3)  # a second message, if the Automation fired twice, lands by now
    return list(receiver.messages)


async def test_alert_stays_quiet_on_a_503_blip_and_fires_on_a_refused_secret(
    on_server: Server, emulator: TelnyxEmulator, receiver: Receiver
) -> None:
    # One attempt per call, so the single 503 is a failure (and an event) of its own.
    name, resource_id = await _alerted_block(emulator, receiver, token_max_attempts=1)
    emulator.fail_next_token_requests(1, status=503)
    with pytest.raises(TokenEndpointUnavailableError):
        await (await TelnyxOAuthCredentials.aload(name)).aget_token()
    await _failed_events(resource_id, 1)

    wrong = emulator.client_secret[::-1]
    await make_block(emulator, client_secret=wrong, token_max_attempts=1).asave(
        name, overwrite=True
    )
    with pytest.raises(InvalidClientError):
        await (await TelnyxOAuthCredentials.aload(name)).aget_token()

    messages = await _first_messages(receiver)
    assert len(messages) == 1, messages  # the refusal fired it; the earlier blip did not
    text = messages[0]["text"]
    assert "InvalidClientError" in text
    assert "invalid_client" in text
    assert name in text
    assert "TokenEndpointUnavailableError" not in text
    assert wrong not in text


async def test_alert_fires_on_repeated_retryable_failures(
    on_server: Server, emulator: TelnyxEmulator, receiver: Receiver
) -> None:
    name, resource_id = await _alerted_block(emulator, receiver, token_max_attempts=1)
    emulator.fail_next_token_requests(3, status=503)
    for _ in range(3):
        with pytest.raises(TokenEndpointUnavailableError):
            await (await TelnyxOAuthCredentials.aload(name)).aget_token()
    await _failed_events(resource_id, 3)

    messages = await _first_messages(receiver)
    assert len(messages) == 1, messages
    assert "TokenEndpointUnavailableError" in messages[0]["text"]


async def test_alerts_create_twice_leaves_one_automation_and_remove_deletes_it(
    on_server: Server, emulator: TelnyxEmulator, receiver: Receiver
) -> None:
    name = _name("twice")
    await make_block(emulator).asave(name)
    notification = _name("receiver")
    await CustomWebhookNotificationBlock(name="r", url=receiver.url).asave(notification)
    command = ["alerts", "create", "--block", name, "--notify", f"custom-webhook/{notification}"]

    first = runner.invoke(app, command)
    second = runner.invoke(app, [*command, "--failures", "5"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    async with get_client() as client:
        automations = await client.read_automations_by_name(automation_name(name))
        assert len(automations) == 1
        assert str(automations[0].id) in first.output
        assert str(automations[0].id) in second.output
        thresholds = [t.threshold for t in automations[0].trigger.triggers]  # type: ignore[union-attr]
        assert thresholds == [5, 1]  # the second run's settings replaced the first's

        removed = runner.invoke(app, ["alerts", "remove", "--block", name])
        again = runner.invoke(app, ["alerts", "remove", "--block", name])
        assert removed.exit_code == 0
        assert "Removed" in removed.output
        assert again.exit_code == 0
        assert "had no token alert" in again.output
        assert await client.read_automations_by_name(automation_name(name)) == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "No action"),
        (["--notify", "slack-webhook"], "not block-type-slug/name"),
        (["--notify", "custom-webhook/missing-receiver"], "No custom-webhook block named"),
        (["--pause-deployment", "no-flow/no-deployment"], "No deployment 'no-flow/no-deployment'"),
        (["--notify", "custom-webhook/x", "--failures", "0"], "cannot fire"),
    ],
)
async def test_alerts_create_refuses_bad_input_and_creates_nothing(
    on_server: Server, emulator: TelnyxEmulator, extra: list[str], expected: str
) -> None:
    name = _name("bad")
    await make_block(emulator).asave(name)

    result = runner.invoke(app, ["alerts", "create", "--block", name, *extra])

    assert result.exit_code == 1
    assert expected in result.output
    async with get_client() as client:
        assert await client.read_automations_by_name(automation_name(name)) == []


async def test_alerts_create_for_a_missing_block_names_it(on_server: Server) -> None:
    result = runner.invoke(
        app, ["alerts", "create", "--block", "no-such-block", "--notify", "custom-webhook/x"]
    )
    assert result.exit_code == 1
    assert "No telnyx-oauth-credentials block named 'no-such-block'" in result.output


async def test_alert_calls_a_webhook_block_and_pauses_the_named_deployment(
    on_server: Server, emulator: TelnyxEmulator, receiver: Receiver
) -> None:
    name = _name("paused")
    wrong = emulator.client_secret[::-1]
    await make_block(emulator, client_secret=wrong).asave(name)
    hook = _name("hook")
    await Webhook(method="POST", url=receiver.url).asave(hook)
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(_name("etl"))
        flow_name = (await client.read_flow(flow_id)).name
        deployment_id = await client.create_deployment(flow_id=flow_id, name="nightly")
    created = runner.invoke(
        app,
        [
            "alerts",
            "create",
            "--block",
            name,
            "--webhook",
            hook,
            "--pause-deployment",
            f"{flow_name}/nightly",
        ],
    )
    assert created.exit_code == 0, created.output

    with pytest.raises(InvalidClientError):
        await (await TelnyxOAuthCredentials.aload(name)).aget_token()

    messages = await _first_messages(receiver)
    assert len(messages) == 1, messages
    assert messages[0]["block"] == name
    assert messages[0]["error"] == "invalid_client"
    assert messages[0]["retryable"] == "False"
    async with get_client() as client:
        for _ in range(int(FIRE_TIMEOUT_SECONDS / 0.25)):
            if (await client.read_deployment(deployment_id)).paused:
                break
            await asyncio.sleep(0.25)
        assert (await client.read_deployment(deployment_id)).paused
