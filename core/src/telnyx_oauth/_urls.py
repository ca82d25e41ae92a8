"""URL checks shared by the settings, the block and the token endpoint client."""

from __future__ import annotations

import ipaddress

import httpx

from telnyx_oauth.errors import ConfigurationError


def is_loopback_host(host: str) -> bool:
    """Return True for `localhost`, 127.0.0.0/8 and ::1.

    Not for `*.localhost` names: a resolver may send them to DNS, off this machine.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, name: str) -> str:
    """Return `url` without a trailing slash if it is https, or http on a loopback host.

    Raises:
        ConfigurationError: the URL is malformed, or is plain http on a non-loopback host.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        msg = f"{name} {url!r} is not a valid URL. Use e.g. 'https://api.telnyx.com/v2'."
        raise ConfigurationError(msg) from exc
    if parsed.userinfo:
        msg = f"{name} must not embed credentials; set client_id and client_secret instead."
        raise ConfigurationError(msg)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        msg = f"{name} {url!r} must be an absolute https URL, e.g. 'https://api.telnyx.com/v2'."
        raise ConfigurationError(msg)
    if parsed.scheme == "http" and not is_loopback_host(parsed.host):
        msg = (
            f"{name} {url!r} uses plain http on a non-loopback host, which would send "
            "credentials in clear text. Use https (http is allowed only for 127.0.0.1, "
            "::1 and localhost)."
        )
        raise ConfigurationError(msg)
    return url.rstrip("/")
