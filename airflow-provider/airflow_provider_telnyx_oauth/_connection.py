"""A `telnyx_oauth` connection, checked by the same rules as the Prefect block.

Every bad value raises the core's `ConfigurationError` through the core's own checks
(`_checks.py`, `_urls.py`), so a missing secret or a plain-http base URL says the same thing on
Airflow as on Prefect, with the connection field named as the form shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

from airflow_provider_telnyx_oauth import __version__
from telnyx_oauth._checks import check_choice, check_client_id, check_client_secret
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.settings import DEFAULT_BASE_URL
from telnyx_oauth.token_client import TokenEndpointConfig

LockMode = Literal["auto", "file", "none"]

_EXTRA_PREFIX = "extra__telnyx_oauth__"


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Older forms saved extras with the `extra__<type>__` prefix; accept both spellings.
    value = extras.get(name, extras.get(_EXTRA_PREFIX + name))
    return value if value not in ("", None) else None


@dataclass(frozen=True)
class TelnyxConnection:
    """The checked values of one `telnyx_oauth` connection."""

    conn_id: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    base_url: str
    token_url: str
    scope: str | None
    auth_method: str
    body_format: str
    token_lock: LockMode

    @classmethod
    def from_connection(cls, conn: Any) -> TelnyxConnection:
        """Check an Airflow `Connection` (anything with login, password, host, extra_dejson).

        Raises:
            ConfigurationError: a value is missing or invalid; the message names the field.
        """
        conn_id = str(getattr(conn, "conn_id", None) or "telnyx_default")
        extras: dict[str, Any] = dict(getattr(conn, "extra_dejson", None) or {})
        host = (conn.host or "").strip()
        if host and "://" not in host:
            host = f"https://{host}"
        base_url = require_secure_url(host or DEFAULT_BASE_URL, name=f"{conn_id}: host (Base URL)")
        token_url = _extra(extras, "token_url")
        token_url = (
            require_secure_url(token_url, name=f"{conn_id}: token_url")
            if token_url
            else f"{base_url}/oauth/token"
        )
        return cls(
            conn_id=conn_id,
            client_id=check_client_id(conn.login, name=f"{conn_id}: login (Client ID)"),
            client_secret=check_client_secret(
                conn.password, name=f"{conn_id}: password (Client secret)"
            ),
            base_url=base_url,
            token_url=token_url,
            scope=_extra(extras, "scope"),
            auth_method=check_choice(
                "auth_method",
                _extra(extras, "auth_method") or "client_secret_basic",
                ("client_secret_basic", "client_secret_post"),
            ),
            body_format=check_choice(
                "body_format", _extra(extras, "body_format") or "form", ("form", "json")
            ),
            token_lock=check_choice(  # type: ignore[arg-type]
                "token_lock", _extra(extras, "token_lock") or "auto", ("auto", "file", "none")
            ),
        )

    def endpoint(self) -> TokenEndpointConfig:
        """The token endpoint configuration of the core client."""
        return TokenEndpointConfig(
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_method=self.auth_method,  # type: ignore[arg-type]
            body_format=self.body_format,  # type: ignore[arg-type]
            user_agent_product=f"airflow-provider-telnyx-oauth/{__version__}",
        )

    def parts(self) -> tuple[str, str, str, str | None]:
        """What a token belongs to (the core's credential parts, in the block's order)."""
        return (self.token_url, self.client_id, self.client_secret.get_secret_value(), self.scope)
