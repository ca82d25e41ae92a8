"""Integration fixtures: one Prefect test harness per session, and a clean token cache per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefect_telnyx_oauth.testing import reset_token_caches
from telnyx_oauth.emulator import TelnyxEmulator
from tests.integration._token_spec import SpecChecker


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A real Prefect API (the test harness: ~10 s, so once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    from prefect_telnyx_oauth import TelnyxOAuthCredentials

    with prefect_test_harness(server_startup_timeout=90):
        # Register once, before any concurrent use: concurrent registration fails.
        TelnyxOAuthCredentials.register_type_and_schema(_sync=True)  # type: ignore[call-arg]
        yield


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Each test starts like a new process: no token and no loaded block in memory."""
    reset_token_caches()
    yield
    reset_token_caches()


@pytest.fixture
def spec(emulator: TelnyxEmulator) -> Iterator[SpecChecker]:
    """Validates every token answer against the spec; fails if one escaped validation."""
    checker = SpecChecker()
    yield checker
    assert checker.checked >= emulator.counters.token_requests
