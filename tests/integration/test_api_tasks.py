"""The API tasks against the emulator on a loopback socket: data, errors, retries, idempotency."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow

from prefect_telnyx_oauth._api import call_telnyx, telnyx_request
from prefect_telnyx_oauth.account import get_balance
from prefect_telnyx_oauth.messaging import get_message, send_message
from prefect_telnyx_oauth.numbers import list_phone_numbers, lookup_number
from prefect_telnyx_oauth.sdk import aget_telnyx_sdk_client, get_telnyx_sdk_client
from telnyx_oauth._retry import RetryPolicy
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError, TelnyxAPIError
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401

pytestmark = pytest.mark.usefixtures("secret_scan")

SENDER = "+15551000000"
RECIPIENT = "+15557654321"


# -- data back -----------------------------------------------------------------------------------


def test_get_balance_with_block_returns_balance_record(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(balance="42.50")
    balance = get_balance.fn(make_block(emulator))
    assert balance["balance"] == "42.50"
    assert balance["currency"] == "USD"
    assert emulator.counters.api_requests == 1
    assert emulator.counters.token_requests == 1


def test_list_phone_numbers_many_pages_follows_total_pages(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(phone_numbers=25)
    numbers = list_phone_numbers.fn(make_block(emulator), page_size=10)
    assert len({record["phone_number"] for record in numbers}) == 25
    assert emulator.counters.api_requests == 3


def test_list_phone_numbers_max_pages_stops_early(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(phone_numbers=25)
    numbers = list_phone_numbers.fn(make_block(emulator), page_size=10, max_pages=2)
    assert len(numbers) == 20
    assert emulator.counters.api_requests == 2


def test_list_phone_numbers_limit_one_makes_one_request_of_one_number(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    # Issue 17: picking one sender must not walk every page (25 requests here, 2,000 on an
    # account with 2,000 numbers).
    emulator = emulator_factory(phone_numbers=25)
    numbers = list_phone_numbers.fn(make_block(emulator), limit=1)
    assert [record["phone_number"] for record in numbers] == ["+15550100000"]
    assert emulator.counters.api_requests == 1


def test_list_phone_numbers_limit_across_pages_stops_at_the_page_that_fills_it(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(phone_numbers=25)
    block = make_block(emulator)
    numbers = list_phone_numbers.fn(block, page_size=10, limit=12)
    assert emulator.counters.api_requests == 2
    assert numbers == list_phone_numbers.fn(block, page_size=10)[:12]


def test_list_phone_numbers_limit_below_one_raises_before_any_request(
    emulator: TelnyxEmulator,
) -> None:
    with pytest.raises(ConfigurationError, match=r"limit must be at least 1.*got 0"):
        list_phone_numbers.fn(make_block(emulator), limit=0)
    assert emulator.counters.api_requests == 0


def test_list_phone_numbers_filters_returns_only_matches(emulator: TelnyxEmulator) -> None:
    pending = list_phone_numbers.fn(make_block(emulator), filters={"status": "purchase-pending"})
    assert pending
    assert {record["status"] for record in pending} == {"purchase-pending"}


def test_list_phone_numbers_page_size_out_of_range_raises_before_any_request(
    emulator: TelnyxEmulator,
) -> None:
    with pytest.raises(ConfigurationError, match="page_size"):
        list_phone_numbers.fn(make_block(emulator), page_size=251)
    assert emulator.counters.api_requests == 0


def test_lookup_number_e164_returns_carrier_record(emulator: TelnyxEmulator) -> None:
    record = lookup_number.fn(make_block(emulator), "+15551234567")
    assert record["phone_number"] == "+15551234567"
    assert record["country_code"] == "US"
    assert record["carrier"]["name"]


def test_lookup_number_not_e164_raises_api_error_10016(emulator: TelnyxEmulator) -> None:
    with pytest.raises(TelnyxAPIError) as info:
        lookup_number.fn(make_block(emulator), "5551234567")
    assert info.value.status_code == 422
    assert [error.code for error in info.value.errors] == ["10016"]


def test_send_message_then_get_message_returns_the_same_record(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    sent = send_message.fn(block, RECIPIENT, "hello", from_=SENDER)
    fetched = get_message.fn(block, sent["id"])
    assert fetched["id"] == sent["id"]
    assert fetched["text"] == "hello"
    assert fetched["to"][0]["phone_number"] == RECIPIENT
    assert emulator.counters.messages_created == 1


def test_get_message_unknown_id_raises_api_error_404(emulator: TelnyxEmulator) -> None:
    with pytest.raises(TelnyxAPIError) as info:
        get_message.fn(make_block(emulator), "no-such/../id")
    assert info.value.status_code == 404
    assert info.value.errors[0].code == "10005"


def test_telnyx_request_get_returns_whole_body(emulator: TelnyxEmulator) -> None:
    body = telnyx_request.fn(
        make_block(emulator), "GET", "/phone_numbers", params={"page[size]": 5}
    )
    assert len(body["data"]) == 5
    assert body["meta"]["page_size"] == 5


def test_telnyx_request_absolute_url_raises_and_sends_nothing(emulator: TelnyxEmulator) -> None:
    with pytest.raises(ConfigurationError, match="relative"):
        telnyx_request.fn(make_block(emulator), "GET", "http://example.com/v2/balance")
    assert emulator.counters.api_requests == 0
    assert emulator.counters.token_requests == 0


# -- error paths ---------------------------------------------------------------------------------


def test_call_telnyx_revoked_token_refreshes_once_then_succeeds(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    get_balance.fn(block)
    emulator.revoke_all_tokens()
    assert get_balance.fn(block)["balance"] == "100.00"
    assert emulator.counters.token_requests == 2
    assert emulator.counters.api_requests_by_status == {200: 2, 401: 1}


def test_send_message_invalid_to_raises_api_error_with_telnyx_code(
    emulator: TelnyxEmulator,
) -> None:
    with pytest.raises(TelnyxAPIError) as info:
        send_message.fn(make_block(emulator), "555-1234", "hello", from_=SENDER)
    error = info.value
    assert error.status_code == 422
    assert [e.code for e in error.errors] == ["40310"]
    assert "40310" in str(error)
    assert emulator.counters.messages_created == 0
    assert emulator.counters.api_requests == 1  # a 422 is never retried


def test_send_message_empty_text_raises_api_error_10004(emulator: TelnyxEmulator) -> None:
    with pytest.raises(TelnyxAPIError) as info:
        send_message.fn(make_block(emulator), RECIPIENT, "", from_=SENDER)
    assert [e.code for e in info.value.errors] == ["10004"]


# -- idempotency ---------------------------------------------------------------------------------


def test_send_message_same_idempotency_key_twice_creates_one_message(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    first = send_message.fn(block, RECIPIENT, "once", from_=SENDER, idempotency_key="order-17")
    second = send_message.fn(block, RECIPIENT, "once", from_=SENDER, idempotency_key="order-17")
    assert first["id"] == second["id"]
    assert emulator.counters.messages_created == 1
    assert emulator.counters.api_requests_by_status == {200: 2}


def test_send_message_no_key_same_content_outside_flow_creates_one_message(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    first = send_message.fn(block, RECIPIENT, "derived", from_=SENDER)
    second = send_message.fn(block, RECIPIENT, "derived", from_=SENDER)
    third = send_message.fn(block, RECIPIENT, "other text", from_=SENDER)
    assert first["id"] == second["id"] != third["id"]
    assert emulator.counters.messages_created == 2


async def test_send_message_no_key_derives_key_per_flow_run(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)

    @flow
    async def notify() -> set[str]:
        # The same message twice in one run is one message (as a task retry would be).
        sent = [send_message(block, RECIPIENT, "deploy done", from_=SENDER) for _ in range(2)]
        return {message["id"] for message in sent}

    first_run = await notify()
    second_run = await notify()
    assert len(first_run) == 1
    assert len(second_run) == 1
    assert first_run != second_run
    assert emulator.counters.messages_created == 2


async def test_api_tasks_with_saved_block_name_in_flow_return_plain_data(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    await make_block(emulator).asave("api-tasks", overwrite=True)

    @flow
    async def pipeline() -> tuple[Any, ...]:
        return (
            get_balance("api-tasks"),
            send_message("api-tasks", RECIPIENT, "by name", from_=SENDER),
            list_phone_numbers("api-tasks", page_size=250),
        )

    balance, message, numbers = await pipeline()
    assert balance["balance"] == "100.00"
    assert message["text"] == "by name"
    assert len(numbers) == 25
    assert emulator.counters.token_requests == 1


# -- retries -------------------------------------------------------------------------------------


def test_call_telnyx_429_retries_after_advertised_wait(emulator: TelnyxEmulator) -> None:
    waits: list[float] = []
    emulator.fail_next_api_requests(1, status=429, retry_after=2)
    body = call_telnyx(make_block(emulator), "GET", "/balance", sleep=waits.append)
    assert body["data"]["balance"] == "100.00"
    assert waits == [2.0]
    assert emulator.counters.api_requests_by_status == {429: 1, 200: 1}


def test_get_balance_429_waits_at_least_retry_after_before_retrying(
    emulator: TelnyxEmulator,
) -> None:
    emulator.fail_next_api_requests(1, status=429, retry_after=1)
    started = time.monotonic()
    get_balance.fn(make_block(emulator))
    assert time.monotonic() - started >= 1.0
    assert emulator.counters.api_requests_by_status == {429: 1, 200: 1}


def test_call_telnyx_429_every_attempt_raises_with_retry_after(emulator: TelnyxEmulator) -> None:
    waits: list[float] = []
    emulator.fail_next_api_requests(5, status=429, retry_after=3)
    with pytest.raises(TelnyxAPIError) as info:
        call_telnyx(make_block(emulator), "GET", "/balance", sleep=waits.append)
    assert info.value.status_code == 429
    assert info.value.retry_after == 3.0
    assert info.value.errors[0].code == "10011"
    assert waits == [3.0, 3.0]
    assert emulator.counters.api_requests == 3


def test_call_telnyx_5xx_on_get_retries_with_backoff_then_succeeds(
    emulator: TelnyxEmulator,
) -> None:
    waits: list[float] = []
    emulator.fail_next_api_requests(2, status=503)
    body = call_telnyx(make_block(emulator), "GET", "/balance", sleep=waits.append)
    assert body["data"]["currency"] == "USD"
    assert len(waits) == 2
    assert emulator.counters.api_requests_by_status == {503: 2, 200: 1}


def test_telnyx_request_5xx_on_post_without_key_is_not_retried(emulator: TelnyxEmulator) -> None:
    emulator.fail_next_api_requests(1, status=503)
    payload = {"to": RECIPIENT, "from": SENDER, "text": "no key"}
    with pytest.raises(TelnyxAPIError) as info:
        telnyx_request.fn(make_block(emulator), "POST", "/messages", json=payload)
    assert info.value.status_code == 503
    assert "not retried" in str(info.value)
    assert emulator.counters.api_requests == 1
    assert emulator.counters.messages_created == 0


def test_send_message_5xx_is_retried_with_its_key_and_sends_once(emulator: TelnyxEmulator) -> None:
    emulator.fail_next_api_requests(1, status=502)
    message = send_message.fn(make_block(emulator), RECIPIENT, "retried", from_=SENDER)
    assert message["text"] == "retried"
    assert emulator.counters.api_requests_by_status == {502: 1, 200: 1}
    assert emulator.counters.messages_created == 1


def test_call_telnyx_retry_after_above_cap_raises_without_waiting(
    emulator: TelnyxEmulator,
) -> None:
    waits: list[float] = []
    emulator.fail_next_api_requests(1, status=429, retry_after=120)
    with pytest.raises(TelnyxAPIError, match="longer than the 60 s worth waiting"):
        call_telnyx(
            make_block(emulator),
            "GET",
            "/balance",
            sleep=waits.append,
            policy=RetryPolicy(retry_after_cap_seconds=60),
        )
    assert waits == []
    assert emulator.counters.api_requests == 1


# -- official SDK --------------------------------------------------------------------------------


def test_get_telnyx_sdk_client_balance_retrieve_uses_block_token(emulator: TelnyxEmulator) -> None:
    with get_telnyx_sdk_client(make_block(emulator)) as client:
        balance = client.balance.retrieve()
    assert balance.data is not None
    assert balance.data.balance == "100.00"
    assert emulator.counters.token_requests == 1
    assert emulator.counters.api_requests_by_status == {200: 1}


def test_get_telnyx_sdk_client_after_revocation_refreshes_once(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    with get_telnyx_sdk_client(block) as client:
        emulator.revoke_all_tokens()
        balance = client.balance.retrieve()
    assert balance.data is not None
    assert emulator.counters.token_requests == 2
    assert emulator.counters.api_requests_by_status == {401: 1, 200: 1}


def test_get_telnyx_sdk_client_ignores_telnyx_env_credentials(
    emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would run its own OAuth with these; ours must stay the only token source.
    monkeypatch.setenv("TELNYX_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", emulator.client_secret)
    with get_telnyx_sdk_client(make_block(emulator)) as client:
        client.balance.retrieve()
        client.balance.retrieve()
    assert emulator.counters.token_requests == 1


async def test_aget_telnyx_sdk_client_balance_retrieve_uses_block_token(
    emulator: TelnyxEmulator,
) -> None:
    async with await aget_telnyx_sdk_client(make_block(emulator)) as client:
        balance = await client.balance.retrieve()
    assert balance.data is not None
    assert balance.data.currency == "USD"
    assert emulator.counters.token_requests == 1


def test_get_telnyx_sdk_client_without_sdk_raises_import_error_naming_extra(
    emulator: TelnyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "telnyx", None)
    with pytest.raises(ImportError, match=re.escape('pip install "prefect-telnyx-oauth[sdk]"')):
        get_telnyx_sdk_client(make_block(emulator))
    assert emulator.counters.token_requests == 0
