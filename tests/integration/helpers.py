"""Helpers shared by the integration tests."""

from __future__ import annotations

from typing import Any

from prefect_telnyx_oauth import TelnyxOAuthCredentials
from telnyx_oauth.emulator import TelnyxEmulator


def make_block(emulator: TelnyxEmulator, **overrides: Any) -> TelnyxOAuthCredentials:
    """An unsaved block with the emulator's client; keyword arguments override any field."""
    values: dict[str, Any] = {
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "base_url": emulator.base_url,
    }
    return TelnyxOAuthCredentials(**(values | overrides))
