"""Every token error says what to do next, in the block's own field names."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth._token_errors import unavailable_error
from telnyx_oauth._token_response import parse_token_response
from telnyx_oauth.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    TokenResponseError,
)
from telnyx_oauth.token_client import ClientCredentialsGrant, TokenEndpointConfig

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CONFIG = TokenEndpointConfig(
    token_url="https://api.telnyx.com/oauth/token",
    client_id="telnyx-client",
    client_secret=SecretStr("client-secret-value"),
)


def answer(status: int, body: object | None = None) -> httpx.Response:
    request = httpx.Request("POST", CONFIG.token_url)
    if body is None:
        return httpx.Response(status, text="Not Found", request=request)
    return httpx.Response(status, json=body, request=request)


def parse(response: httpx.Response, grant: ClientCredentialsGrant | None = None) -> None:
    parse_token_response(
        response, config=CONFIG, grant=grant or ClientCredentialsGrant(), sent_at=T0
    )


def test_read_timeout_names_the_timeout_not_the_network() -> None:
    request = httpx.Request("POST", CONFIG.token_url)
    error = unavailable_error(
        httpx.ReadTimeout("timed out", request=request),
        config=CONFIG,
        limits=CONFIG,
        attempts=3,
        now=T0,
    )
    assert "no answer within timeout_seconds=10" in str(error)
    assert "DNS" not in str(error)


def test_404_says_base_url_must_end_in_v2_or_token_url_is_wrong() -> None:
    with pytest.raises(TokenResponseError, match=r"ending in /v2.*or token_url is wrong"):
        parse(answer(404))


def test_invalid_scope_without_a_scope_speaks_of_the_default_scope() -> None:
    with pytest.raises(InvalidScopeError, match="the client's default scope") as info:
        parse(answer(400, {"error": "invalid_scope"}))
    assert "None" not in str(info.value)


def test_hints_name_the_block_fields() -> None:
    with pytest.raises(InvalidClientError, match="token_endpoint_auth_method='client_secret_post'"):
        parse(answer(401, {"error": "invalid_client"}))
    with pytest.raises(InvalidRequestError, match="token_request_format='form'"):
        parse(answer(400, {"error": "invalid_request"}))


def test_retry_after_over_the_cap_says_when_to_try_again() -> None:
    request = httpx.Request("POST", CONFIG.token_url)
    wait = httpx.Response(503, headers={"retry-after": "600"}, request=request)
    error = unavailable_error(wait, config=CONFIG, limits=CONFIG, attempts=1, now=T0)
    assert "asked to wait 600 s, longer than the 60 s" in str(error)
    assert "retry_after_cap_seconds" not in str(error)  # not a field anyone can set
