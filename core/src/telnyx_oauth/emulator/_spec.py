"""Check token endpoint answers against Telnyx's OAuth OpenAPI spec, shipped in this package.

The spec is package data (`spec/telnyx-oauth-token.openapi.yaml`), read with `importlib.resources`
so the check works from a clone, an editable install or a wheel alike. Checking needs PyYAML and
jsonschema, which are development extras rather than runtime dependencies: they are imported only
when a check is asked for, and their absence is reported then, with the command that fixes it.

The emulator runs the check on its own answers when built with `check_spec=True`; the test suite
runs the same check on what its HTTP clients receive.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import logging
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

SPEC_FILE = "telnyx-oauth-token.openapi.yaml"
_LOGGER = logging.getLogger("telnyx_oauth.emulator")


class SpecCheckUnavailable(RuntimeError):
    """PyYAML or jsonschema, which the spec check needs, is not installed."""


def spec_text() -> str:
    """Return the packaged OpenAPI spec of the token endpoint, as YAML text."""
    spec_dir = resources.files("telnyx_oauth.emulator").joinpath("spec")
    return spec_dir.joinpath(SPEC_FILE).read_text(encoding="utf-8")


@functools.cache
def _validators() -> dict[str, Any]:
    try:
        yaml = importlib.import_module("yaml")
        jsonschema = importlib.import_module("jsonschema")
    except ImportError as exc:
        msg = (
            "Checking answers against the OpenAPI spec needs PyYAML and jsonschema: "
            "pip install pyyaml jsonschema."
        )
        raise SpecCheckUnavailable(msg) from exc
    schemas = yaml.safe_load(spec_text())["components"]["schemas"]
    validator = jsonschema.Draft202012Validator
    return {name: validator(schemas[name]) for name in ("TokenResponse", "oauth_Error")}


def ensure_spec_check_available() -> None:
    """Load the spec's schemas now, so a missing dependency fails at once.

    Raises:
        SpecCheckUnavailable: PyYAML or jsonschema is not installed.
    """
    _validators()


def token_answer_problems(status: int, headers: Mapping[str, str], body: bytes) -> list[str]:
    """Return what one token endpoint answer gets wrong by the spec; empty when it conforms.

    A 200 must be a `TokenResponse` with `Cache-Control: no-store` and `Pragma: no-cache`; every
    JSON error an `oauth_Error`, with `WWW-Authenticate: Basic realm="telnyx"` on a 401. An HTML
    body, which the spec does not describe, is allowed only for a 429 or a 5xx: what a gateway in
    front of the server answers.

    Args:
        status: The HTTP status.
        headers: The response headers, looked up case-insensitively (httpx or Starlette headers).
        body: The raw response body.

    Raises:
        SpecCheckUnavailable: PyYAML or jsonschema is not installed.
    """
    if headers.get("content-type", "").startswith("text/html"):
        if status == 429 or status >= 500:
            return []
        return [f"an HTML body with status {status}: only a 429 or a 5xx may be HTML"]
    try:
        data = json.loads(body)
    except ValueError:
        return [f"status {status}: the body is neither JSON nor HTML"]
    schema = "TokenResponse" if status == 200 else "oauth_Error"
    problems = [
        f"status {status}: not a {schema}: {error.message}"
        for error in _validators()[schema].iter_errors(data)
    ]
    expected: dict[str, str] = {}
    if status == 200:
        expected = {"cache-control": "no-store", "pragma": "no-cache"}
    elif status == 401:
        expected = {"www-authenticate": 'Basic realm="telnyx"'}
    problems += [
        f"status {status}: header {name} is {headers.get(name)!r}, expected {value!r}"
        for name, value in expected.items()
        if headers.get(name) != value
    ]
    return problems


@dataclasses.dataclass(frozen=True)
class SpecReport:
    """What the emulator's own spec check saw: answers checked and every problem found."""

    checked: int
    violations: tuple[str, ...]


class SpecMonitor:
    """Checks each token answer an emulator sends, and keeps the tally (thread-safe)."""

    def __init__(self) -> None:
        ensure_spec_check_available()
        self._lock = threading.Lock()
        self._checked = 0
        self._violations: list[str] = []

    def check(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Check one answer; log and keep each problem."""
        problems = token_answer_problems(status, headers, body)
        for problem in problems:
            _LOGGER.warning("Token answer breaks the OpenAPI spec: %s", problem)
        with self._lock:
            self._checked += 1
            self._violations += problems

    def report(self) -> SpecReport:
        """Return the tally so far."""
        with self._lock:
            return SpecReport(self._checked, tuple(self._violations))
