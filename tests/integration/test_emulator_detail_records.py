"""The emulator's `GET /detail_records` (Detail Record Search) over a real loopback socket: filters,
paging, sorting, the records of sent messages, 429s, and the official SDK's auto-pagination on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from telnyx import Telnyx

from telnyx_oauth.emulator import TelnyxEmulator

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
MESSAGING = {"filter[record_type]": "messaging", "sort": "created_at"}


@pytest.fixture
def http(emulator: TelnyxEmulator) -> Iterator[httpx.Client]:
    response = httpx.post(
        emulator.token_url,
        data={"grant_type": "client_credentials"},
        auth=(emulator.client_id, emulator.client_secret),
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    with httpx.Client(base_url=emulator.base_url, headers=headers) as client:
        yield client


def search(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get("/detail_records", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_detail_records_window_and_pages_cover_each_record_once(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.seed_detail_records(300, start_at=START, interval_seconds=60)
    window = {
        "filter[created_at][gte]": "2026-01-01T01:00:00Z",
        "filter[created_at][lt]": "2026-01-01T03:00:00Z",
    }
    pages = [
        search(http, **MESSAGING, **window, **{"page[number]": n, "page[size]": 50})
        for n in (1, 2, 3)
    ]
    ids = [r["uuid"] for page in pages for r in page["data"]]
    times = [r["created_at"] for page in pages for r in page["data"]]
    assert pages[0]["meta"] == {
        "page_number": 1,
        "page_size": 50,
        "total_pages": 3,
        "total_results": 120,
    }
    assert len(ids) == len(set(ids)) == 120
    assert times[0] == "2026-01-01T01:00:00.000Z"
    assert times[-1] == "2026-01-01T02:59:00.000Z"
    assert times == sorted(times)
    assert pages[0]["data"][0]["record_type"] == "message_detail_record"


def test_detail_records_are_deterministic_across_emulators(
    emulator_factory: Any,
) -> None:
    bodies = []
    for _ in range(2):
        other = emulator_factory()
        other.seed_detail_records(10, start_at=START)
        token = httpx.post(
            other.token_url,
            data={"grant_type": "client_credentials"},
            auth=(other.client_id, other.client_secret),
        ).json()["access_token"]
        response = httpx.get(
            f"{other.base_url}/detail_records",
            params=MESSAGING,
            headers={"Authorization": f"Bearer {token}"},
        )
        bodies.append(response.json()["data"])
    assert bodies[0] == bodies[1]
    assert {r["currency"] for r in bodies[0]} == {"USD", "EUR"}


def test_detail_records_sort_descending_by_default_and_on_request(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.seed_detail_records(5, start_at=START)
    default = search(http, **{"filter[record_type]": "messaging"})["data"]
    newest_first = search(http, **{"filter[record_type]": "messaging", "sort": "-created_at"})
    assert [r["created_at"] for r in default] == sorted(
        (r["created_at"] for r in default), reverse=True
    )
    assert newest_first["data"] == default


def test_detail_records_call_control_filters_by_started_at(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.seed_detail_records(
        30, record_type="call-control", start_at=START, interval_seconds=60
    )
    emulator.seed_detail_records(30, start_at=START)
    body = search(
        http,
        **{
            "filter[record_type]": "call-control",
            "filter[started_at][gte]": "2026-01-01T00:10:00Z",
            "filter[started_at][lt]": "2026-01-01T00:20:00Z",
            "sort": "started_at",
        },
    )
    assert body["meta"]["total_results"] == 10
    assert {r["record_type"] for r in body["data"]} == {"call_control_detail_record"}
    assert body["data"][0]["started_at"] == "2026-01-01T00:10:00.000Z"


def test_sent_message_appears_as_messaging_record(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    sent = http.post(
        "/messages", json={"from": "+15550100000", "to": "+15557654321", "text": "hi"}
    ).json()["data"]
    record = search(http, **MESSAGING)["data"][0]
    assert record["uuid"] == sent["id"]
    assert record["cld"] == "+15557654321"
    assert record["cost"] == "0.0040"
    assert record["created_at"].replace("Z", "+00:00")[:19] == sent["received_at"][:19]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "filter[record_type]"),
        ({"filter[record_type]": "fax-ish"}, "filter[record_type]"),
        ({**MESSAGING, "filter[created_at][gte]": "yesterday-ish"}, "filter[created_at][gte]"),
        ({**MESSAGING, "page[size]": "251"}, "page[size]"),
        ({**MESSAGING, "page[number]": "0"}, "page[number]"),
        ({"filter[record_type]": "messaging", "sort": "started_at"}, "sort"),
        ({**MESSAGING, "filter[nope]": "1"}, "filter[nope]"),
    ],
)
def test_detail_records_bad_query_answers_400_naming_the_parameter(
    http: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    response = http.get("/detail_records", params=params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "10015"
    assert error["source"] == {"parameter": parameter}


def test_detail_records_429_carries_retry_after(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.fail_next_api_requests(1, status=429, retry_after=3)
    limited = http.get("/detail_records", params=MESSAGING)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert http.get("/detail_records", params=MESSAGING).status_code == 200
    assert emulator.counters.api_requests_by_status == {429: 1, 200: 1}


def test_sdk_auto_pagination_reads_every_record(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.seed_detail_records(120, start_at=START)
    token = http.headers["Authorization"].split()[1]
    with Telnyx(api_key=token, base_url=emulator.base_url, max_retries=0) as sdk:
        pages = sdk.detail_records.list(
            filter={"record_type": "messaging"}, page_size=50, sort=["created_at"]
        )
        ids = [record.uuid for record in pages]
    assert len(ids) == len(set(ids)) == 120
    assert emulator.counters.api_requests_by_status == {200: 3}


def test_detail_records_latency_delays_the_answer_past_a_client_timeout(
    emulator: TelnyxEmulator, http: httpx.Client
) -> None:
    emulator.set_detail_records_latency(0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/detail_records", params=MESSAGING, timeout=0.1)
    emulator.set_detail_records_latency(0)
    assert http.get("/detail_records", params=MESSAGING, timeout=5).status_code == 200
