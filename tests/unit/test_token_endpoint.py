"""The sans-I/O token protocol: exact request bytes, and every answer the endpoint can give."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr

from telnyx_oauth._token_request import build_token_request
from telnyx_oauth._token_response import (
    MAX_BODY_BYTES,
    BodyBuffer,
    parse_token_response,
)
from telnyx_oauth._version import __version__
from telnyx_oauth.errors import (
    ConfigurationError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    TokenRequestError,
    TokenResponseError,
    UnsupportedGrantTypeError,
)
from telnyx_oauth.token_client import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    Grant,
    RefreshTokenGrant,
    TokenEndpointConfig,
)
from tests.secret_scan import SecretScan, secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CLIENT_ID = "telnyx-client"
# Every character RFC 6749 §2.3.1's encoding exists for: %, :, +, space, non-ASCII.
SECRET = "p%ss:w+rd wïth ünïcode✓"
SECRET_FORM = "p%25ss%3Aw%2Brd+w%C3%AFth+%C3%BCn%C3%AFcode%E2%9C%93"
# Basic percent-encodes (a space is %20, never +): base64 of
# "telnyx-client:p%25ss%3Aw%2Brd%20w%C3%AFth%20%C3%BCn%C3%AFcode%E2%9C%93".
BASIC = (
    "Basic dGVsbnl4LWNsaWVudDpwJTI1c3MlM0F3JTJCcmQlMjB3JUMzJUFGdGglMjAlQzMlQkNuJUMzJUFGY29kZSVFMiU5"
    "QyU5Mw=="
)
OLD_RT = "RT-old-0123456789abcdef"
CODE = "AC-code-0123456789"
VERIFIER = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"
URL = "https://api.telnyx.com/v2/oauth/token"

CC = ClientCredentialsGrant(scope="messaging numbers")
RT = RefreshTokenGrant(SecretStr(OLD_RT), scope="messaging")
AC = AuthorizationCodeGrant(
    code=CODE, redirect_uri="http://127.0.0.1/callback", code_verifier=VERIFIER
)

GRANT_FIELDS: dict[str, tuple[Grant, list[tuple[str, str]]]] = {
    "client_credentials": (CC, [("scope", "messaging numbers")]),
    "refresh_token": (RT, [("refresh_token", OLD_RT), ("scope", "messaging")]),
    "authorization_code": (
        AC,
        [
            ("code", CODE),
            ("redirect_uri", "http://127.0.0.1/callback"),
            ("code_verifier", VERIFIER),
        ],
    ),
}
FORM_BODIES = {
    "client_credentials": b"grant_type=client_credentials&scope=messaging+numbers",
    "refresh_token": (
        b"grant_type=refresh_token&refresh_token=RT-old-0123456789abcdef&scope=messaging"
    ),
    "authorization_code": (
        b"grant_type=authorization_code&code=AC-code-0123456789"
        b"&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&code_verifier=" + VERIFIER.encode()
    ),
}


def config(**overrides: object) -> TokenEndpointConfig:
    values: dict[str, object] = {
        "token_url": URL,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(SECRET),
    }
    return TokenEndpointConfig(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _scan_codes(secret_scan: SecretScan) -> None:
    secret_scan.add_client(CLIENT_ID, SECRET)
    secret_scan.add_secret(CODE)
    secret_scan.add_secret(VERIFIER)


# --- building the request ------------------------------------------------------------------------


@pytest.mark.parametrize("grant_type", list(GRANT_FIELDS))
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("body_format", ["form", "json"])
def test_build_token_request_every_shape_has_exact_bytes_and_headers(
    grant_type: str, auth_method: str, body_format: str
) -> None:
    grant, fields = GRANT_FIELDS[grant_type]
    request = build_token_request(config(auth_method=auth_method, body_format=body_format), grant)

    if body_format == "form":
        body = FORM_BODIES[grant_type]
        if auth_method == "client_secret_post":
            body += f"&client_id={CLIENT_ID}&client_secret={SECRET_FORM}".encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        pairs = [("grant_type", grant_type), *fields]
        if auth_method == "client_secret_post":
            pairs += [("client_id", CLIENT_ID), ("client_secret", SECRET)]
        members = ",".join(f'"{key}":"{value}"' for key, value in pairs)
        body = ("{" + members + "}").encode("utf-8")
        content_type = "application/json"
    expected_headers = {
        "host": "api.telnyx.com",
        "accept": "application/json",
        "content-type": content_type,
        "content-length": str(len(body)),
        "user-agent": f"telnyx-oauth-core/{__version__} httpx/{httpx.__version__}",
    }
    if auth_method == "client_secret_basic":
        expected_headers["authorization"] = BASIC

    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.content == body
    assert dict(request.headers) == expected_headers


def test_build_token_request_basic_header_percent_encodes_the_client_id_too() -> None:
    request = build_token_request(config(client_id="my id:é"), CC)
    assert request.headers["authorization"] == (
        "Basic bXklMjBpZCUzQSVDMyVBOTpwJTI1c3MlM0F3JTJCcmQlMjB3JUMzJUFGdGglMjAl"
        "QzMlQkNuJUMzJUFGY29kZSVFMiU5QyU5Mw=="
    )


@pytest.mark.parametrize("body_format", ["form", "json"])
def test_build_token_request_without_scope_sends_no_scope_field(body_format: str) -> None:
    for grant in (ClientCredentialsGrant(), RefreshTokenGrant(SecretStr(OLD_RT))):
        content = build_token_request(config(body_format=body_format), grant).content
        assert b"scope" not in content
        assert b"null" not in content
        assert b"None" not in content


def test_build_token_request_carries_the_configured_timeout() -> None:
    request = build_token_request(config(timeout_seconds=2.5), CC)
    assert request.extensions["timeout"] == {
        "connect": 2.5,
        "read": 2.5,
        "write": 2.5,
        "pool": 2.5,
    }


def test_config_from_base_url_appends_oauth_token() -> None:
    built = TokenEndpointConfig.from_base_url(
        "http://127.0.0.1:8123/v2/", client_id=CLIENT_ID, client_secret=SecretStr(SECRET)
    )
    assert built.token_url == "http://127.0.0.1:8123/v2/oauth/token"


def test_config_token_url_override_is_used_verbatim() -> None:
    request = build_token_request(config(token_url="https://auth.example.com/t/"), CC)
    assert str(request.url) == "https://auth.example.com/t"


@pytest.mark.parametrize(
    "url", ["http://api.telnyx.com/v2/oauth/token", "http://10.1.2.3/oauth/token", "nope"]
)
def test_config_insecure_token_url_raises_configuration_error_naming_it(url: str) -> None:
    with pytest.raises(ConfigurationError, match="token_url") as info:
        config(token_url=url)
    assert url in str(info.value)


def test_config_http_on_loopback_is_accepted() -> None:
    assert config(token_url="http://localhost:9/oauth/token").token_url.startswith("http://")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", ""),
        ("client_secret", SecretStr("")),
        ("auth_method", "private_key_jwt"),
        ("body_format", "xml"),
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("timeout_seconds", 0),
        ("backoff_base_seconds", -1),
        ("retry_after_cap_seconds", float("inf")),
    ],
)
def test_config_invalid_value_raises_configuration_error_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(ConfigurationError, match=field):
        config(**{field: value})


def test_config_and_grant_reprs_hide_every_secret() -> None:
    plain = TokenEndpointConfig(token_url=URL, client_id=CLIENT_ID, client_secret=SECRET)  # type: ignore[arg-type]
    for text in (repr(config()), str(config()), repr(plain), repr(RT), repr(AC)):
        for secret in (SECRET, OLD_RT, CODE, VERIFIER):
            assert secret not in text
    assert isinstance(plain.client_secret, SecretStr)


# --- parsing the answer --------------------------------------------------------------------------


def answer(
    status: int, body: object = None, *, content: bytes | None = None, **headers: str
) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    return httpx.Response(status, content=content, headers=headers)


def parse(response: httpx.Response, grant: Grant = CC, **overrides: object):  # type: ignore[no-untyped-def]
    return parse_token_response(response, config=config(**overrides), grant=grant, sent_at=T0)


def test_parse_token_response_expiry_counts_from_the_send_time() -> None:
    token = parse(answer(200, {"access_token": "AT-1", "token_type": "Bearer", "expires_in": 900}))
    assert token.access_token.get_secret_value() == "AT-1"
    assert token.issued_at == T0
    assert token.expires_at == T0 + timedelta(seconds=900)


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", "Bearer"])
def test_parse_token_response_token_type_is_case_insensitive_and_normalised(
    token_type: str,
) -> None:
    body = {"access_token": "AT-1", "token_type": token_type, "expires_in": 60}
    assert parse(answer(200, body)).token_type == "Bearer"


def test_parse_token_response_scope_falls_back_to_the_requested_one() -> None:
    body = {"access_token": "AT-1", "token_type": "Bearer", "expires_in": 60}
    assert parse(answer(200, body)).scope == "messaging numbers"
    assert parse(answer(200, body | {"scope": "messaging"})).scope == "messaging"
    assert parse(answer(200, body), AC).scope is None


def test_parse_token_response_refresh_without_new_refresh_token_keeps_the_old_one() -> None:
    body = {"access_token": "AT-2", "token_type": "Bearer", "expires_in": 60}
    kept = parse(answer(200, body), RT).refresh_token
    assert kept is not None
    assert kept.get_secret_value() == OLD_RT
    rotated = parse(answer(200, body | {"refresh_token": "RT-new-0123456789"}), RT).refresh_token
    assert rotated is not None
    assert rotated.get_secret_value() == "RT-new-0123456789"
    assert parse(answer(200, body), CC).refresh_token is None


@pytest.mark.parametrize(
    ("status", "error", "error_class", "next_step"),
    [
        (400, "invalid_request", InvalidRequestError, "check the grant parameters"),
        (400, "invalid_grant", InvalidGrantError, "may use the client_credentials grant"),
        (400, "invalid_scope", InvalidScopeError, "Request only scopes this client is allowed"),
        (400, "unsupported_grant_type", UnsupportedGrantTypeError, "Enable the client_credentials"),
        (401, "invalid_client", InvalidClientError, "Check client_id and client_secret"),
    ],
)
def test_parse_token_response_spec_error_raises_its_class_with_a_next_step(
    status: int, error: str, error_class: type[TokenRequestError], next_step: str
) -> None:
    with pytest.raises(error_class) as info:
        parse(answer(status, {"error": error, "error_description": "because"}))
    assert (info.value.status_code, info.value.error) == (status, error)
    assert info.value.error_description == "because"
    assert CLIENT_ID in str(info.value)
    assert next_step in str(info.value)


def test_parse_token_response_invalid_client_message_names_client_and_fix() -> None:
    with pytest.raises(InvalidClientError) as info:
        parse(answer(401, {"error": "invalid_client"}))
    assert str(info.value) == (
        "Telnyx rejected the client credentials for client id 'telnyx-client' (invalid_client). "
        "Check client_id and client_secret, or try token_endpoint_auth_method='client_secret_post'."
    )


@pytest.mark.parametrize(
    ("grant", "hint"), [(RT, "refresh token is expired"), (AC, "start the authorization again")]
)
def test_parse_token_response_invalid_grant_advice_depends_on_the_grant(
    grant: Grant, hint: str
) -> None:
    with pytest.raises(InvalidGrantError, match=hint):
        parse(answer(400, {"error": "invalid_grant"}), grant)


def test_parse_token_response_unknown_error_code_raises_plain_token_request_error() -> None:
    with pytest.raises(TokenRequestError) as info:
        parse(answer(403, {"error": "access_denied"}))
    assert type(info.value) is TokenRequestError
    assert (info.value.status_code, info.value.error) == (403, "access_denied")


def test_parse_token_response_error_description_is_truncated_and_our_secrets_masked() -> None:
    description = f"bad secret {SECRET} and code {CODE} " + "x" * 500
    with pytest.raises(InvalidGrantError) as info:
        parse(answer(400, {"error": "invalid_grant", "error_description": description}), AC)
    assert info.value.error_description is not None
    assert len(info.value.error_description) <= 200
    assert "bad secret *** and code ***" in str(info.value)


TOKEN = {"access_token": "AT-secret-value-123", "token_type": "Bearer", "expires_in": 3600}
MALFORMED_2XX: dict[str, httpx.Response] = {
    "plain text": answer(200, content=b"ok", **{"content-type": "text/plain"}),
    "html": answer(
        200, content=b"<html><body>Login</body></html>", **{"content-type": "text/html"}
    ),
    "empty": answer(200, content=b""),
    "invalid utf-8": answer(200, content=b'{"access_token": "\xff\xfe"}'),
    "deeply nested": answer(200, content=b"[" * 60000),
    "json list": answer(200, [TOKEN]),
    "json string": answer(200, "AT-secret-value-123"),
    "json null": answer(200, None),
    "no access_token": answer(200, {k: v for k, v in TOKEN.items() if k != "access_token"}),
    "empty access_token": answer(200, TOKEN | {"access_token": ""}),
    "numeric access_token": answer(200, TOKEN | {"access_token": 12345}),
    "access_token with space": answer(200, TOKEN | {"access_token": "AT-secret value-123"}),
    "access_token with newline": answer(200, TOKEN | {"access_token": "AT-secret\r\nX: 1"}),
    "no expires_in": answer(200, {k: v for k, v in TOKEN.items() if k != "expires_in"}),
    "string expires_in": answer(200, TOKEN | {"expires_in": "3600"}),
    "float expires_in": answer(200, TOKEN | {"expires_in": 3600.5}),
    "bool expires_in": answer(200, TOKEN | {"expires_in": True}),
    "zero expires_in": answer(200, TOKEN | {"expires_in": 0}),
    "negative expires_in": answer(200, TOKEN | {"expires_in": -60}),
    "absurd expires_in": answer(200, TOKEN | {"expires_in": 10 * 365 * 86400}),
    "mac token_type": answer(200, TOKEN | {"token_type": "mac"}),
    "numeric token_type": answer(200, TOKEN | {"token_type": 1}),
    "numeric scope": answer(200, TOKEN | {"scope": 7}),
    "object refresh_token": answer(200, TOKEN | {"refresh_token": {"v": "RT-1234567890"}}),
    "oversized body": answer(200, TOKEN | {"pad": "x" * MAX_BODY_BYTES}),
    "oversized content-length": answer(200, TOKEN, **{"content-length": str(10**9)}),
    "201 html": answer(201, content=b"<html/>", **{"content-type": "text/html"}),
}


@pytest.mark.parametrize("case", list(MALFORMED_2XX))
def test_parse_token_response_malformed_2xx_raises_token_response_error(
    case: str, secret_scan: SecretScan
) -> None:
    secret_scan.add_secret("AT-secret-value-123")
    response = MALFORMED_2XX[case]
    with pytest.raises(TokenResponseError) as info:
        parse(response)
    assert info.value.status_code == response.status_code
    assert f"answered {response.status_code}" in str(info.value)
    assert info.value.__cause__ is None


def test_parse_token_response_html_body_points_at_the_token_url() -> None:
    with pytest.raises(TokenResponseError, match="check base_url and token_url"):
        parse(MALFORMED_2XX["html"])


@pytest.mark.parametrize(
    "response",
    [
        answer(400, content=b"<html>Bad Request</html>", **{"content-type": "text/html"}),
        answer(401, content=b""),
        answer(404, {"errors": [{"code": "10005", "title": "Resource not found"}]}),
        answer(400, {"error": 42}),
        answer(400, {"error": ""}),
    ],
)
def test_parse_token_response_4xx_without_oauth_error_body_raises_token_response_error(
    response: httpx.Response,
) -> None:
    with pytest.raises(TokenResponseError) as info:
        parse(response)
    assert info.value.status_code == response.status_code
    assert f"answered {response.status_code}" in str(info.value)
    assert "without an OAuth error body" in str(info.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_parse_token_response_redirect_says_the_token_url_is_probably_wrong(status: int) -> None:
    response = answer(status, content=b"", location="https://telnyx.com/login?next=/oauth&x=1")
    with pytest.raises(TokenResponseError, match="token URL is probably wrong") as info:
        parse(response)
    assert info.value.status_code == status
    assert "https://telnyx.com/login" in str(info.value)
    assert "next=" not in str(info.value)


def test_parse_token_response_naive_send_time_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        parse_token_response(
            answer(200, TOKEN), config=config(), grant=CC, sent_at=datetime(2026, 1, 1)
        )


def test_body_buffer_stops_just_past_the_cap_and_the_parser_rejects_it() -> None:
    buffer = BodyBuffer()
    chunks = [b"x" * 1024] * 100
    read = 0
    for chunk in chunks:
        read += 1
        if buffer.feed(chunk):
            break
    assert read == MAX_BODY_BYTES // 1024 + 1
    streamed = httpx.Response(
        200, headers={"content-encoding": "gzip", "content-type": "application/json"}
    )
    rebuilt = buffer.response(streamed, build_token_request(config(), CC))
    assert "content-encoding" not in rebuilt.headers
    assert len(rebuilt.content) == MAX_BODY_BYTES + 1024
    with pytest.raises(TokenResponseError, match="over the 65536-byte limit"):
        parse(rebuilt)
