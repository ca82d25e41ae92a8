"""A Telnyx API error never quotes the bearer token, even from a server that echoes it back.

The peer is a real loopback server playing an API (or a proxy in front of it) that puts what it
received, the `Authorization` header among it, into its error body in every encoding a server
might use. The token itself comes from the emulator on another port.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from prefect_telnyx_oauth._api import call_telnyx
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import TelnyxAPIError
from tests.integration.loopback import LoopbackServer, QuietHandler
from tests.secret_scan import secret_scan_fixture, secret_variants  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")


class EchoingAPI(QuietHandler):
    """Answers 400 with a Telnyx error body quoting the request's Authorization header."""

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        detail = (
            f"got {header!r}; raw={token} pct={quote(token, safe='')} "
            f"b64={base64.b64encode(header.encode()).decode()}"
        )
        body = {"errors": [{"code": "10015", "title": f"Bad {token}", "detail": detail}]}
        self.answer(400, json.dumps(body).encode())


@pytest.fixture
def echoing_api() -> Iterator[LoopbackServer]:
    server = LoopbackServer(EchoingAPI)
    yield server
    server.close()


def test_api_error_from_an_echoing_server_masks_the_bearer_token(
    emulator: TelnyxEmulator, echoing_api: LoopbackServer
) -> None:
    block = TelnyxOAuthCredentials(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        token_url=emulator.token_url,
        base_url=echoing_api.base_url,
    )
    token = block.get_token().access_token.get_secret_value()

    with pytest.raises(TelnyxAPIError) as caught:
        call_telnyx(block, "GET", "/balance")

    shown = [str(caught.value), repr(caught.value)]
    for detail in caught.value.errors:
        shown += [str(detail.title), str(detail.detail)]
    leaks = [form for form in secret_variants(token) for text in shown if form in text]
    assert leaks == [], "the bearer token reached the error text"
    assert "10015" in str(caught.value), "the Telnyx error code is still shown"
