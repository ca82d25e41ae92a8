"""RFC 7591 dynamic client registration and the OAuth grants of the account, as Telnyx serves them.

- `POST /v2/oauth/register` (JSON client metadata) answers 201 with the client, its secret
  included once; the client can get tokens at once. Bad metadata answers 400 with an RFC 7591
  error body: `invalid_redirect_uri` (not https, and not http on a loopback host) or
  `invalid_client_metadata` (an unknown grant type or auth method, a wrong type).
  Registration is open here; Telnyx may also ask for a Bearer token.
- `GET /v2/oauth/grants` (`page[number]`, `page[size]` 1-100, default 20) lists the grants users
  gave clients, `{"data": [OAuthGrant], "meta": {...}}`; `DELETE /v2/oauth/grants/{id}` revokes
  one and answers it (404 `{"errors": [...]}` if unknown). Both need a valid Bearer token.
  Tests and the demo add grants with `TelnyxEmulator.add_grant`.

`RegistryCounters` counts what arrived, so a test can show that bad input sent nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import secrets
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from telnyx_oauth.emulator._http import telnyx_error
from telnyx_oauth.emulator._state import DEFAULT_SCOPES, EmulatorState, OAuthClient

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


class RegistryCounters:
    """Requests that arrived at the registration and grants endpoints."""

    def __init__(self) -> None:
        self.registrations = 0
        self.grant_requests = 0


class OAuthRegistry:
    """Registered clients' metadata and the account's grants, behind one lock."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._lock = threading.Lock()
        self._grants: dict[str, dict[str, Any]] = {}
        self.counters = RegistryCounters()

    def add_grant(self, client_id: str, scopes: tuple[str, ...] = ("messaging",)) -> str:
        """Record that a user granted `client_id` these scopes; returns the grant id."""
        grant_id = str(uuid.uuid4())
        created = dt.datetime.fromtimestamp(self._state.now(), dt.timezone.utc)
        with self._lock:
            self._grants[grant_id] = {
                "id": grant_id,
                "record_type": "oauth_grant",
                "client_id": client_id,
                "scopes": list(scopes),
                "created_at": created.isoformat(timespec="milliseconds"),
                "last_used_at": None,
            }
        return grant_id

    def grant_ids(self) -> list[str]:
        """The ids of the grants not revoked."""
        with self._lock:
            return list(self._grants)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v2/oauth/register", self.register, methods=["POST"]),
            Route("/v2/oauth/grants", self.list_grants, methods=["GET"]),
            Route("/v2/oauth/grants/{grant_id}", self.revoke_grant, methods=["DELETE"]),
        ]

    async def register(self, request: Request) -> Response:
        """POST /v2/oauth/register (RFC 7591)."""
        with self._lock:
            self.counters.registrations += 1
        try:
            metadata = await request.json()
        except ValueError:
            return _registration_error("invalid_client_metadata", "The body is not JSON.")
        if not isinstance(metadata, dict):
            return _registration_error("invalid_client_metadata", "The body is not an object.")
        problem = _check_metadata(metadata)
        if problem is not None:
            return _registration_error(*problem)
        grant_types = metadata.get("grant_types") or ["authorization_code"]
        scope = metadata.get("scope") or " ".join(DEFAULT_SCOPES)
        redirect_uris = metadata.get("redirect_uris") or []
        client_id = f"emu-{uuid.uuid4().hex[:16]}"
        client_secret = secrets.token_urlsafe(32)
        self._state.add_client(
            OAuthClient(client_id, client_secret, tuple(scope.split()), tuple(redirect_uris))
        )
        body = {
            "client_id": client_id,
            "client_secret": client_secret,
            "client_id_issued_at": int(self._state.now()),
            "client_secret_expires_at": 0,
            "client_name": metadata.get("client_name"),
            "redirect_uris": redirect_uris,
            "grant_types": grant_types,
            "response_types": ["code"] if "authorization_code" in grant_types else [],
            "scope": scope,
            "token_endpoint_auth_method": metadata.get(
                "token_endpoint_auth_method", "client_secret_basic"
            ),
        }
        return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})

    async def list_grants(self, request: Request) -> Response:
        """GET /v2/oauth/grants."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            number = int(request.query_params.get("page[number]", "1"))
            size = int(request.query_params.get("page[size]", "20"))
        except ValueError:
            number = size = 0
        if number < 1 or not 1 <= size <= 100:
            detail = "page[number] must be >= 1 and page[size] between 1 and 100."
            return telnyx_error(400, "10015", detail)
        with self._lock:
            grants = list(self._grants.values())
        page = grants[(number - 1) * size : number * size]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": max(math.ceil(len(grants) / size), 1),
            "total_results": len(grants),
        }
        return JSONResponse({"data": page, "meta": meta})

    async def revoke_grant(self, request: Request) -> Response:
        """DELETE /v2/oauth/grants/{id}."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        with self._lock:
            grant = self._grants.pop(request.path_params["grant_id"], None)
        if grant is None:
            return telnyx_error(404, "10005", "No OAuth grant with this id.")
        return JSONResponse({"data": grant})

    def _authenticate(self, request: Request) -> Response | None:
        with self._lock:
            self.counters.grant_requests += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            info, _ = self._state.lookup_token(token.strip())
            if info is not None:
                return None
        headers = {"WWW-Authenticate": 'Bearer realm="telnyx", error="invalid_token"'}
        return telnyx_error(401, "10009", "The access token is not valid.", headers=headers)


def _check_metadata(metadata: dict[str, Any]) -> tuple[str, str] | None:
    uris = metadata.get("redirect_uris", [])
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        return "invalid_redirect_uri", "redirect_uris must be a list of URLs."
    for uri in uris:
        parts = urlsplit(uri)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname))
        ):
            return "invalid_redirect_uri", "Each redirect URI must be https, or http on loopback."
    grants = metadata.get("grant_types", [])
    if not isinstance(grants, list) or any(g not in GRANT_TYPES for g in grants):
        return "invalid_client_metadata", f"grant_types must be among {', '.join(GRANT_TYPES)}."
    if metadata.get("token_endpoint_auth_method", "client_secret_basic") not in AUTH_METHODS:
        methods = ", ".join(AUTH_METHODS)
        return "invalid_client_metadata", f"token_endpoint_auth_method must be one of {methods}."
    for field in ("client_name", "scope"):
        if field in metadata and not isinstance(metadata[field], str):
            return "invalid_client_metadata", f"{field} must be a string."
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _registration_error(error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})
