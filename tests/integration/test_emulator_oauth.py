"""The emulator's OAuth routes over a real loopback socket: token grants, client authentication,
spec errors, PKCE, introspection, metadata, knobs and counters.

Every token answer goes through `SpecChecker`, which validates it against the packaged OpenAPI spec.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration._token_spec import SpecChecker

REDIRECT = "http://127.0.0.1/callback"
SPECIAL_SECRET = "p%41ss:w+rd with spaces \u00e9\u20ac"


@pytest.fixture
def http(emulator: TelnyxEmulator, spec: SpecChecker) -> Iterator[httpx.Client]:
    with spec.client(base_url=emulator.base_url) as client:
        yield client


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Basic header: each part form-urlencoded, then base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def token(
    http: httpx.Client, emulator: TelnyxEmulator, data: dict[str, str] | None = None
) -> httpx.Response:
    """POST a form to the token endpoint with the emulator's client in Basic."""
    data = {"grant_type": "client_credentials", **(data or {})}
    return http.post(
        "/oauth/token", data=data, headers=basic(emulator.client_id, emulator.client_secret)
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(http: httpx.Client, **overrides: str) -> httpx.Response:
    """GET /oauth/authorize with a valid PKCE request, without following the redirect."""
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "emulator-client",
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return http.get("/oauth/authorize", params={k: v for k, v in params.items() if v})


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


def get_code(http: httpx.Client, verifier: str, **overrides: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = redirect_params(
        authorize(http, code_challenge=challenge.rstrip(b"=").decode(), **overrides)
    )
    return params["code"]


def exchange(
    http: httpx.Client, code: str, verifier: str, redirect_uri: str = REDIRECT
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return http.post("/oauth/token", data=data, headers=basic("emulator-client", "emulator-secret"))


def api_status(http: httpx.Client, access_token: str) -> int:
    return http.get("/balance", headers={"Authorization": f"Bearer {access_token}"}).status_code


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]


# client_credentials and client authentication


def test_token_client_credentials_with_basic_returns_bearer_token(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    response = token(http, emulator)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "admin messaging numbers"
    assert "refresh_token" not in body
    assert emulator.issued_access_tokens() == [body["access_token"]]
    assert emulator.counters.tokens_issued == 1
    assert api_status(http, body["access_token"]) == 200


def test_token_client_credentials_with_json_body_credentials_returns_token(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
    }
    response = http.post("/oauth/token", json=body)

    assert response.status_code == 200
    assert api_status(http, response.json()["access_token"]) == 200


def test_token_client_credentials_with_form_body_credentials_returns_token(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
    }
    response = http.post("/oauth/token", data=data)

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["basic", "form", "json"])
def test_token_secret_with_reserved_and_non_ascii_chars_round_trips(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker, method: str
) -> None:
    special = emulator_factory(client_id="id:with+plus", client_secret=SPECIAL_SECRET)
    creds = {"client_id": "id:with+plus", "client_secret": SPECIAL_SECRET}
    with spec.client(base_url=special.base_url) as http:
        if method == "basic":
            headers = basic(**creds)
            response = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
            )
        elif method == "form":
            response = http.post("/oauth/token", data={"grant_type": "client_credentials", **creds})
        else:
            response = http.post("/oauth/token", json={"grant_type": "client_credentials", **creds})

    assert response.status_code == 200, response.text


def test_token_basic_without_form_encoding_of_special_secret_returns_invalid_client(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker
) -> None:
    # The RFC requires the urlencoding, so a raw '%41' is read as 'A' and '+' as a space.
    special = emulator_factory(client_secret=SPECIAL_SECRET)
    raw = base64.b64encode(f"emulator-client:{SPECIAL_SECRET}".encode()).decode()
    with spec.client(base_url=special.base_url) as http:
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {raw}"},
        )

    assert_oauth_error(response, 401, "invalid_client")


