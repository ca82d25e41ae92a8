"""The emulator's `fail_next_api_requests` knob: the fault answers tests of retry logic rely on."""

from __future__ import annotations

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator


def test_fail_next_api_requests_429_answers_telnyx_body_then_recovers(
    emulator: TelnyxEmulator,
) -> None:
    emulator.fail_next_api_requests(1, status=429, retry_after=2)
    with httpx.Client(base_url=emulator.base_url) as client:
        limited = client.get("/balance")
        after = client.get("/balance")  # no token: the guard answers again
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.headers["x-ratelimit-reset"] == "2"
    assert limited.json()["errors"][0]["code"] == "10011"
    assert after.status_code == 401
    assert emulator.counters.api_requests_by_status == {429: 1, 401: 1}


def test_fail_next_api_requests_5xx_answers_html_without_retry_after(
    emulator: TelnyxEmulator,
) -> None:
    emulator.fail_next_api_requests(2, status=502)
    with httpx.Client(base_url=emulator.base_url) as client:
        answers = [client.post("/messages", json={}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [502, 502, 401]
    assert answers[0].headers["content-type"].startswith("text/html")
    assert "retry-after" not in answers[0].headers
    assert emulator.counters.messages_created == 0


def test_fail_next_api_requests_not_an_error_status_raises(emulator: TelnyxEmulator) -> None:
    with pytest.raises(ValueError, match="400-599"):
        emulator.fail_next_api_requests(1, status=200)
