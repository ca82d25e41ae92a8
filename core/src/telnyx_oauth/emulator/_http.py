"""HTTP helpers shared by the route modules: Telnyx error bodies and the rate-limit headers."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telnyx_oauth.emulator._state import EmulatorState

ERRORS_DOC_URL = "https://developers.telnyx.com/docs/overview/errors/"

# The Telnyx error codes the emulator uses, with their fixed titles (from Telnyx's error reference).
TITLES = {
    "10004": "Missing required parameter",
    "10005": "Resource not found",
    "10009": "Authentication failed",
    "10011": "Too many requests",
    "10015": "Bad Request",
    "10016": "Phone number must be in +E.164 format",
    "40305": "Invalid 'from' address",
    "40310": "Invalid 'to' address",
}


def telnyx_error_item(
    code: str, detail: str, source: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return one entry of a Telnyx `errors` array."""
    item: dict[str, Any] = {
        "code": code,
        "title": TITLES[code],
        "detail": detail,
        "meta": {"url": ERRORS_DOC_URL + code},
    }
    if source is not None:
        item["source"] = source
    return item


def telnyx_errors(
    status: int, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return a Telnyx-style error response: `{"errors": [...]}`."""
    return JSONResponse({"errors": items}, status_code=status, headers=headers)


def telnyx_error(
    status: int,
    code: str,
    detail: str,
    source: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a Telnyx-style error response with a single error."""
    return telnyx_errors(status, [telnyx_error_item(code, detail, source)], headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Answer unknown paths (404) and wrong methods (405) in Telnyx's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
    if request.url.path.startswith("/v2/oauth/"):
        # OAuth clients parse every answer of these paths as an RFC 6749 error.
        description = f"{request.method} {request.url.path} is not supported."
        body = {"error": "invalid_request", "error_description": description}
        return JSONResponse(body, status_code=status, headers=headers)
    if status == 404:
        detail = f"The requested resource or URL could not be found: {request.url.path}"
        return telnyx_error(404, "10005", detail, headers=headers)
    detail = f"{request.method} is not allowed on {request.url.path}."
    return telnyx_error(status, "10015", detail, headers=headers)


class RateLimitHeaders:
    """ASGI middleware adding `x-ratelimit-*` headers to every response that lacks them."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = self.state.rate_limit_headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in values.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
