"""Check every token endpoint answer the tests receive against the packaged OpenAPI spec.

`SpecChecker.client()` returns an `httpx.Client` whose response hook validates each answer of
`/oauth/token` with the emulator's own check (`telnyx_oauth.emulator._spec`, which reads
the spec shipped as package data): 200 against `TokenResponse` (plus `Cache-Control: no-store`),
every JSON error against `oauth_Error` (plus `WWW-Authenticate` on 401). HTML bodies are allowed
only for the injected gateway failures (429 and 5xx), which the spec does not describe.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from telnyx_oauth.emulator._spec import token_answer_problems


def assert_token_response_matches_spec(response: httpx.Response) -> dict[str, Any] | None:
    """Validate one token endpoint answer; return its JSON body (None for an HTML one)."""
    response.read()
    problems = token_answer_problems(response.status_code, response.headers, response.content)
    assert not problems, problems
    if response.headers.get("content-type", "").startswith("text/html"):
        return None
    body = response.json()
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
