"""`TelnyxEmulator(check_spec=True)` checks its own token answers against the packaged spec."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from telnyx_oauth.emulator import TelnyxEmulator


def test_emulator_checks_every_token_answer_and_finds_them_conforming(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(check_spec=True, refresh_token_on_client_credentials=True)
    good = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
    }

    with httpx.Client(base_url=emulator.base_url) as http:
        issued = http.post("/oauth/token", data=good)
        refresh = {**good, "grant_type": "refresh_token", "refresh_token": "unknown"}
        statuses = [
            issued.status_code,
            http.post("/oauth/token", data={**good, "client_secret": "wrong"}).status_code,
            http.post("/oauth/token", data={**good, "grant_type": "password"}).status_code,
            http.post("/oauth/token", data={**good, "scope": "nope"}).status_code,
            http.post("/oauth/token", data=refresh).status_code,
            http.post(
                "/oauth/token", content=b"[]", headers={"content-type": "application/json"}
            ).status_code,
        ]
        emulator.fail_next_token_requests(1, 502)
        statuses.append(http.post("/oauth/token", data=good).status_code)
        for body in ("json", "html"):
            emulator.rate_limit_next_token_requests(1, body=body)  # type: ignore[arg-type]
            statuses.append(http.post("/oauth/token", data=good).status_code)

    report = emulator.spec_report()
    assert statuses == [200, 401, 400, 400, 400, 400, 502, 429, 429]
    assert report.checked == emulator.counters.token_requests == 9
    assert report.violations == ()


def test_emulator_reports_an_answer_the_spec_does_not_allow(
    emulator_factory: Callable[..., TelnyxEmulator],
) -> None:
    emulator = emulator_factory(check_spec=True)
    # An HTML 400 is what a misconfigured gateway might send; the spec allows HTML for no 4xx
    # but 429.
    emulator.fail_next_token_requests(1, 400)

    answer = httpx.post(emulator.token_url, data={"grant_type": "client_credentials"})

    report = emulator.spec_report()
    assert answer.status_code == 400
    assert report.checked == 1
    assert len(report.violations) == 1
    assert "HTML body with status 400" in report.violations[0]


def test_spec_report_without_check_spec_says_how_to_turn_it_on(emulator: TelnyxEmulator) -> None:
    with pytest.raises(RuntimeError, match=r"TelnyxEmulator\(check_spec=True\)"):
        emulator.spec_report()
