"""The emulator's Bearer-protected API routes over a real loopback socket: authentication
errors, balance, messages with idempotency, phone number pages and filters, number lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration._token_spec import SpecChecker

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MESSAGE = {"from": "+15550100000", "to": "+15557654321", "text": "Hello from the emulator"}


@pytest.fixture
def spec(emulator: TelnyxEmulator) -> Iterator[SpecChecker]:
    checker = SpecChecker()
    yield checker
    assert checker.checked >= emulator.counters.token_requests


def new_token(client: httpx.Client, emulator: TelnyxEmulator, **extra: str) -> str:
    data = {"grant_type": "client_credentials", **extra}
    response = client.post(
        emulator.token_url, data=data, auth=(emulator.client_id, emulator.client_secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def http(emulator: TelnyxEmulator, spec: SpecChecker) -> Iterator[httpx.Client]:
    """A client already carrying a valid bearer token."""
    with spec.client(base_url=emulator.base_url) as client:
        client.headers["Authorization"] = f"Bearer {new_token(client, emulator)}"
        yield client


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a Telnyx-style error answer and return its first error."""
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert errors, response.text
    first: dict[str, Any] = errors[0]
    assert first["code"] == code
    assert first["title"]
    assert first["detail"]
    return first


# authentication


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer", id="no-token"),
        pytest.param("Basic ZW11bGF0b3I6c2VjcmV0", id="basic"),
        pytest.param("Bearer not-a-token", id="unknown"),
    ],
)
def test_api_without_valid_bearer_returns_401_authentication_failed(
    http: httpx.Client, emulator: TelnyxEmulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    del http.headers["Authorization"]

    response = http.get("/balance", headers=headers)

    first = error(response, 401, "10009")
    assert first["title"] == "Authentication failed"
    assert response.json() == {"errors": [first]}
    assert emulator.counters.api_requests_by_status == {401: 1}


def test_api_with_expired_token_returns_401_saying_expired(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.advance_clock(3600)

    assert "expired" in error(http.get("/balance"), 401, "10009")["detail"]


def test_api_with_revoked_token_returns_401_saying_revoked(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.revoke_all_tokens()

    assert "revoked" in error(http.get("/phone_numbers"), 401, "10009")["detail"]


def test_api_token_from_any_registered_client_is_accepted(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.add_client("second", "second-secret")
    data = {"grant_type": "client_credentials"}
    issued = http.post("/oauth/token", data=data, auth=("second", "second-secret")).json()

    response = http.get("/balance", headers={"Authorization": f"Bearer {issued['access_token']}"})

    assert response.status_code == 200


# balance


def test_balance_returns_telnyx_shape(http: httpx.Client) -> None:
    response = http.get("/balance")

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "record_type": "balance",
            "balance": "100.00",
            "credit_limit": "0.00",
            "available_credit": "100.00",
            "currency": "USD",
            "pending": "0.00",
        }
    }


def test_balance_reports_the_constructor_balance(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker
) -> None:
    emulator = emulator_factory(balance="12.5")
    with spec.client(base_url=emulator.base_url) as client:
        headers = {"Authorization": f"Bearer {new_token(client, emulator)}"}
        data = client.get("/balance", headers=headers).json()["data"]

    assert (data["balance"], data["available_credit"]) == ("12.50", "12.50")


# messages


def test_send_message_returns_queued_outbound_message(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    response = http.post("/messages", json=MESSAGE)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["record_type"] == "message"
    assert UUID_RE.fullmatch(data["id"])
    assert data["direction"] == "outbound"
    assert data["type"] == "SMS"
    assert data["from"]["phone_number"] == MESSAGE["from"]
    assert data["to"] == [
        {
            "phone_number": MESSAGE["to"],
            "status": "queued",
            "carrier": data["to"][0]["carrier"],
            "line_type": "Wireless",
        }
    ]
    assert data["text"] == MESSAGE["text"]
    assert data["parts"] == 1
    assert data["encoding"] == "GSM-7"
    assert emulator.counters.messages_created == 1


def test_get_message_returns_the_sent_message(http: httpx.Client) -> None:
    sent = http.post("/messages", json=MESSAGE).json()["data"]

    response = http.get(f"/messages/{sent['id']}")

    assert response.status_code == 200
    assert response.json() == {"data": sent}


def test_get_unknown_message_returns_404_resource_not_found(http: httpx.Client) -> None:
    response = http.get("/messages/9d2b1c7e-1b2a-4c3d-8e9f-000000000000")

    assert error(response, 404, "10005")["title"] == "Resource not found"


def test_send_message_with_profile_and_no_from_uses_a_pool_number(http: httpx.Client) -> None:
    body = {"to": "+15557654321", "text": "pool", "messaging_profile_id": "profile-1"}

    data = http.post("/messages", json=body).json()["data"]

    assert data["from"]["phone_number"] == "+15550100000"
    assert data["messaging_profile_id"] == "profile-1"


def test_send_message_with_media_only_is_an_mms(http: httpx.Client) -> None:
    body = {"from": "+15550100000", "to": "+15557654321", "media_urls": ["https://e.x/a.png"]}

    data = http.post("/messages", json=body).json()["data"]

    assert data["type"] == "MMS"
    assert data["media"][0]["url"] == "https://e.x/a.png"


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("\u00e7\u20ac" * 36, "UCS-2", 2)],
)
def test_send_message_counts_parts_by_encoding(
    http: httpx.Client, text: str, encoding: str, parts: int
) -> None:
    data = http.post("/messages", json={**MESSAGE, "text": text}).json()["data"]

    assert (data["encoding"], data["parts"]) == (encoding, parts)


@pytest.mark.parametrize(
    ("change", "status", "code", "pointer"),
    [
        pytest.param({"to": None}, 422, "10004", "/to", id="to-missing"),
        pytest.param({"to": "5557654321"}, 422, "40310", "/to", id="to-not-e164"),
        pytest.param({"to": "+0123"}, 422, "40310", "/to", id="to-leading-zero"),
        pytest.param({"to": ["+15557654321", "+15557654322"]}, 422, "40310", "/to", id="to-two"),
        pytest.param({"from": "+1555-010"}, 422, "40305", "/from", id="from-not-e164"),
        pytest.param({"from": None}, 422, "10004", "/from", id="no-from-no-profile"),
        pytest.param({"text": ""}, 422, "10004", "/text", id="empty-text"),
        pytest.param({"text": 5}, 422, "10015", "/text", id="text-not-string"),
        pytest.param({"media_urls": "x"}, 422, "10015", "/media_urls", id="media-not-list"),
        pytest.param({"type": "FAX"}, 422, "10015", "/type", id="bad-type"),
    ],
)
def test_send_invalid_message_returns_422_with_pointer(
    http: httpx.Client,
    emulator: TelnyxEmulator,
    change: dict[str, Any],
    status: int,
    code: str,
    pointer: str,
) -> None:
    body = {k: v for k, v in {**MESSAGE, **change}.items() if v is not None}

    response = http.post("/messages", json=body)

    assert error(response, status, code)["source"] == {"pointer": pointer}
    assert emulator.counters.messages_created == 0


def test_send_message_reports_every_invalid_field_at_once(http: httpx.Client) -> None:
    response = http.post("/messages", json={"to": "nope", "text": ""})

    codes = {(e["code"], e["source"]["pointer"]) for e in response.json()["errors"]}
    assert response.status_code == 422
    assert codes == {("40310", "/to"), ("10004", "/from"), ("10004", "/text")}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
def test_send_message_with_non_object_body_returns_400_bad_request(
    http: httpx.Client, content: bytes
) -> None:
    response = http.post("/messages", content=content, headers={"Content-Type": "application/json"})

    error(response, 400, "10015")


def test_send_message_same_idempotency_key_and_body_replays_the_first_answer(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    content = json.dumps(MESSAGE).encode()
    headers = {"Idempotency-Key": "order-42:sms_1", "Content-Type": "application/json"}

    first = http.post("/messages", content=content, headers=headers)
    second = http.post("/messages", content=content, headers=headers)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert emulator.counters.messages_created == 1
    assert emulator.counters.api_requests_by_status == {200: 2}


def test_send_message_idempotency_key_is_shared_by_every_client_of_the_account(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    emulator.add_client("second", "second-secret")
    data = {"grant_type": "client_credentials"}
    other = http.post("/oauth/token", data=data, auth=("second", "second-secret")).json()
    content = json.dumps(MESSAGE).encode()
    headers = {"Idempotency-Key": "shared", "Content-Type": "application/json"}

    first = http.post("/messages", content=content, headers=headers)
    second = http.post(
        "/messages",
        content=content,
        headers={**headers, "Authorization": f"Bearer {other['access_token']}"},
    )

    assert second.json()["data"]["id"] == first.json()["data"]["id"]


def test_send_message_same_idempotency_key_other_body_returns_422(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = http.post("/messages", json=MESSAGE, headers=headers)

    conflict = http.post("/messages", json={**MESSAGE, "text": "different"}, headers=headers)
    reformatted = http.post(
        "/messages",
        content=json.dumps(MESSAGE, indent=2).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )

    assert first.status_code == 200
    assert error(conflict, 422, "10015")["source"] == {"header": "Idempotency-Key"}
    error(reformatted, 422, "10015")  # Telnyx compares bodies byte for byte
    assert emulator.counters.messages_created == 1


def test_send_message_failed_attempt_does_not_bind_the_idempotency_key(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    invalid = http.post("/messages", json={**MESSAGE, "to": "bad"}, headers=headers)

    fixed = http.post("/messages", json=MESSAGE, headers=headers)

    assert invalid.status_code == 422
    assert fixed.status_code == 200
    assert emulator.counters.messages_created == 1


def test_send_message_without_idempotency_key_creates_a_new_message_each_time(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    first = http.post("/messages", json=MESSAGE).json()["data"]["id"]
    second = http.post("/messages", json=MESSAGE).json()["data"]["id"]

    assert first != second
    assert emulator.counters.messages_created == 2


@pytest.mark.parametrize("key", [b"has space", b"x" * 256, "\u00e9".encode()])
def test_send_message_malformed_idempotency_key_returns_400(http: httpx.Client, key: bytes) -> None:
    response = http.post("/messages", json=MESSAGE, headers={"Idempotency-Key": key})

    assert error(response, 400, "10015")["source"] == {"header": "Idempotency-Key"}


# phone numbers


def test_list_phone_numbers_defaults_to_first_page_of_20(http: httpx.Client) -> None:
    body = http.get("/phone_numbers").json()

    assert body["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 2,
        "total_results": 25,
    }
    assert [n["phone_number"] for n in body["data"][:2]] == ["+15550100000", "+15550100001"]
    number = body["data"][0]
    assert number["record_type"] == "phone_number"
    assert number["status"] == "active"
    assert number["id"]


def test_list_phone_numbers_pages_cover_every_number_once(http: httpx.Client) -> None:
    pages = [
        http.get("/phone_numbers", params={"page[number]": n, "page[size]": 10}).json()
        for n in (1, 2, 3, 4)
    ]

    numbers = [item["phone_number"] for page in pages for item in page["data"]]
    assert len(numbers) == len(set(numbers)) == 25
    assert [len(p["data"]) for p in pages] == [10, 10, 5, 0]
    assert {p["meta"]["total_pages"] for p in pages} == {3}
    assert pages[3]["meta"]["page_number"] == 4


def test_list_phone_numbers_accepts_the_largest_page_size(http: httpx.Client) -> None:
    body = http.get("/phone_numbers", params={"page[size]": 250}).json()

    assert body["meta"]["total_pages"] == 1
    assert len(body["data"]) == 25


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page[size]", "251"),
        ("page[size]", "0"),
        ("page[size]", "ten"),
        ("page[size]", "-1"),
        ("page[number]", "0"),
        ("page[number]", "1.5"),
    ],
)
def test_list_phone_numbers_invalid_page_returns_400_naming_the_parameter(
    http: httpx.Client, name: str, value: str
) -> None:
    response = http.get("/phone_numbers", params={name: value})

    assert error(response, 400, "10015")["source"] == {"parameter": name}


def test_list_phone_numbers_count_follows_the_constructor(
    emulator_factory: Callable[..., TelnyxEmulator], spec: SpecChecker
) -> None:
    emulator = emulator_factory(phone_numbers=3)
    with spec.client(base_url=emulator.base_url) as client:
        headers = {"Authorization": f"Bearer {new_token(client, emulator)}"}
        body = client.get("/phone_numbers", headers=headers).json()

    assert body["meta"]["total_results"] == 3
    assert [n["phone_number"] for n in body["data"]] == [
        "+15550100000",
        "+15550100001",
        "+15550100002",
    ]


def test_list_phone_numbers_filters_by_phone_number_substring(http: httpx.Client) -> None:
    body = http.get("/phone_numbers", params={"filter[phone_number]": "010002"}).json()

    assert [n["phone_number"] for n in body["data"]] == [f"+155501000{i}" for i in range(20, 25)]
    assert body["meta"]["total_results"] == 5


def test_list_phone_numbers_filters_by_status(http: httpx.Client) -> None:
    pending = http.get("/phone_numbers", params={"filter[status]": "purchase-pending"}).json()
    active = http.get("/phone_numbers", params={"filter[status]": "active"}).json()

    assert [n["phone_number"] for n in pending["data"]] == ["+15550100009", "+15550100019"]
    assert active["meta"]["total_results"] == 23


def test_list_phone_numbers_filter_without_match_returns_empty_page(http: httpx.Client) -> None:
    body = http.get("/phone_numbers", params={"filter[phone_number]": "999999"}).json()

    assert body == {
        "data": [],
        "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0},
    }


# number lookup


def test_number_lookup_returns_carrier_data(http: httpx.Client) -> None:
    response = http.get("/number_lookup/+15550100003")

    data = response.json()["data"]
    assert response.status_code == 200
    assert data["record_type"] == "number_lookup"
    assert data["phone_number"] == "+15550100003"
    assert data["country_code"] == "US"
    assert data["national_format"] == "(555) 010-0003"
    assert data["carrier"]["name"]
    assert "caller_name" not in data
    assert http.get("/number_lookup/%2B15550100003").json() == response.json()


def test_number_lookup_caller_name_type_adds_caller_name(http: httpx.Client) -> None:
    data = http.get("/number_lookup/+447911123456", params={"type": "caller-name"}).json()["data"]

    assert data["caller_name"]["caller_name"]
    assert data["country_code"] == "GB"


@pytest.mark.parametrize("number", ["15550100003", "+1 555 010", "+0555", "abc"])
def test_number_lookup_invalid_number_returns_422(http: httpx.Client, number: str) -> None:
    response = http.get(f"/number_lookup/{number}")

    assert error(response, 422, "10016")["source"] == {"parameter": "phone_number"}


def test_number_lookup_unknown_type_returns_400(http: httpx.Client) -> None:
    response = http.get("/number_lookup/+15550100003", params={"type": "fraud"})

    assert error(response, 400, "10015")["source"] == {"parameter": "type"}


# headers and counters


def test_every_api_response_carries_ratelimit_headers(http: httpx.Client) -> None:
    sent = http.post("/messages", json=MESSAGE).json()["data"]
    responses = [
        http.get("/balance"),
        http.get("/balance", headers={"Authorization": "Bearer nope"}),
        http.get(f"/messages/{sent['id']}"),
        http.get("/messages/unknown"),
        http.post("/messages", json={}),
        http.post("/messages", content=b"{", headers={"Content-Type": "application/json"}),
        http.get("/phone_numbers"),
        http.get("/phone_numbers", params={"page[size]": "0"}),
        http.get("/number_lookup/+15550100003"),
        http.get("/number_lookup/123"),
        http.delete("/balance"),
    ]

    for response in responses:
        assert response.headers["x-ratelimit-limit"].isdigit(), response.url
        assert response.headers["x-ratelimit-remaining"].isdigit(), response.url
        assert response.headers["x-ratelimit-reset"].isdigit(), response.url


def test_api_counters_count_requests_by_status(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    http.get("/balance")
    http.post("/messages", json={})
    http.get("/messages/unknown")
    http.get("/balance", headers={"Authorization": "Bearer nope"})

    assert emulator.counters.api_requests == 4
    assert emulator.counters.api_requests_by_status == {200: 1, 422: 1, 404: 1, 401: 1}
    assert emulator.counters.token_requests == 1  # only the fixture's token


# the API failure knob over the admin route


def test_admin_api_failures_route_fails_the_next_api_requests(
    http: httpx.Client, emulator: TelnyxEmulator
) -> None:
    admin = emulator.base_url.removesuffix("/v2") + "/_emulator/api_failures"
    accepted = http.post(admin, json={"n": 1, "status": 429, "retry_after": 4})

    limited = http.get("/balance")
    after = http.get("/balance")

    assert accepted.status_code == 200
    assert error(limited, 429, "10011")
    assert limited.headers["retry-after"] == "4"
    assert after.status_code == 200


@pytest.mark.parametrize(
    "body", [{"n": "1"}, {"n": 1, "status": 200}, {"n": True}, {"n": 1, "retry_after": 1.5}, []]
)
def test_admin_api_failures_route_rejects_bad_values_with_400(
    http: httpx.Client, emulator: TelnyxEmulator, body: Any
) -> None:
    admin = emulator.base_url.removesuffix("/v2") + "/_emulator/api_failures"

    response = http.post(admin, json=body)

    assert response.status_code == 400
    assert http.get("/balance").status_code == 200
