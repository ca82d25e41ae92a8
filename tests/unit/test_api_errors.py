"""The pure half of the API core: Telnyx error bodies, retry decisions and error messages."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from telnyx_oauth._api_errors import (
    api_error,
    check_path,
    json_body,
    may_retry,
    parse_error_details,
)
from telnyx_oauth._retry import RetryPolicy, retry_delay
from telnyx_oauth.errors import ConfigurationError, TelnyxAPIError, TelnyxErrorDetail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
POLICY = RetryPolicy(max_attempts=3, backoff_base_seconds=0.5, backoff_max_seconds=8.0)
LABEL = "block 'prod-telnyx'"


def response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "https://api.telnyx.com/v2/messages")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def delay(outcome: httpx.Response | BaseException, *, attempt: int = 1, **kw: Any) -> float | None:
    kw.setdefault("retryable", True)
    return retry_delay(attempt, outcome, policy=POLICY, now=T0, rng=lambda: 0.5, **kw)


# -- error bodies --------------------------------------------------------------------------------


def test_parse_error_details_telnyx_body_returns_every_entry() -> None:
    body = {
        "errors": [
            {"code": "40310", "title": "Invalid 'to' address", "detail": "Not E.164."},
            {"code": 10004, "title": "Missing required parameter", "source": {"pointer": "/x"}},
        ]
    }
    assert parse_error_details(response(422, body)) == [
        TelnyxErrorDetail("40310", "Invalid 'to' address", "Not E.164."),
        TelnyxErrorDetail("10004", "Missing required parameter", None),
    ]


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",
        "",
        {"error": "invalid_token"},
        {"errors": "boom"},
        ["not", "an", "object"],
        {"errors": ["not an object", None]},
    ],
)
def test_parse_error_details_not_a_telnyx_body_returns_empty(body: Any) -> None:
    assert parse_error_details(response(502, body)) == []


def test_api_error_422_carries_code_and_says_what_to_fix() -> None:
    body = {"errors": [{"code": "40310", "title": "Invalid 'to' address", "detail": "Use E.164"}]}
    error = api_error("post", "/messages", response(422, body), label=LABEL)
    assert isinstance(error, TelnyxAPIError)
    assert error.status_code == 422
    assert [e.code for e in error.errors] == ["40310"]
    assert error.retry_after is None
    text = str(error)
    assert "POST /messages answered 422 for block 'prod-telnyx'" in text
    assert "40310 Invalid 'to' address: Use E.164" in text
    assert "Fix the request" in text


def test_api_error_many_entries_shows_three_and_counts_the_rest() -> None:
    body = {"errors": [{"code": str(i), "title": f"t{i}"} for i in range(5)]}
    text = str(api_error("GET", "/x", response(400, body), label=LABEL))
    assert "0 t0; 1 t1; 2 t2; and 2 more" in text


def test_api_error_html_body_names_content_type_not_the_body() -> None:
    html = "<html>secret-looking proxy page</html>"
    error = api_error(
        "GET", "/balance", response(502, html, **{"content-type": "text/html"}), label=LABEL
    )
    assert error.errors == []
    assert "no Telnyx error body (text/html)" in str(error)
    assert "secret-looking" not in str(error)


def test_api_error_429_reports_retry_after_seconds() -> None:
    error = api_error(
        "GET",
        "/balance",
        response(429, {}, **{"retry-after": "7"}),
        label=LABEL,
        attempts=3,
        now=T0,
    )
    assert error.retry_after == 7.0
    assert "Rate limited after 3 attempts; try again after 7 s" in str(error)


def test_api_error_5xx_post_without_key_says_why_not_retried() -> None:
    error = api_error("POST", "/messages", response(503), label=LABEL, retryable=False)
    assert "not retried" in str(error)
    assert "idempotency_key" in str(error)


def test_api_error_message_never_contains_request_headers() -> None:
    request = httpx.Request(
        "GET", "https://api.telnyx.com/v2/balance", headers={"Authorization": "Bearer TKN-123"}
    )
    answer = httpx.Response(401, json={"errors": [{"code": "10009"}]}, request=request)
    assert "TKN-123" not in str(api_error("GET", "/balance", answer, label=LABEL))


# -- retry decisions -----------------------------------------------------------------------------


def test_may_retry_post_without_key_returns_false() -> None:
    assert not may_retry("POST", None)
    assert not may_retry("patch", "")


def test_may_retry_post_with_key_or_get_returns_true() -> None:
    assert may_retry("POST", "k-1")
    assert may_retry("get", None)
    assert may_retry("DELETE", None)


def test_retry_delay_retry_after_seconds_returns_that_wait() -> None:
    assert delay(response(429, {}, **{"retry-after": "2"})) == 2.0


def test_retry_delay_retry_after_http_date_returns_seconds_until_then() -> None:
    assert delay(response(503, {}, **{"retry-after": "Sun, 01 Mar 2026 12:00:30 GMT"})) == 30.0


def test_retry_delay_ratelimit_reset_on_429_returns_that_wait() -> None:
    assert delay(response(429, {}, **{"x-ratelimit-reset": "4"})) == 4.0


def test_retry_delay_ratelimit_reset_on_5xx_is_ignored_for_backoff() -> None:
    # The emulator (like Telnyx) sends x-ratelimit-reset on every answer: only a 429 means "wait".
    assert delay(response(503, {}, **{"x-ratelimit-reset": "59"})) == 0.25


def test_retry_delay_without_server_wait_returns_jittered_backoff() -> None:
    assert delay(response(500), attempt=1) == 0.25
    assert delay(response(500), attempt=2) == 0.5


def test_retry_delay_wait_above_cap_returns_none() -> None:
    assert delay(response(429, {}, **{"retry-after": "3600"})) is None


def test_retry_delay_last_attempt_returns_none() -> None:
    assert delay(response(503), attempt=3) is None


def test_retry_delay_not_retryable_returns_none() -> None:
    assert delay(response(503), retryable=False) is None
    assert delay(httpx.ConnectError("down"), retryable=False) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_retry_delay_client_error_returns_none(status: int) -> None:
    assert delay(response(status, {"errors": []})) is None


def test_retry_delay_network_error_returns_backoff() -> None:
    assert delay(httpx.ReadTimeout("slow")) == 0.25


# -- bodies and paths ----------------------------------------------------------------------------


def test_json_body_empty_returns_empty_dict() -> None:
    assert json_body("DELETE", "/x", response(204), label=LABEL) == {}


def test_json_body_html_raises_api_error_naming_base_url() -> None:
    html = response(200, "<html></html>", **{"content-type": "text/html"})
    with pytest.raises(TelnyxAPIError, match="Check base_url"):
        json_body("GET", "/balance", html, label=LABEL)


@pytest.mark.parametrize("path", ["https://evil.example/v2/balance", "//evil.example/balance"])
def test_check_path_absolute_url_raises_configuration_error(path: str) -> None:
    with pytest.raises(ConfigurationError, match="relative"):
        check_path(path)


def test_check_path_relative_returns_leading_slash() -> None:
    assert check_path("balance") == "/balance"
    assert check_path("/balance") == "/balance"
