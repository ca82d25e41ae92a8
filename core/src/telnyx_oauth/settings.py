"""`TelnyxSettings`: defaults read from `TELNYX_*` environment variables.

Precedence, everywhere: an explicit argument > a Block field > the environment > the default here.
The variable names are those of the official Telnyx SDK, so one environment serves both. No `.env`
file is read implicitly.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telnyx_oauth._checks import check_attempts, check_client_secret, check_seconds
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.errors import ConfigurationError

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"

TokenEndpointAuthMethod = Literal["client_secret_basic", "client_secret_post"]
TokenRequestFormat = Literal["form", "json"]
AUTH_METHODS: tuple[str, ...] = get_args(TokenEndpointAuthMethod)
BODY_FORMATS: tuple[str, ...] = get_args(TokenRequestFormat)


class TelnyxSettings(BaseSettings):
    """Telnyx OAuth settings from the environment (`TELNYX_` prefix)."""

    model_config = SettingsConfigDict(env_prefix="TELNYX_", env_file=None, extra="ignore")

    client_id: str | None = Field(default=None, description="OAuth client id (`TELNYX_CLIENT_ID`).")
    client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret (`TELNYX_CLIENT_SECRET`)."
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description=(
            "Telnyx API base URL (`TELNYX_BASE_URL`). Change it only to point at the local "
            "emulator or a proxy; the token URL is this plus `/oauth/token` (unless "
            "`token_url` is set or `discover_token_endpoint` is on)."
        ),
    )
    oauth_scope: str | None = Field(
        default=None,
        description="Space-separated scopes to request (`TELNYX_OAUTH_SCOPE`); unset: the default.",
    )
    token_url: str | None = Field(
        default=None,
        description="Token URL override (`TELNYX_TOKEN_URL`); unset = `base_url + /oauth/token`.",
    )
    timeout_seconds: float = Field(
        default=10.0,
        description="Timeout of each HTTP request (`TELNYX_TIMEOUT_SECONDS`).",
    )
    refresh_leeway_seconds: float = Field(
        default=60.0,
        description=(
            "Refresh this long before expiry (`TELNYX_REFRESH_LEEWAY_SECONDS`), clamped to half "
            "the token lifetime. Raise it if long tasks must not see a token expire mid-call."
        ),
    )
    token_max_attempts: int = Field(
        default=3,
        description="Attempts per token request on transient errors (`TELNYX_TOKEN_MAX_ATTEMPTS`).",
    )
    token_deadline_seconds: float = Field(
        default=120.0,
        description=(
            "The longest one token call may take, lock waits, attempts and retry waits included "
            "(`TELNYX_TOKEN_DEADLINE_SECONDS`)."
        ),
    )
    discover_token_endpoint: bool = Field(
        default=False,
        description=(
            "Take the token endpoint from the server's RFC 8414 metadata when `token_url` is "
            "unset (`TELNYX_DISCOVER_TOKEN_ENDPOINT`); only a document whose issuer is the base "
            "URL's origin, naming endpoints on that origin, is followed."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _secure_base_url(cls, value: str) -> str:
        return require_secure_url(value, name="TELNYX_BASE_URL")

    @field_validator("token_url")
    @classmethod
    def _secure_token_url(cls, value: str | None) -> str | None:
        return None if value is None else require_secure_url(value, name="TELNYX_TOKEN_URL")

    @field_validator("client_secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else check_client_secret(value, name="TELNYX_CLIENT_SECRET")

    @field_validator(
        "timeout_seconds", "refresh_leeway_seconds", "token_deadline_seconds", mode="before"
    )
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> float:
        name = f"TELNYX_{str(info.field_name).upper()}"
        number = _number(value, name)
        return check_seconds(name, number, allow_zero=info.field_name == "refresh_leeway_seconds")

    @field_validator("discover_token_endpoint", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return _check_flag("TELNYX_DISCOVER_TOKEN_ENDPOINT", value)

    @field_validator("token_max_attempts", mode="before")
    @classmethod
    def _attempts(cls, value: Any) -> int:
        number = _number(value, "TELNYX_TOKEN_MAX_ATTEMPTS")
        whole = int(number) if isinstance(number, float) and number.is_integer() else number
        return check_attempts("TELNYX_TOKEN_MAX_ATTEMPTS", whole)


_FLAGS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off", ""), False),
}


def _check_flag(name: str, value: Any) -> bool:
    """An on/off value (a bool, or an environment string such as `true` or `0`) as a bool.

    Raises:
        ConfigurationError: anything else; the message names `name`.
    """
    if isinstance(value, bool):
        return value
    flag = _FLAGS.get(value.strip().lower()) if isinstance(value, str) else None
    if flag is None:
        msg = f"{name} must be true or false, not {value!r}."
        raise ConfigurationError(msg)
    return flag


def _number(value: Any, name: str) -> Any:
    """An environment string as a number, or `value` unchanged for the range check to refuse."""
    if not isinstance(value, str):
        return value
    try:
        return float(value.strip())
    except ValueError:
        return value