def test_token_basic_and_body_secret_together_returns_invalid_client(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    data = {"client_id": emulator.client_id, "client_secret": emulator.client_secret}

    assert_oauth_error(token(http, emulator, data), 401, "invalid_client")


def test_token_body_client_id_differing_from_basic_returns_invalid_client(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    assert_oauth_error(token(http, emulator, {"client_id": "someone-else"}), 401, "invalid_client")


def test_token_body_client_id_equal_to_basic_is_accepted(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    assert token(http, emulator, {"client_id": emulator.client_id}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        pytest.param({}, {}, id="no-credentials"),
        pytest.param({}, {"client_id": "emulator-client"}, id="id-without-secret"),
        pytest.param(basic("emulator-client", "wrong"), {}, id="wrong-secret-basic"),
        pytest.param({}, {"client_id": "emulator-client", "client_secret": "x"}, id="wrong-post"),
        pytest.param(basic("nobody", "emulator-secret"), {}, id="unknown-client"),
        pytest.param({"Authorization": "Basic !!!"}, {}, id="malformed-base64"),
        pytest.param({"Authorization": "Basic ZW11bGF0b3I="}, {}, id="no-colon"),
        pytest.param({"Authorization": "Bearer abc"}, {}, id="bearer-is-not-client-auth"),
    ],
)
def test_token_bad_client_authentication_returns_invalid_client(
    http: httpx.Client, headers: dict[str, str], data: dict[str, str]
) -> None:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials", **data}, headers=headers
    )

    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="telnyx"'


def test_token_missing_grant_type_returns_invalid_request(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    response = http.post(
        "/oauth/token", data={}, headers=basic("emulator-client", "emulator-secret")
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert emulator.counters.token_requests_by_grant == {"missing": 1}


def test_token_unknown_grant_type_returns_unsupported_grant_type(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    response = token(http, emulator, {"grant_type": "password"})

    assert_oauth_error(response, 400, "unsupported_grant_type")
    assert emulator.counters.token_requests_by_grant == {"password": 1}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="bad-json"),
        pytest.param(b'["grant_type"]', "application/json", id="json-array"),
        pytest.param(b'{"grant_type": 1}', "application/json", id="json-non-string"),
        pytest.param(b"grant_type=client_credentials", "text/plain", id="wrong-content-type"),
        pytest.param(b"grant_type=client_credentials", None, id="no-content-type"),
        pytest.param(b"grant_type=a&grant_type=b", "application/x-www-form-urlencoded", id="dup"),
        pytest.param(b"grant_type=\xff", "application/x-www-form-urlencoded", id="not-utf8"),
    ],
)
def test_token_malformed_body_returns_invalid_request(
    http: httpx.Client, content: bytes, content_type: str | None
) -> None:
    headers = basic("emulator-client", "emulator-secret")
    if content_type:
        headers["Content-Type"] = content_type
    response = http.post("/oauth/token", content=content, headers=headers)

    assert_oauth_error(response, 400, "invalid_request")


def test_token_requested_scope_subset_is_granted(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    response = token(http, emulator, {"scope": "messaging  numbers messaging"})

    assert response.json()["scope"] == "messaging numbers"


def test_token_scope_outside_allowed_returns_invalid_scope(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    assert_oauth_error(token(http, emulator, {"scope": "admin billing"}), 400, "invalid_scope")


def test_token_added_client_defaults_to_its_own_allowed_scopes(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.add_client("reader", "reader-secret", ["numbers"])
    data = {"grant_type": "client_credentials"}

    response = http.post("/oauth/token", data=data, headers=basic("reader", "reader-secret"))
    denied = http.post(
        "/oauth/token", data={**data, "scope": "admin"}, headers=basic("reader", "reader-secret")
    )

    assert response.json()["scope"] == "numbers"
    assert_oauth_error(denied, 400, "invalid_scope")


def test_token_refresh_on_client_credentials_knob_returns_refresh_token(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    before = token(http, emulator).json()
    emulator.set_refresh_token_on_client_credentials(True)
    after = token(http, emulator).json()

    assert "refresh_token" not in before
    assert emulator.issued_refresh_tokens() == [after["refresh_token"]]


# refresh_token


def refresh(http: httpx.Client, refresh_token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return http.post("/oauth/token", data=data, headers=basic("emulator-client", "emulator-secret"))


@pytest.fixture
def first_refresh_token(http: httpx.Client, emulator: TelnyxEmulator) -> str:
    emulator.set_refresh_token_on_client_credentials(True)
    return str(token(http, emulator).json()["refresh_token"])


def test_refresh_without_rotation_keeps_the_refresh_token_working(
    http: httpx.Client, emulator: TelnyxEmulator, first_refresh_token: str
) -> None:
    first = refresh(http, first_refresh_token)
    second = refresh(http, first_refresh_token)

    assert first.status_code == second.status_code == 200
    assert first.json()["refresh_token"] == second.json()["refresh_token"] == first_refresh_token
    assert first.json()["access_token"] != second.json()["access_token"]
    assert emulator.counters.token_requests_by_grant == {
        "client_credentials": 1,
        "refresh_token": 2,
    }


def test_refresh_with_rotation_returns_new_token_and_retires_the_old_one(
    http: httpx.Client, emulator: TelnyxEmulator, first_refresh_token: str
) -> None:
    emulator.set_rotation(True)

    rotated = refresh(http, first_refresh_token)
    reused = refresh(http, first_refresh_token)
    next_one = refresh(http, rotated.json()["refresh_token"])

    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != first_refresh_token
    assert_oauth_error(reused, 400, "invalid_grant")
    assert next_one.status_code == 200


def test_refresh_with_rotation_under_concurrency_succeeds_exactly_once(
    emulator: TelnyxEmulator, spec: SpecChecker, first_refresh_token: str
) -> None:
    emulator.set_rotation(True)
    statuses: list[int] = []

    def worker() -> None:
        with spec.client(base_url=emulator.base_url) as client:
            statuses.append(refresh(client, first_refresh_token).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [400] * 7


def test_refresh_unknown_token_returns_invalid_grant(http: httpx.Client) -> None:
    assert_oauth_error(refresh(http, "not-a-token"), 400, "invalid_grant")


def test_refresh_missing_token_returns_invalid_request(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    assert_oauth_error(
        token(http, emulator, {"grant_type": "refresh_token"}), 400, "invalid_request"
    )


def test_refresh_token_of_another_client_returns_invalid_grant(
    http: httpx.Client, emulator: TelnyxEmulator, first_refresh_token: str
) -> None:
    emulator.add_client("other", "other-secret")
    data = {"grant_type": "refresh_token", "refresh_token": first_refresh_token}

    response = http.post("/oauth/token", data=data, headers=basic("other", "other-secret"))

    assert_oauth_error(response, 400, "invalid_grant")


def test_refresh_after_revoke_all_tokens_returns_invalid_grant(
    http: httpx.Client, emulator: TelnyxEmulator, first_refresh_token: str
) -> None:
    access = emulator.issued_access_tokens()[0]
    emulator.revoke_all_tokens()

    assert_oauth_error(refresh(http, first_refresh_token), 400, "invalid_grant")
    assert api_status(http, access) == 401


def test_refresh_expired_token_returns_invalid_grant(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker
) -> None:
    emulator = emulator_factory(
        refresh_token_on_client_credentials=True, refresh_token_ttl_seconds=100
    )
    with spec.client(base_url=emulator.base_url) as http:
        refresh_token = token(http, emulator).json()["refresh_token"]
        emulator.advance_clock(101)

        assert_oauth_error(refresh(http, refresh_token), 400, "invalid_grant")


def test_refresh_with_narrower_scope_grants_it_and_keeps_the_original(
    http: httpx.Client, emulator: TelnyxEmulator, first_refresh_token: str
) -> None:
    narrowed = refresh(http, first_refresh_token, scope="numbers")
    full = refresh(http, first_refresh_token)

    assert narrowed.json()["scope"] == "numbers"
    assert full.json()["scope"] == "admin messaging numbers"


def test_refresh_with_wider_scope_returns_invalid_scope(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.set_refresh_token_on_client_credentials(True)
    narrow = token(http, emulator, {"scope": "numbers"}).json()["refresh_token"]

    assert_oauth_error(refresh(http, narrow, scope="numbers admin"), 400, "invalid_scope")


# authorize and authorization_code with PKCE


def test_authorize_redirects_to_the_redirect_uri_with_code_and_state(http: httpx.Client) -> None:
    response = authorize(http, scope="messaging")

    params = redirect_params(response)
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert params["state"] == "st-123"
    assert params["code"]


def test_authorize_loopback_redirect_uri_matches_on_any_port(http: httpx.Client) -> None:
    response = authorize(http, redirect_uri="http://127.0.0.1:49152/callback")

    assert response.headers["location"].startswith("http://127.0.0.1:49152/callback?code=")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"client_id": "nobody"}, id="unknown-client"),
        pytest.param({"redirect_uri": "https://evil.example/callback"}, id="unregistered-uri"),
        pytest.param({"redirect_uri": "http://127.0.0.1/other"}, id="other-path"),
        pytest.param({"redirect_uri": ""}, id="missing-uri"),
    ],
)
def test_authorize_bad_client_or_redirect_uri_returns_400_without_redirect(
    http: httpx.Client, overrides: dict[str, str]
) -> None:
    response = authorize(http, **overrides)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"code_challenge": ""}, "invalid_request", id="no-challenge"),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain"),
        pytest.param({"code_challenge_method": ""}, "invalid_request", id="no-method"),
        pytest.param({"code_challenge": "short"}, "invalid_request", id="malformed-challenge"),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"scope": "admin billing"}, "invalid_scope", id="scope"),
    ],
)
def test_authorize_bad_request_redirects_with_error_and_state(
    http: httpx.Client, overrides: dict[str, str], error: str
) -> None:
    params = redirect_params(authorize(http, **overrides))

    assert params["error"] == error
    assert params["state"] == "st-123"
    assert "code" not in params


