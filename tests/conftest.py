"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


@pytest.fixture(autouse=True)
def _clean_telnyx_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's TELNYX_* variables; analytics stay off."""
    for name in list(os.environ):
        if name.startswith("TELNYX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    yield
