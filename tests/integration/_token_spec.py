"""Check every token endpoint answer of the emulator against the shared OpenAPI spec.

`SpecChecker.client()` returns an `httpx.Client` whose response hook validates each answer of
`/oauth/token`: 200 against `TokenResponse` (plus `Cache-Control: no-store`), every JSON error
against `oauth_Error` (plus `WWW-Authenticate` on 401). HTML bodies are allowed only for the
injected gateway failures (429 and 5xx), which the spec does not describe.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator

# In CI a copy of shared/ sits beside the clone, as it does beside this worktree.
SPEC_PATH = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "spec"
    / "telnyx-oauth-token.openapi.yaml"
)


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    return {name: Draft202012Validator(schemas[name]) for name in ("TokenResponse", "oauth_Error")}


def assert_token_response_matches_spec(response: httpx.Response) -> dict[str, Any] | None:
    """Validate one token endpoint answer; return its JSON body (None for an HTML one)."""
    response.read()
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/html"):
        assert response.status_code == 429 or response.status_code >= 500, response.status_code
        return None
    body = response.json()
    schema = "TokenResponse" if response.status_code == 200 else "oauth_Error"
    _validators()[schema].validate(body)
    if response.status_code == 200:
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == 'Basic realm="telnyx"'
    assert isinstance(body, dict)
    return body


class SpecChecker:
    """Counts and validates every token endpoint answer seen by its clients."""

    def __init__(self) -> None:
        self.checked = 0

    def hook(self, response: httpx.Response) -> None:
        """An httpx response hook."""
        if response.request.url.path.endswith("/oauth/token"):
            assert_token_response_matches_spec(response)
            self.checked += 1

    def client(self, **kwargs: Any) -> httpx.Client:
        """Return an `httpx.Client` whose token answers are validated."""
        kwargs.setdefault("verify", ssl_context())
        return httpx.Client(event_hooks={"response": [self.hook]}, **kwargs)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One shared TLS context: building one per client costs ~60 ms (the emulator is http)."""
    return ssl.create_default_context()