def test_authorization_code_exchange_returns_access_and_refresh_tokens(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    verifier, _ = pkce()
    code = get_code(http, verifier, scope="messaging")

    response = exchange(http, code, verifier)

    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "messaging"
    assert body["refresh_token"] in emulator.issued_refresh_tokens()
    assert api_status(http, body["access_token"]) == 200
    assert refresh(http, body["refresh_token"]).status_code == 200


def test_authorization_code_second_use_returns_invalid_grant_and_revokes_first_tokens(
    http: httpx.Client,
) -> None:
    verifier, _ = pkce()
    code = get_code(http, verifier)
    first = exchange(http, code, verifier).json()

    second = exchange(http, code, verifier)

    assert_oauth_error(second, 400, "invalid_grant")
    assert api_status(http, first["access_token"]) == 401
    assert_oauth_error(refresh(http, first["refresh_token"]), 400, "invalid_grant")


def test_authorization_code_with_other_redirect_uri_returns_invalid_grant(
    http: httpx.Client,
) -> None:
    verifier, _ = pkce()
    code = get_code(http, verifier)

    mismatch = exchange(http, code, verifier, redirect_uri="http://127.0.0.1:8080/callback")
    matching = exchange(http, code, verifier)

    assert_oauth_error(mismatch, 400, "invalid_grant")
    assert matching.status_code == 200  # a failed attempt does not use the code up


def test_authorization_code_with_wrong_verifier_returns_invalid_grant(http: httpx.Client) -> None:
    verifier, _ = pkce()
    code = get_code(http, verifier)
    other_verifier, _ = pkce()

    assert_oauth_error(exchange(http, code, other_verifier), 400, "invalid_grant")


def test_authorization_code_after_ten_minutes_returns_invalid_grant(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    verifier, _ = pkce()
    code = get_code(http, verifier)
    emulator.advance_clock(601)

    assert_oauth_error(exchange(http, code, verifier), 400, "invalid_grant")


def test_authorization_code_of_another_client_returns_invalid_grant(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.add_client("other", "other-secret")
    verifier, _ = pkce()
    code = get_code(http, verifier)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }

    response = http.post("/oauth/token", data=data, headers=basic("other", "other-secret"))

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "code_verifier"])
def test_authorization_code_missing_parameter_returns_invalid_request(
    http: httpx.Client, missing: str
) -> None:
    verifier, _ = pkce()
    data = {
        "grant_type": "authorization_code",
        "code": get_code(http, verifier),
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    del data[missing]

    response = http.post(
        "/oauth/token", data=data, headers=basic("emulator-client", "emulator-secret")
    )

    assert_oauth_error(response, 400, "invalid_request")


def test_authorization_code_unknown_code_returns_invalid_grant(http: httpx.Client) -> None:
    verifier, _ = pkce()

    assert_oauth_error(exchange(http, "no-such-code", verifier), 400, "invalid_grant")


# introspection and metadata


def introspect(http: httpx.Client, value: str, **headers: str) -> httpx.Response:
    auth = headers or basic("emulator-client", "emulator-secret")
    return http.post("/oauth/introspect", data={"token": value}, headers=auth)


def test_introspect_live_token_returns_active_with_claims(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    access = token(http, emulator, {"scope": "numbers"}).json()["access_token"]

    body = introspect(http, access).json()

    assert body["active"] is True
    assert body["client_id"] == emulator.client_id
    assert body["scope"] == "numbers"
    assert body["token_type"] == "Bearer"
    assert body["exp"] >= int(time.time()) + 3500


def test_introspect_unknown_or_revoked_token_returns_inactive(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    access = token(http, emulator).json()["access_token"]
    emulator.revoke_all_tokens()

    assert introspect(http, access).json() == {"active": False}
    assert introspect(http, "nope").json() == {"active": False}


def test_introspect_without_client_authentication_returns_invalid_client(
    http: httpx.Client,
) -> None:
    response = http.post("/oauth/introspect", data={"token": "x"})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_introspect_without_token_returns_invalid_request(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/introspect", data={}, headers=basic("emulator-client", "emulator-secret")
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server",
        "/v2/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/v2",
    ],
)
def test_metadata_lists_endpoints_methods_and_pkce(
    http: httpx.Client, emulator: TelnyxEmulator, path: str
) -> None:
    origin = emulator.base_url.removesuffix("/v2")

    body = http.get(origin + path).json()

    assert body["issuer"] == origin
    assert body["token_endpoint"] == emulator.token_url
    assert body["authorization_endpoint"] == emulator.base_url + "/oauth/authorize"
    assert body["introspection_endpoint"] == emulator.base_url + "/oauth/introspect"
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["response_types_supported"] == ["code"]
    assert set(body["grant_types_supported"]) == {
        "client_credentials",
        "authorization_code",
        "refresh_token",
    }


# knobs


def test_fail_next_token_requests_returns_html_errors_then_recovers(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.fail_next_token_requests(2, status=502)

    responses = [token(http, emulator) for _ in range(3)]

    assert [r.status_code for r in responses] == [502, 502, 200]
    assert responses[0].headers["content-type"].startswith("text/html")
    assert responses[0].text.startswith("<html>")
    assert responses[0].text.rstrip().endswith("</html>")
    assert emulator.counters.token_requests_by_status == {502: 2, 200: 1}


def test_fail_next_token_requests_defaults_to_503(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.fail_next_token_requests(1)

    assert token(http, emulator).status_code == 503


def test_injected_failure_is_consumed_before_client_authentication(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.fail_next_token_requests(1)

    failed = http.post("/oauth/token", data={"grant_type": "client_credentials"})
    after = http.post("/oauth/token", data={"grant_type": "client_credentials"})

    assert failed.status_code == 503
    assert after.status_code == 401


def test_rate_limit_next_token_requests_returns_429_with_retry_after(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.rate_limit_next_token_requests(1, retry_after=7)

    limited = token(http, emulator)
    after = token(http, emulator)

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-reset"] == "7"
    assert limited.json()["error"] == "rate_limit_exceeded"
    assert limited.json()["errors"][0]["code"] == "10011"
    assert after.status_code == 200
    assert emulator.counters.token_requests_by_status == {429: 1, 200: 1}


def test_rate_limit_with_html_body_returns_html_429(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.rate_limit_next_token_requests(1, retry_after=2, body="html")

    limited = token(http, emulator)

    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert limited.headers["retry-after"] == "2"


def test_token_latency_delays_token_requests_but_not_api_requests(
    http: httpx.Client, emulator: TelnyxEmulator, spec: SpecChecker
) -> None:
    access = token(http, emulator).json()["access_token"]
    emulator.set_token_latency(1.0)
    slow: list[httpx.Response] = []

    def slow_token() -> None:
        with spec.client(base_url=emulator.base_url) as client:
            slow.append(token(client, emulator))

    started = time.monotonic()
    thread = threading.Thread(target=slow_token)
    thread.start()
    while emulator.counters.token_requests < 2:
        time.sleep(0.01)
    balance_status = api_status(http, access)
    token_still_pending = thread.is_alive()
    thread.join()

    assert balance_status == 200
    assert token_still_pending
    assert slow[0].status_code == 200
    assert time.monotonic() - started >= 1.0


def test_token_ttl_zero_issues_tokens_the_api_rejects(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.set_token_ttl(0)

    body = token(http, emulator).json()

    assert body["expires_in"] == 0
    assert api_status(http, body["access_token"]) == 401


def test_token_ttl_expires_tokens_when_the_clock_passes_it(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.set_token_ttl(30)
    access = token(http, emulator).json()["access_token"]
    before = api_status(http, access)
    emulator.advance_clock(30)

    assert before == 200
    assert api_status(http, access) == 401


def test_constructor_knobs_apply_from_the_first_request(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker
) -> None:
    emulator = emulator_factory(
        token_ttl_seconds=90.9, rotate_refresh_tokens=True, refresh_token_on_client_credentials=True
    )
    with spec.client(base_url=emulator.base_url) as http:
        first = token(http, emulator).json()
        rotated = refresh(http, first["refresh_token"]).json()

    assert first["expires_in"] == 90
    assert rotated["refresh_token"] != first["refresh_token"]


def test_knob_with_impossible_value_raises_value_error(emulator: TelnyxEmulator) -> None:
    with pytest.raises(ValueError, match="fail_status"):
        emulator.fail_next_token_requests(1, status=200)
    with pytest.raises(ValueError, match="token_ttl_seconds"):
        emulator.set_token_ttl(-1)


# counters


def test_counters_count_by_grant_status_and_arrival_time(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    before = time.monotonic()
    token(http, emulator)
    token(http, emulator, {"scope": "nope"})
    http.post("/oauth/token", content=b"{", headers={"Content-Type": "application/json"})
    access = emulator.issued_access_tokens()[0]
    api_status(http, access)
    api_status(http, "bad")

    counters = emulator.counters
    assert counters.token_requests == 3
    assert counters.token_requests_by_grant == {"client_credentials": 2, "missing": 1}
    assert counters.token_requests_by_status == {200: 1, 400: 2}
    times = counters.token_request_times
    assert len(times) == 3
    assert before <= times[0] <= times[1] <= times[2] <= time.monotonic()
    assert counters.api_requests == 2
    assert counters.api_requests_by_status == {200: 1, 401: 1}
    assert counters.tokens_issued == 1


def test_counters_reads_are_copies_and_snapshots_are_detached(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    token(http, emulator)
    snapshot = emulator.counters.snapshot()
    emulator.counters.token_requests_by_status[200] = 99
    emulator.counters.token_request_times.clear()
    token(http, emulator)

    assert emulator.counters.token_requests_by_status == {200: 2}
    assert len(emulator.counters.token_request_times) == 2
    assert snapshot.token_requests == 1
    assert snapshot.tokens_issued == 1


def test_reset_counters_zeroes_counters_but_keeps_tokens(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    access = token(http, emulator).json()["access_token"]
    api_status(http, access)

    emulator.reset_counters()

    counters = emulator.counters
    assert counters.token_requests == counters.api_requests == counters.tokens_issued == 0
    assert counters.token_requests_by_grant == counters.token_requests_by_status == {}
    assert counters.token_request_times == []
    assert emulator.issued_access_tokens() == [access]
    assert api_status(http, access) == 200


# rate-limit headers and admin routes


def test_every_response_carries_ratelimit_headers(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.fail_next_token_requests(1)
    failed = token(http, emulator)
    emulator.rate_limit_next_token_requests(1)
    limited = token(http, emulator)
    origin = emulator.base_url.removesuffix("/v2")
    responses = [
        failed,
        limited,
        token(http, emulator),
        token(http, emulator, {"grant_type": "nope"}),
        http.post("/oauth/token", data={"grant_type": "client_credentials"}),
        authorize(http),
        authorize(http, client_id="nobody"),
        introspect(http, "x"),
        http.get(origin + "/.well-known/oauth-authorization-server"),
        http.get("/no/such/route"),
        http.get("/oauth/token"),
        http.get(origin + "/_emulator/counters"),
    ]

    for response in responses:
        assert int(response.headers["x-ratelimit-limit"]) > 0, response.url
        assert int(response.headers["x-ratelimit-remaining"]) >= 0, response.url
        assert int(response.headers["x-ratelimit-reset"]) >= 0, response.url


def test_ratelimit_remaining_decreases_with_each_request(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    first = token(http, emulator)
    second = token(http, emulator)

    assert int(second.headers["x-ratelimit-remaining"]) < int(
        first.headers["x-ratelimit-remaining"]
    )


def admin(http: httpx.Client, path: str, body: Any = None) -> httpx.Response:
    url = str(http.base_url).removesuffix("/v2/") + "/_emulator" + path
    return http.post(url, json=body) if body is not None else http.get(url)


def test_admin_knobs_route_changes_knobs_at_run_time(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    changed = admin(http, "/knobs", {"fail_next_token_requests": 1, "rotate_refresh_tokens": True})

    assert changed.status_code == 200
    assert changed.json()["rotate_refresh_tokens"] is True
    assert token(http, emulator).status_code == 503
    assert admin(http, "/knobs").json()["fail_next_token_requests"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"no_such_knob": 1},
        {"fail_next_token_requests": True},
        {"fail_status": 200},
        {"token_ttl_seconds": "1"},
        [1, 2],
    ],
)
def test_admin_knobs_route_rejects_bad_knobs_with_400(http: httpx.Client, body: Any) -> None:
    response = admin(http, "/knobs", body)

    assert response.status_code == 400
    assert admin(http, "/knobs").json()["fail_status"] == 503


def test_admin_routes_revoke_count_add_clients_and_advance_the_clock(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    access = token(http, emulator).json()["access_token"]
    counters = admin(http, "/counters").json()
    revoked = admin(http, "/revoke", {})
    added = admin(http, "/clients", {"client_id": "cli", "client_secret": "cli-secret"})
    data = {"grant_type": "client_credentials"}
    new_token = http.post("/oauth/token", data=data, headers=basic("cli", "cli-secret"))
    advanced = admin(http, "/clock/advance", {"seconds": 3600})
    reset = admin(http, "/counters/reset", {})

    assert counters["token_requests_by_status"] == {"200": 1}
    assert revoked.status_code == 200
    assert api_status(http, access) == 401
    assert added.status_code == 201
    assert new_token.status_code == 200
    assert advanced.status_code == 200
    assert api_status(http, new_token.json()["access_token"]) == 401  # expired by the clock
    assert reset.json()["token_requests"] == 0
