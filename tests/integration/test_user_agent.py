"""The User-Agent the token endpoint sees: the core's product token, a front end's before it.

The emulator counts token requests by the `User-Agent` header it received on its real socket, so
these tests read what a server's access log would show.
"""

from __future__ import annotations

import httpx
import pytest

import prefect_telnyx_oauth
import telnyx_oauth._version
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.token_client import ClientCredentialsGrant, TokenEndpointConfig, request_token
from tests.integration.helpers import make_block

CORE = f"telnyx-oauth-core/{telnyx_oauth._version.__version__} httpx/{httpx.__version__}"


def test_the_bare_core_sends_only_its_own_product_token(emulator: TelnyxEmulator) -> None:
    config = TokenEndpointConfig(
        token_url=emulator.token_url,
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
    )
    request_token(config, ClientCredentialsGrant())
    assert emulator.counters.token_requests_by_user_agent == {CORE: 1}


def test_a_prefect_block_puts_its_product_token_before_the_cores(
    emulator: TelnyxEmulator,
) -> None:
    make_block(emulator).get_token()
    prefect = f"prefect-telnyx-oauth/{prefect_telnyx_oauth.__version__}"
    assert emulator.counters.token_requests_by_user_agent == {f"{prefect} {CORE}": 1}


@pytest.mark.parametrize("product", ["my app/1.0", "my-app", "a/1\r\nX-Evil: 1", ""])
def test_a_product_token_that_is_not_name_slash_version_is_refused(product: str) -> None:
    with pytest.raises(ConfigurationError, match="user_agent_product") as caught:
        TokenEndpointConfig(
            token_url="https://auth.example.com/token",
            client_id="id",
            client_secret="secret-value",
            user_agent_product=product,
        )
    assert repr(product) in str(caught.value)
