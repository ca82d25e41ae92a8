"""The spec check the emulator and the tests share: it reads the OpenAPI spec shipped inside the
package (nothing outside the repository) and tells a conforming token answer from a broken one.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from telnyx_oauth.emulator._spec import spec_text, token_answer_problems

TOKEN = {"access_token": "a", "token_type": "Bearer", "expires_in": 60, "scope": "messaging"}
NO_STORE = {"content-type": "application/json", "cache-control": "no-store", "pragma": "no-cache"}
INVALID_CLIENT = {"content-type": "application/json", "www-authenticate": 'Basic realm="telnyx"'}


def problems(status: int, headers: dict[str, str], body: object) -> list[str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    # httpx.Headers: case-insensitive, as the check is given by both httpx and Starlette.
    return token_answer_problems(status, httpx.Headers(headers), raw)


def test_spec_is_package_data_describing_the_token_endpoint() -> None:
    spec = yaml.safe_load(spec_text())

    assert "/oauth/token" in spec["paths"]
    assert spec["components"]["schemas"]["TokenResponse"]["required"] == [
        "access_token",
        "token_type",
        "expires_in",
    ]


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, NO_STORE, TOKEN),
        (200, NO_STORE, {**TOKEN, "refresh_token": "r"}),
        (400, {"content-type": "application/json"}, {"error": "invalid_scope"}),
        (401, INVALID_CLIENT, {"error": "invalid_client", "error_description": "wrong"}),
        (503, {"content-type": "text/html"}, b"<html>503</html>"),
        (429, {"content-type": "text/html; charset=utf-8"}, b"<html>429</html>"),
    ],
)
def test_spec_check_accepts_conforming_answers(
    status: int, headers: dict[str, str], body: object
) -> None:
    assert problems(status, headers, body) == []


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, NO_STORE, {"access_token": "a", "expires_in": 60}, "'token_type' is a required"),
        (200, NO_STORE, {**TOKEN, "token_type": "bearer"}, "'bearer' is not one of ['Bearer']"),
        (200, NO_STORE, {**TOKEN, "expires_in": "60"}, "'60' is not of type 'integer'"),
        (200, {**NO_STORE, "cache-control": "max-age=60"}, TOKEN, "header cache-control"),
        (400, {"content-type": "application/json"}, {"message": "bad"}, "'error' is a required"),
        (401, {"content-type": "application/json"}, {"error": "x"}, "header www-authenticate"),
        (400, {"content-type": "text/html"}, b"<html>400</html>", "only a 429 or a 5xx"),
        (500, {"content-type": "text/plain"}, b"oops", "neither JSON nor HTML"),
    ],
)
def test_spec_check_names_what_a_broken_answer_gets_wrong(
    status: int, headers: dict[str, str], body: object, expected: str
) -> None:
    found = problems(status, headers, body)

    assert len(found) == 1
    assert expected in found[0]
