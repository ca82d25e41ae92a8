"""The one validation of configuration values, shared by the settings, the block and the client.

Each check raises `ConfigurationError` naming the value as the caller calls it (a block field such
as `timeout_seconds`, or a variable such as `TELNYX_TIMEOUT_SECONDS`) and the next step. No check
ever puts a secret into its message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from telnyx_oauth.errors import ConfigurationError


def check_client_id(value: Any, *, name: str = "client_id") -> str:
    """A non-empty client id, stripped of surrounding whitespace."""
    text = value if isinstance(value, str) else ""
    if not text.strip():
        msg = f"{name} is empty. Copy the OAuth client id from the Telnyx portal."
        raise ConfigurationError(msg)
    return text.strip()


def check_client_secret(value: Any, *, name: str = "client_secret") -> SecretStr:
    """A `SecretStr` holding a non-blank secret with no surrounding whitespace.

    A secret pasted with its line end would be sent as is and refused with no hint, so surrounding
    whitespace is refused here, where the message can say what is wrong.
    """
    secret = value if isinstance(value, SecretStr) else SecretStr(value if value else "")
    raw = secret.get_secret_value()
    if not isinstance(raw, str) or not raw.strip():
        msg = f"{name} is empty. Copy the OAuth client secret from the Telnyx portal."
        raise ConfigurationError(msg)
    if raw != raw.strip():
        msg = (
            f"{name} starts or ends with whitespace (a copied line end?). Remove it: Telnyx "
            "secrets never do."
        )
        raise ConfigurationError(msg)
    return secret


def check_seconds(name: str, value: Any, *, allow_zero: bool) -> float:
    """A finite number of seconds, above zero (or zero too, when `allow_zero`)."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be a finite number of seconds {bound}, got {value!r}."
        raise ConfigurationError(msg)
    return float(value)


def check_attempts(name: str, value: Any) -> int:
    """A whole number of attempts from 1 to 10."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        msg = f"{name} must be a whole number from 1 to 10, got {value!r}. The default is 3."
        raise ConfigurationError(msg)
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of `choices`, exactly."""
    allowed = tuple(choices)
    if value not in allowed:
        msg = f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}."
        raise ConfigurationError(msg)
    return str(value)
