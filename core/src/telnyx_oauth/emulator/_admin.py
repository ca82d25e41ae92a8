"""Run-time control of a running emulator over HTTP, under `/_emulator/` (no authentication:
the emulator binds loopback only unless told otherwise).

- `GET /_emulator/knobs`: the current knobs.
- `POST /_emulator/knobs`: change any subset of them, e.g. `{"rotate_refresh_tokens": true}`.
- `POST /_emulator/revoke`: revoke every access and refresh token.
- `GET /_emulator/counters`, `POST /_emulator/counters/reset`: read or zero the counters.
- `POST /_emulator/clients`: register a client, `{"client_id", "client_secret",
  "allowed_scopes"?, "redirect_uris"?}`.
- `POST /_emulator/clock/advance`: move the clock forward, `{"seconds": 601}`.
- `POST /_emulator/api_failures`: fail the next API requests, `{"n": 2, "status": 429,
  "retry_after": 3}` (`retry_after` optional).

Knobs: `token_ttl_seconds`, `refresh_token_ttl_seconds`, `rotate_refresh_tokens`,
`refresh_token_on_client_credentials`, `token_latency_seconds`, `fail_next_token_requests`,
`fail_status`, `rate_limit_next_token_requests`, `retry_after`, `rate_limit_body` ("json"|"html"),
`basic_auth_decoding` ("raw"|"unquote"|"unquote_plus").
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeGuard

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from telnyx_oauth.emulator._state import DEFAULT_SCOPES, EmulatorState, OAuthClient

_KNOB_TYPES: dict[str, tuple[type, ...]] = {
    "token_ttl_seconds": (int, float),
    "refresh_token_ttl_seconds": (int, float),
    "rotate_refresh_tokens": (bool,),
    "refresh_token_on_client_credentials": (bool,),
    "token_latency_seconds": (int, float),
    "fail_next_token_requests": (int,),
    "fail_status": (int,),
    "rate_limit_next_token_requests": (int,),
    "retry_after": (int,),
    "rate_limit_body": (str,),
    "basic_auth_decoding": (str,),
}


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int in Python; a JSON true must not pass as a count.
    return type(value) is int


def _bad(message: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": message}, 400)


async def _json_object(request: Request) -> dict[str, Any] | None:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class AdminRoutes:
    """The `/_emulator/` control routes of one emulator."""

    def __init__(self, state: EmulatorState, default_redirect_uris: tuple[str, ...]) -> None:
        self.state = state
        self.default_redirect_uris = default_redirect_uris

    def routes(self) -> list[BaseRoute]:
        """Return the Starlette routes."""
        return [
            Route("/_emulator/knobs", self.knobs, methods=["GET", "POST"]),
            Route("/_emulator/revoke", self.revoke, methods=["POST"]),
            Route("/_emulator/counters", self.counters, methods=["GET"]),
            Route("/_emulator/counters/reset", self.reset_counters, methods=["POST"]),
            Route("/_emulator/clients", self.add_client, methods=["POST"]),
            Route("/_emulator/clock/advance", self.advance_clock, methods=["POST"]),
            Route("/_emulator/api_failures", self.fail_api_requests, methods=["POST"]),
        ]

    async def knobs(self, request: Request) -> Response:
        """GET the knobs, or POST a subset of them to change."""
        if request.method == "POST":
            changes = await _json_object(request)
            if changes is None:
                return _bad("Send a JSON object of knobs.")
            for name, value in changes.items():
                types = _KNOB_TYPES.get(name)
                if types is None:
                    return _bad(f"Unknown knob '{name}'. Knobs: {', '.join(_KNOB_TYPES)}.")
                # bool is an int in Python; a JSON true must not pass as a count.
                if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                    return _bad(f"Knob '{name}' has the wrong type.")
            try:
                self.state.update_knobs(**changes)
            except ValueError as exc:
                return _bad(str(exc))
        return JSONResponse(dataclasses.asdict(self.state.knobs()))

    async def revoke(self, request: Request) -> Response:
        """Revoke every access and refresh token."""
        self.state.revoke_all_tokens()
        return JSONResponse({"revoked": True})

    async def counters(self, request: Request) -> Response:
        """Return the counters."""
        return JSONResponse(self.state.counters.as_dict())

    async def reset_counters(self, request: Request) -> Response:
        """Zero the counters."""
        self.state.counters._reset()
        return JSONResponse(self.state.counters.as_dict())

    async def add_client(self, request: Request) -> Response:
        """Register (or replace) an OAuth client."""
        data = await _json_object(request)
        if data is None:
            return _bad("Send a JSON object.")
        client_id, secret = data.get("client_id"), data.get("client_secret")
        scopes = data.get("allowed_scopes", list(DEFAULT_SCOPES))
        uris = data.get("redirect_uris", list(self.default_redirect_uris))
        if not (isinstance(client_id, str) and client_id and isinstance(secret, str) and secret):
            return _bad("client_id and client_secret must be non-empty strings.")
        for name, value in (("allowed_scopes", scopes), ("redirect_uris", uris)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return _bad(f"{name} must be a list of strings.")
        self.state.add_client(OAuthClient(client_id, secret, tuple(scopes), tuple(uris)))
        return JSONResponse({"client_id": client_id, "allowed_scopes": scopes}, 201)

    async def advance_clock(self, request: Request) -> Response:
        """Move the emulator's clock forward by `seconds`."""
        data = await _json_object(request)
        seconds = None if data is None else data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return _bad('Send {"seconds": <non-negative number>}.')
        self.state.advance_clock(float(seconds))
        return JSONResponse({"now": self.state.now()})

    async def fail_api_requests(self, request: Request) -> Response:
        """Make the next `n` API requests fail with `status` (and `retry_after`)."""
        data = await _json_object(request)
        if data is None:
            return _bad('Send {"n": <count>, "status": <400-599>, "retry_after"?: <seconds>}.')
        n, status, retry_after = data.get("n"), data.get("status", 503), data.get("retry_after")
        if not (_is_int(n) and _is_int(status) and (retry_after is None or _is_int(retry_after))):
            return _bad("n, status and retry_after must be integers.")
        try:
            self.state.fail_next_api_requests(n, status, retry_after)
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse({"n": n, "status": status, "retry_after": retry_after})
