"""Retries: the pure policy, the flow driven by hand, and torn transports through the real shells.

`httpx.MockTransport` stands in for the network only where a real server cannot easily misbehave
on cue (a connection torn mid-body, an endless body, a broken gzip stream); the ordinary answers
are covered against the emulator in `tests/integration/test_token_client.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth._retry import (
    backoff_seconds,
    parse_retry_after,
    retry_delay,
    server_wait_seconds,
)
from telnyx_oauth.errors import (
    InvalidClientError,
    TokenEndpointUnavailableError,
    TokenResponseError,
)
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    Sleep,
    TokenEndpointConfig,
    TransportOutcome,
    arequest_token,
    request_token,
    token_flow,
)
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
URL = "https://api.telnyx.com/v2/oauth/token"
CONFIG = TokenEndpointConfig(
    token_url=URL, client_id="telnyx-client", client_secret=SecretStr("retry-secret:+% é")
)
GRANT = ClientCredentialsGrant()
TOKEN_BODY = {"access_token": "AT-retried-0123456789", "token_type": "Bearer", "expires_in": 600}


def ok() -> httpx.Response:
    return httpx.Response(200, json=TOKEN_BODY)


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, text="<html>busy</html>", headers=headers)


def run_flow(
    outcomes: list[TransportOutcome], config: TokenEndpointConfig = CONFIG, rng: float = 0.5
) -> tuple[TelnyxToken | BaseException, int, list[float]]:
    """Drive `token_flow` by hand; return its result (or error), requests made and sleeps asked."""
    flow = token_flow(config, GRANT, now=lambda: T0, rng=lambda: rng)
    pending = iter(outcomes)
    requests, sleeps = 0, []
    step = next(flow)
    try:
        while True:
            if isinstance(step, Sleep):
                sleeps.append(step.seconds)
                step = flow.send(None)
            else:
                requests += 1
                step = flow.send(next(pending))
    except StopIteration as done:
        return done.value, requests, sleeps
    except Exception as exc:
        return exc, requests, sleeps


# --- the pure policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        (format_datetime(T0 + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(T0 - timedelta(hours=1), usegmt=True), 0.0),
        ("-1", None),
        ("soon", None),
        ("", None),
        ("1e3", None),
    ],
)
def test_parse_retry_after_accepts_delta_seconds_and_http_dates(
    value: str, expected: float | None
) -> None:
    assert parse_retry_after(value, now=T0) == expected


def test_server_wait_seconds_uses_ratelimit_reset_only_for_429_without_retry_after() -> None:
    assert server_wait_seconds(status(429, **{"x-ratelimit-reset": "7"}), now=T0) == 7.0
    both = status(429, **{"retry-after": "2", "x-ratelimit-reset": "7"})
    assert server_wait_seconds(both, now=T0) == 2.0
    assert server_wait_seconds(status(503, **{"x-ratelimit-reset": "7"}), now=T0) is None
    assert server_wait_seconds(status(503, **{"retry-after": "3"}), now=T0) == 3.0


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (99, 8.0)]
)
def test_backoff_seconds_doubles_from_base_up_to_the_max(attempt: int, ceiling: float) -> None:
    assert backoff_seconds(attempt, policy=CONFIG, rng=0.0) == 0.0
    assert backoff_seconds(attempt, policy=CONFIG, rng=0.5) == ceiling / 2
    assert backoff_seconds(attempt, policy=CONFIG, rng=0.999999) <= ceiling


@pytest.mark.parametrize(
    "outcome",
    [status(400), status(401), status(404), status(302), ok(), httpx.UnsupportedProtocol("x")],
)
def test_retry_delay_non_transient_outcome_is_not_retried(outcome: TransportOutcome) -> None:
    assert retry_delay(1, outcome, policy=CONFIG, now=T0, rng=lambda: 0.5) is None


@pytest.mark.parametrize(
    "outcome",
    [
        status(500),
        status(503),
        status(429),
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.PoolTimeout("busy"),
        httpx.RemoteProtocolError("torn"),
        httpx.ReadError("reset"),
    ],
)
def test_retry_delay_transient_outcome_is_retried_until_the_last_attempt(
    outcome: TransportOutcome,
) -> None:
    assert retry_delay(1, outcome, policy=CONFIG, now=T0, rng=lambda: 0.5) == 0.25
    assert retry_delay(3, outcome, policy=CONFIG, now=T0, rng=lambda: 0.5) is None


def test_retry_delay_server_wait_over_the_cap_stops_retrying() -> None:
    assert (
        retry_delay(1, status(429, **{"retry-after": "60"}), policy=CONFIG, now=T0, rng=float) == 60
    )
    assert (
        retry_delay(1, status(429, **{"retry-after": "61"}), policy=CONFIG, now=T0, rng=float)
        is None
    )


# --- the flow, driven by hand --------------------------------------------------------------------


def test_token_flow_503_twice_then_200_returns_the_token_after_three_requests() -> None:
    result, requests, sleeps = run_flow([status(503), status(503), ok()])
    assert isinstance(result, TelnyxToken)
    assert requests == 3
    assert sleeps == [0.25, 0.5]  # full jitter at 0.5 of 0.5 s, then of 1 s


def test_token_flow_429_waits_as_long_as_retry_after_or_ratelimit_reset_says() -> None:
    outcomes: list[TransportOutcome] = [
        status(429, **{"retry-after": "2"}),
        status(429, **{"x-ratelimit-reset": "3"}),
        ok(),
    ]
    result, requests, sleeps = run_flow(outcomes)
    assert isinstance(result, TelnyxToken)
    assert (requests, sleeps) == (3, [2.0, 3.0])


def test_token_flow_always_503_raises_unavailable_after_max_attempts() -> None:
    result, requests, sleeps = run_flow([status(503)] * 5)
    assert isinstance(result, TokenEndpointUnavailableError)
    assert (result.status_code, result.attempts, result.retry_after) == (503, 3, None)
    assert requests == 3
    assert len(sleeps) == 2
    assert str(result) == (
        f"Telnyx token endpoint {URL} kept answering 503 after 3 attempts; try again later or "
        "check https://status.telnyx.com."
    )


def test_token_flow_retry_after_beyond_the_cap_gives_up_at_once_with_the_wait() -> None:
    result, requests, sleeps = run_flow([status(429, **{"retry-after": "600"}), ok()])
    assert isinstance(result, TokenEndpointUnavailableError)
    assert (result.status_code, result.attempts, result.retry_after) == (429, 1, 600.0)
    assert (requests, sleeps) == (1, [])
    assert "longer than the 60 s worth waiting inside a task" in str(result)


def test_token_flow_4xx_is_never_retried() -> None:
    result, requests, sleeps = run_flow([httpx.Response(401, json={"error": "invalid_client"})])
    assert isinstance(result, InvalidClientError)
    assert (requests, sleeps) == (1, [])


def test_token_flow_network_errors_exhausted_carry_no_status_and_chain_the_cause() -> None:
    error = httpx.ConnectError("[Errno 111] Connection refused")
    result, requests, _ = run_flow([error, error, error])
    assert isinstance(result, TokenEndpointUnavailableError)
    assert (result.status_code, result.attempts, requests) == (None, 3, 3)
    assert result.__cause__ is error
    assert "ConnectError: [Errno 111] Connection refused" in str(result)
    assert "Check network access" in str(result)


def test_token_flow_non_transient_transport_error_is_not_retried() -> None:
    result, requests, _ = run_flow([httpx.ProxyError("407 from proxy"), ok()])
    assert isinstance(result, TokenEndpointUnavailableError)
    assert (result.attempts, requests) == (1, 1)
    assert "not retried" in str(result)


def test_token_flow_single_attempt_config_never_sleeps() -> None:
    single = TokenEndpointConfig(
        token_url=URL, client_id="c", client_secret=SecretStr("s"), max_attempts=1
    )
    result, requests, sleeps = run_flow([status(500), ok()], config=single)
    assert isinstance(result, TokenEndpointUnavailableError)
    assert (requests, sleeps) == (1, [])


def test_token_flow_logs_attempts_and_waits_at_debug_without_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_flow([status(503), ok()])
    lines = [r.getMessage() for r in caplog.records if r.name == "telnyx_oauth.token"]
    assert lines[0] == f"token request grant=client_credentials attempt=1/3 url={URL}"
    assert lines[1] == "token endpoint answered 503; retrying in 0.25 s"
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name.endswith(".token"))
    assert not any("busy" in line or "AT-retried" in line for line in lines)


# --- the shells over torn transports -------------------------------------------------------------


class TornBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after its first bytes, as a dropped connection does."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"access_token": "AT-'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


class EndlessBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that never ends; counts what was pulled from it."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.pulled += 1
            yield b" " * 4096

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def scripted(
    *answers: httpx.Response | Exception,
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []
    pending = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(pending)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return seen, httpx.MockTransport(handler)


def test_request_token_torn_body_then_token_is_retried_and_succeeds() -> None:
    seen, transport = scripted(httpx.Response(200, stream=TornBody()), ok())
    delays: list[float] = []
    with httpx.Client(transport=transport) as client:
        token = request_token(CONFIG, GRANT, client=client, sleep=delays.append)
    assert token.access_token.get_secret_value() == "AT-retried-0123456789"
    assert len(seen) == 2
    assert len(delays) == 1


def test_request_token_torn_connection_every_time_raises_unavailable() -> None:
    seen, transport = scripted(*[httpx.ReadError("connection reset by peer")] * 3)
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(TokenEndpointUnavailableError) as info,
    ):
        request_token(CONFIG, GRANT, client=client, sleep=lambda _: None)
    assert (info.value.status_code, info.value.attempts, len(seen)) == (None, 3, 3)


def test_request_token_endless_body_stops_reading_past_the_cap() -> None:
    body = EndlessBody()
    _, transport = scripted(httpx.Response(200, stream=body))
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(TokenResponseError, match="over the 65536-byte limit"),
    ):
        request_token(CONFIG, GRANT, client=client)
    assert body.pulled == 65536 // 4096 + 1


def test_request_token_broken_gzip_is_a_typed_error_not_a_decoding_error() -> None:
    broken = httpx.Response(
        200, stream=httpx.ByteStream(b"not gzip"), headers={"content-encoding": "gzip"}
    )
    _, transport = scripted(broken)
    with (
        httpx.Client(transport=transport) as client,
        pytest.raises(TokenEndpointUnavailableError, match="DecodingError"),
    ):
        request_token(CONFIG, GRANT, client=client)


def test_request_token_callers_client_keeps_our_timeout_auth_and_no_redirects() -> None:
    post = TokenEndpointConfig(
        token_url=URL,
        client_id="telnyx-client",
        client_secret=SecretStr("retry-secret:+% é"),
        auth_method="client_secret_post",
        timeout_seconds=1.5,
    )
    moved = httpx.Response(302, headers={"location": "https://example.com/elsewhere"})
    seen, transport = scripted(moved, ok())
    client = httpx.Client(
        transport=transport, timeout=99, follow_redirects=True, auth=("someone", "else-entirely")
    )
    with client, pytest.raises(TokenResponseError, match="token URL is probably wrong"):
        request_token(post, GRANT, client=client)
    assert len(seen) == 1  # the redirect was not followed
    assert "authorization" not in seen[0].headers  # the client's own auth was bypassed
    assert seen[0].extensions["timeout"]["read"] == 1.5


def test_request_token_expiry_counts_from_before_the_network_latency() -> None:
    clock = [T0]

    def slow_server(request: httpx.Request) -> httpx.Response:
        clock[0] += timedelta(seconds=45)  # the answer takes 45 s to arrive
        return ok()

    with httpx.Client(transport=httpx.MockTransport(slow_server)) as client:
        token = request_token(CONFIG, GRANT, client=client, now=lambda: clock[0])
    assert token.issued_at == T0
    assert token.expires_at == T0 + timedelta(seconds=600)


async def test_arequest_token_torn_body_then_503_then_token_succeeds() -> None:
    seen, transport = scripted(httpx.Response(200, stream=TornBody()), status(503), ok())
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    async with httpx.AsyncClient(transport=transport) as client:
        token = await arequest_token(CONFIG, GRANT, client=client, sleep=record)
    assert token.access_token.get_secret_value() == "AT-retried-0123456789"
    assert len(seen) == 3
    assert len(delays) == 2
    assert all(0 <= delay <= CONFIG.backoff_max_seconds for delay in delays)


async def test_arequest_token_endless_body_stops_reading_past_the_cap() -> None:
    body = EndlessBody()
    _, transport = scripted(httpx.Response(200, stream=body))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(TokenResponseError):
            await arequest_token(CONFIG, GRANT, client=client)
    assert body.pulled == 65536 // 4096 + 1
