"""docs/emulator.md cannot drift from the emulator: every admin route, knob, constructor argument
and CLI flag the emulator has is documented, and every admin route the page names exists.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.emulator.__main__ import _parser
from telnyx_oauth.emulator._admin import AdminRoutes
from telnyx_oauth.emulator._state import EmulatorState, Knobs

DOC = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text(encoding="utf-8")


def served_admin_routes() -> set[str]:
    routes = AdminRoutes(EmulatorState(knobs=Knobs(), balance="0", phone_numbers=0), ()).routes()
    return {
        f"{method} {route.path}"  # type: ignore[attr-defined]
        for route in routes
        for method in route.methods or ()  # type: ignore[attr-defined]
        if method != "HEAD"  # Starlette adds HEAD to every GET
    }


def test_docs_list_exactly_the_admin_routes_the_emulator_serves() -> None:
    documented = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /_emulator/[^`\s]*)`", DOC))

    assert "POST /_emulator/api_failures" in served_admin_routes()
    assert documented == served_admin_routes()


def test_docs_name_every_knob() -> None:
    missing = [f.name for f in dataclasses.fields(Knobs) if f"`{f.name}`" not in DOC]

    assert missing == []


def test_docs_name_every_constructor_argument_and_public_method() -> None:
    arguments = list(inspect.signature(TelnyxEmulator).parameters)
    methods = [
        name
        for name, member in vars(TelnyxEmulator).items()
        if callable(member) and not name.startswith("_") and name not in ("start", "stop")
    ]
    missing = [name for name in arguments + methods if f"`{name}" not in DOC]

    assert "basic_auth_decoding" in arguments
    assert missing == []


def test_docs_name_every_cli_flag() -> None:
    flags = [
        flag
        for action in _parser()._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    ]
    missing = [flag for flag in flags if f"`{flag}`" not in DOC]

    assert "--basic-auth-decoding" in flags
    assert missing == []
