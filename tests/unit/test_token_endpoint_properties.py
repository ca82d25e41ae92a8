"""Property tests: whatever the endpoint answers, the parser returns a token or one of our errors.

And the retry policy never asks for a negative wait, nor one above its caps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from telnyx_oauth._retry import parse_retry_after, retry_delay
from telnyx_oauth._token_response import parse_token_response
from telnyx_oauth.errors import TelnyxOAuthError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_client import (
    ClientCredentialsGrant,
    RefreshTokenGrant,
    TokenEndpointConfig,
)
from tests.secret_scan import SecretScan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
# Markers that may appear anywhere in a body; no error message may repeat them.
CLIENT_SECRET = "CS-marker-5f1d7c0a"
REFRESH_TOKEN = "RT-marker-9b2e44d1"
ACCESS_TOKEN = "AT-marker-3c8a6f12"
CONFIG = TokenEndpointConfig(
    token_url="https://api.telnyx.com/v2/oauth/token",
    client_id="telnyx-client",
    client_secret=SecretStr(CLIENT_SECRET),
)
GRANTS = st.sampled_from(
    [
        ClientCredentialsGrant(),
        ClientCredentialsGrant("a b"),
        RefreshTokenGrant(SecretStr(REFRESH_TOKEN)),
    ]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    # A server may echo what we sent anywhere; our own secrets must still never be repeated.
    json_scalars | st.sampled_from([CLIENT_SECRET, REFRESH_TOKEN]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
tokenish_dicts = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.sampled_from([ACCESS_TOKEN, "", "AT with space"]) | json_values,
        "token_type": st.sampled_from(["Bearer", "bearer", "BEARER", "mac"]) | json_values,
        "expires_in": st.integers(min_value=-10, max_value=10**8) | json_values,
        "scope": st.sampled_from(["messaging", "a b"]) | json_values,
        "refresh_token": st.sampled_from(["RT-new-0123456789", ""]) | json_values,
        "error": st.sampled_from(["invalid_client", "invalid_grant", "x"]) | json_values,
        "error_description": st.sampled_from([f"got {CLIENT_SECRET}", f"{REFRESH_TOKEN} used"])
        | json_values,
    },
)
valid_tokens = st.fixed_dictionaries(
    {
        "access_token": st.just(ACCESS_TOKEN),
        "token_type": st.sampled_from(["Bearer", "bearer", "BEARER"]),
        "expires_in": st.integers(min_value=1, max_value=366 * 86400),
    },
    optional={"scope": st.just("messaging"), "refresh_token": st.just("RT-new-0123456789")},
)
near_tokens = st.tuples(
    st.fixed_dictionaries(
        {
            "access_token": st.just(ACCESS_TOKEN),
            "token_type": st.sampled_from(["Bearer", "bearer"]),
            "expires_in": st.integers(min_value=1, max_value=86400),
        },
        optional={"scope": st.just("messaging"), "refresh_token": st.just("RT-new-0123456789")},
    ),
    st.sampled_from(["access_token", "token_type", "expires_in", "scope", "refresh_token", None]),
    json_values,
).map(lambda t: t[0] if t[1] is None else t[0] | {t[1]: t[2]})  # a valid token, one field spoiled
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda value: json.dumps(value).encode())
    | tokenish_dicts.map(lambda value: json.dumps(value).encode())
    | near_tokens.map(lambda value: json.dumps(value).encode())
)
header_names = st.sampled_from(
    ["content-type", "content-length", "location", "retry-after", "x-ratelimit-reset", "x-other"]
)
header_values = st.sampled_from(
    ["application/json", "text/html", "0", "12", "999999999", "-3", "abc", "", "/x?code=1"]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
headers = st.lists(st.tuples(header_names, header_values), max_size=5)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 400, 401]) | st.integers(min_value=100, max_value=599),
    headers=headers,
    body=bodies,
    grant=GRANTS,
)
def test_parse_token_response_any_answer_gives_a_token_or_our_error(
    status: int, headers: list[tuple[str, str]], body: bytes, grant: ClientCredentialsGrant
) -> None:
    response = httpx.Response(status, headers=headers, content=body)
    scan = SecretScan()
    scan.add_secret(CLIENT_SECRET)
    scan.add_secret(ACCESS_TOKEN)
    if isinstance(grant, RefreshTokenGrant):
        # Only a refresh token we sent is a secret of ours; echoed by a server answering another
        # grant, the same text is just server text we cannot know to hide.
        scan.add_secret(REFRESH_TOKEN)
    try:
        token = parse_token_response(response, config=CONFIG, grant=grant, sent_at=T0)
    except TelnyxOAuthError as exc:
        scan.record_exception(exc)
    else:
        assert isinstance(token, TelnyxToken)
        assert 200 <= status <= 299
        assert T0 < token.expires_at <= T0 + timedelta(days=366)
        assert token.token_type == "Bearer"
        scan.record_text(repr(token), where="token repr")
    # Anything else (KeyError, JSONDecodeError, ValidationError, ...) fails the test by escaping.
    scan.assert_clean()


@given(body=valid_tokens, grant=GRANTS)
def test_parse_token_response_valid_token_body_always_gives_that_token(
    body: dict[str, object], grant: ClientCredentialsGrant | RefreshTokenGrant
) -> None:
    response = httpx.Response(200, json=body)
    token = parse_token_response(response, config=CONFIG, grant=grant, sent_at=T0)
    assert token.access_token.get_secret_value() == ACCESS_TOKEN
    assert token.expires_at == T0 + timedelta(seconds=body["expires_in"])  # type: ignore[arg-type]
    assert token.scope == body.get("scope", grant.scope)
    held = token.refresh_token.get_secret_value() if token.refresh_token else None
    kept = REFRESH_TOKEN if isinstance(grant, RefreshTokenGrant) else None
    assert held == body.get("refresh_token", kept)


@given(
    attempt=st.integers(min_value=1, max_value=100),
    status=st.integers(min_value=100, max_value=599),
    retry_after=st.none() | header_values,
    reset=st.none() | header_values,
    rng=st.floats(min_value=0, max_value=1),
    base=st.floats(min_value=0, max_value=100),
    maximum=st.floats(min_value=0, max_value=1000),
    cap=st.floats(min_value=0, max_value=1000),
)
def test_retry_delay_is_never_negative_nor_above_its_caps(
    attempt: int,
    status: int,
    retry_after: str | None,
    reset: str | None,
    rng: float,
    base: float,
    maximum: float,
    cap: float,
) -> None:
    config = TokenEndpointConfig(
        token_url="https://api.telnyx.com/v2/oauth/token",
        client_id="c",
        client_secret=SecretStr("s"),
        max_attempts=10,
        backoff_base_seconds=base,
        backoff_max_seconds=maximum,
        retry_after_cap_seconds=cap,
    )
    fields = {"retry-after": retry_after, "x-ratelimit-reset": reset}
    response = httpx.Response(status, headers={k: v for k, v in fields.items() if v is not None})
    delay = retry_delay(attempt, response, policy=config, now=T0, rng=lambda: rng)
    if delay is not None:
        assert 0 <= delay <= max(maximum, cap)
        assert status == 429 or status >= 500


@given(value=st.text(max_size=40), offset=st.integers(min_value=-(10**9), max_value=10**9))
def test_parse_retry_after_any_text_gives_none_or_a_finite_non_negative_wait(
    value: str, offset: int
) -> None:
    wait = parse_retry_after(value, now=T0 + timedelta(seconds=offset))
    assert wait is None or 0 <= wait < float("inf")
