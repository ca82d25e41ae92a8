"""The emulator's `basic_auth_decoding` knob, over a real socket with hand-built Basic headers.

The headers are built here, not by the client library, so these tests pin the server's side only:
which encodings of a client secret each decoding accepts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator

CLIENT_ID = "id with space+plus"
SECRET = "s3cret with space+plus%41:\u00e9"
SPACE_SECRET = "two words"

ENCODERS: dict[str, Callable[[str], str]] = {
    "raw": lambda part: part,
    "percent": lambda part: quote(part, safe=""),
    "form": quote_plus,
}


def basic_header(client_id: str, secret: str, encoding: str) -> dict[str, str]:
    encode = ENCODERS[encoding]
    pair = f"{encode(client_id)}:{encode(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def token_status(emulator: TelnyxEmulator, client_id: str, secret: str, encoding: str) -> int:
    answer = httpx.post(
        emulator.token_url,
        data={"grant_type": "client_credentials"},
        headers=basic_header(client_id, secret, encoding),
    )
    if answer.status_code == 401:
        assert answer.json()["error"] == "invalid_client"
    return answer.status_code


@pytest.mark.parametrize(
    ("decoding", "accepted"),
    [
        # No decoding: only the credentials as they are (a `%41` in the secret stays three bytes).
        ("raw", {"raw"}),
        # `+` stays `+`: the form encoding of a space is refused.
        ("unquote", {"percent"}),
        # RFC 6749 §2.3.1 form-decoding: a space may arrive as `+` or as `%20`.
        ("unquote_plus", {"percent", "form"}),
    ],
)
def test_basic_auth_decoding_accepts_exactly_its_encodings(
    emulator_factory: Callable[..., TelnyxEmulator], decoding: str, accepted: set[str]
) -> None:
    emulator = emulator_factory(basic_auth_decoding=decoding)
    emulator.add_client(CLIENT_ID, SECRET)

    statuses = {enc: token_status(emulator, CLIENT_ID, SECRET, enc) for enc in ENCODERS}

    assert statuses == {enc: 200 if enc in accepted else 401 for enc in ENCODERS}


def test_basic_auth_decoding_defaults_to_rfc_form_decoding(emulator: TelnyxEmulator) -> None:
    emulator.add_client(CLIENT_ID, SECRET)

    statuses = [token_status(emulator, CLIENT_ID, SECRET, enc) for enc in ("form", "percent")]

    assert emulator.counters.token_requests_by_status == {200: 2}
    assert statuses == [200, 200]


@pytest.mark.parametrize("decoding", ["unquote", "unquote_plus"])
def test_space_in_secret_sent_as_percent_20_is_accepted_by_both_decodings(
    emulator_factory: Callable[..., TelnyxEmulator], decoding: str
) -> None:
    # The fact the client's `quote(safe="")` encoder relies on: `%20` works on both kinds of
    # server.
    emulator = emulator_factory(basic_auth_decoding=decoding)
    emulator.add_client("space-client", SPACE_SECRET)

    assert quote(SPACE_SECRET, safe="") == "two%20words"
    assert token_status(emulator, "space-client", SPACE_SECRET, "percent") == 200


def test_space_in_secret_sent_as_plus_is_refused_by_unquote(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(basic_auth_decoding="unquote")
    emulator.add_client("space-client", SPACE_SECRET)

    assert quote_plus(SPACE_SECRET) == "two+words"
    assert token_status(emulator, "space-client", SPACE_SECRET, "form") == 401


def test_basic_auth_decoding_changes_at_run_time_by_method_and_admin_route(
    emulator: TelnyxEmulator,
) -> None:
    emulator.add_client("space-client", SPACE_SECRET)
    knobs_url = emulator.base_url.removesuffix("/v2") + "/_emulator/knobs"

    before = token_status(emulator, "space-client", SPACE_SECRET, "form")
    emulator.set_basic_auth_decoding("unquote")
    after_method = token_status(emulator, "space-client", SPACE_SECRET, "form")
    knobs = httpx.post(knobs_url, json={"basic_auth_decoding": "raw"}).json()
    after_route = token_status(emulator, "space-client", SPACE_SECRET, "raw")
    refused = httpx.post(knobs_url, json={"basic_auth_decoding": "plus"})

    assert (before, after_method, after_route) == (200, 401, 200)
    assert knobs["basic_auth_decoding"] == "raw"
    assert refused.status_code == 400
    assert "basic_auth_decoding must be 'raw', 'unquote' or 'unquote_plus'" in refused.text
    assert httpx.get(knobs_url).json()["basic_auth_decoding"] == "raw"


def test_basic_auth_decoding_refuses_an_unknown_mode_at_construction() -> None:
    with pytest.raises(ValueError, match="basic_auth_decoding must be"):
        TelnyxEmulator(basic_auth_decoding="plus")  # type: ignore[arg-type]
