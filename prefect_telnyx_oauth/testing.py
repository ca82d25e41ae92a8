"""Helpers for running flows offline: the demo uses them, and your pipeline tests can too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.settings import (
    PREFECT_API_BLOCKS_REGISTER_ON_START,
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)


@contextmanager
def offline_prefect(home: Path) -> Iterator[None]:
    """Prefect's ephemeral API with its state in `home`, unless the environment chose one.

    A block pointing at a loopback emulator belongs in a throwaway home, not in `~/.prefect` or a
    Prefect server the user works with (even one set in a profile). `PREFECT_HOME` or
    `PREFECT_API_URL` in the environment turns this off.

    Example:
        ```python
        with TelnyxEmulator() as emulator, offline_prefect(Path(".demo")):
            my_flow()
        ```
    """
    if "PREFECT_HOME" in os.environ or "PREFECT_API_URL" in os.environ:
        yield
        return
    demo = {
        PREFECT_HOME: home,
        # Only our block type is needed (saving registers it): skip registering Prefect's own.
        PREFECT_API_BLOCKS_REGISTER_ON_START: False,
        # A fresh database's migrations can outlast the 20 s default on a slow machine.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120,
    }
    with temporary_settings(updates=demo, restore_defaults={PREFECT_API_URL}):
        yield


def reset_token_caches() -> None:
    """Forget every token, block loaded by name and server metadata, as a new process would.

    Call it between tests that reuse block names or credentials.
    """
    from prefect_telnyx_oauth.tasks import forget_loaded
    from telnyx_oauth.discovery import clear_metadata_cache
    from telnyx_oauth.token_cache import default_cache

    default_cache.clear()
    forget_loaded()
    clear_metadata_cache()
