"""`TelnyxToken`, the token we hold, and the grant types of the token endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

GrantType = Literal["client_credentials", "authorization_code", "refresh_token"]


class TelnyxToken(BaseModel):
    """An access token as we hold it, with an absolute expiry fixed when the request was sent.

    `repr()` and `str()` never show the token: both secret fields are `SecretStr`.

    Example:
        ```python
        token = credentials.get_token()
        httpx.get(url, headers=token.headers())
        ```
    """

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr = Field(description="The bearer token sent to the Telnyx API.")
    token_type: Literal["Bearer"] = Field(default="Bearer", description="Always 'Bearer'.")
    expires_at: datetime = Field(description="When the token stops working (aware UTC).")
    issued_at: datetime | None = Field(
        default=None,
        description="When the token request was sent (aware UTC); sets the refresh leeway clamp.",
    )
    scope: str | None = Field(default=None, description="The granted scopes, space-separated.")
    refresh_token: SecretStr | None = Field(
        default=None, description="The refresh token, when the server issued one."
    )

    @field_validator("expires_at", "issued_at")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "must be timezone-aware (UTC); got a naive datetime"
            raise ValueError(msg)
        return value.astimezone(timezone.utc)

    def headers(self) -> dict[str, str]:
        """Return the `Authorization: Bearer ...` header for an API request."""
        return {"Authorization": f"Bearer {self.access_token.get_secret_value()}"}

    def seconds_left(self, now: datetime) -> float:
        """Seconds until `expires_at`, negative once expired."""
        return (self.expires_at - now).total_seconds()

    def refresh_due_at(self, leeway_seconds: float) -> datetime:
        """When to stop using this token: `expires_at` minus the clamped leeway.

        The leeway is `min(leeway_seconds, lifetime / 2)`, so a short-lived token is still used
        for half its life instead of being refreshed on every call.
        """
        leeway = leeway_seconds
        if self.issued_at is not None:
            lifetime = (self.expires_at - self.issued_at).total_seconds()
            leeway = min(leeway, max(lifetime, 0.0) / 2)
        return self.expires_at - timedelta(seconds=leeway)

    def is_fresh(self, now: datetime, leeway_seconds: float) -> bool:
        """True while the token may still be used without a refresh."""
        return now < self.refresh_due_at(leeway_seconds)


def utc_now() -> datetime:
    """The current aware UTC time; the default clock everywhere a `now` can be injected."""
    return datetime.now(timezone.utc)
