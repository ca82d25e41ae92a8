"""Assemble the emulator's Starlette app from its route groups."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from telnyx_oauth.emulator._admin import AdminRoutes
from telnyx_oauth.emulator._api import ApiRoutes
from telnyx_oauth.emulator._detail_records import DetailRecordRoutes
from telnyx_oauth.emulator._http import RateLimitHeaders, http_exception_handler
from telnyx_oauth.emulator._oauth import OAuthRoutes
from telnyx_oauth.emulator._spec import SpecMonitor
from telnyx_oauth.emulator._state import EmulatorState


def build_app(
    state: EmulatorState,
    *,
    default_redirect_uris: tuple[str, ...],
    spec_monitor: SpecMonitor | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """Return the ASGI app serving OAuth, API and `/_emulator/` routes over `state`.

    With a `spec_monitor`, every token answer is checked against the packaged OpenAPI spec.
    """
    api = ApiRoutes(state)
    routes = [
        *OAuthRoutes(state, spec_monitor).routes(),
        *api.routes(),
        *DetailRecordRoutes(state.detail_records).routes(api._guard),
        *AdminRoutes(state, default_redirect_uris).routes(),
        *extra_routes,
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RateLimitHeaders, state=state)],
        exception_handlers={HTTPException: http_exception_handler},
    )
