"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from telnyx_oauth.emulator import TelnyxEmulator

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


@pytest.fixture(autouse=True)
def _clean_telnyx_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's TELNYX_* variables; analytics stay off."""
    for name in list(os.environ):
        if name.startswith("TELNYX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def _emulator_stoppers() -> Iterator[list[threading.Thread]]:
    """Threads stopping finished emulators; joined once at the end of the session."""
    stoppers: list[threading.Thread] = []
    yield stoppers
    for stopper in stoppers:
        stopper.join()


@pytest.fixture
def emulator_factory(
    _emulator_stoppers: list[threading.Thread],
) -> Iterator[Callable[..., TelnyxEmulator]]:
    """Start `TelnyxEmulator(**kwargs)` emulators, each new on its own port, stopped after the test.

    Starting takes about a millisecond, but uvicorn's clean shutdown waits 0.1 s, so emulators are
    stopped on background threads instead of in the test's teardown. Every test gets a brand-new
    server and URL, so nothing keyed by the token URL (a token cache) carries over between tests.
    """
    started: list[TelnyxEmulator] = []

    def start(**kwargs: Any) -> TelnyxEmulator:
        emulator = TelnyxEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        stopper = threading.Thread(target=emulator.stop, name=f"stop {emulator!r}", daemon=True)
        stopper.start()
        _emulator_stoppers.append(stopper)


@pytest.fixture
def emulator(emulator_factory: Callable[..., TelnyxEmulator]) -> TelnyxEmulator:
    """A fresh, started `TelnyxEmulator()` with the default client and knobs."""
    return emulator_factory()
