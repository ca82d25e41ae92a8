"""PKCE (RFC 7636, S256) and the authorization request URL of the authorization code grant.

Pure functions, no I/O: the `authorize` command and any web app share them.

Example:
    ```python
    pair = generate_pkce_pair()
    url = build_authorization_url(
        "https://api.telnyx.com/v2/oauth/authorize",
        client_id="...",
        redirect_uri="http://127.0.0.1:8765/callback",
        scope=None,
        state=secrets.token_urlsafe(16),
        code_challenge=pair.challenge,
    )
    # ... later, on the redirect: AuthorizationCodeGrant(code, redirect_uri, pair.verifier)
    ```
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.errors import ConfigurationError

__all__ = ["PkcePair", "build_authorization_url", "code_challenge_s256", "generate_pkce_pair"]

MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128
DEFAULT_VERIFIER_LENGTH = 64
"""64 characters of the base64url alphabet carry 384 bits, well above RFC 7636's 256."""

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True)
class PkcePair:
    """A code verifier (kept by the client, never in a URL or log) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def code_challenge_s256(verifier: str) -> str:
    """Return `BASE64URL(SHA256(ASCII(verifier)))` without padding (RFC 7636 §4.2).

    Raises:
        ConfigurationError: the verifier is not 43-128 characters of `[A-Za-z0-9-._~]`.
    """
    if not _VERIFIER_RE.fullmatch(verifier):
        # The verifier is a one-time secret: name the rule, not the value.
        msg = (
            f"code_verifier must be {MIN_VERIFIER_LENGTH}-{MAX_VERIFIER_LENGTH} characters from "
            f"A-Z a-z 0-9 - . _ ~ (got {len(verifier)} characters). Use generate_pkce_pair()."
        )
        raise ConfigurationError(msg)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_pkce_pair(length: int = DEFAULT_VERIFIER_LENGTH) -> PkcePair:
    """Return a fresh random verifier of `length` characters and its S256 challenge.

    Args:
        length: Verifier length, 43 to 128 (RFC 7636 §4.1).

    Raises:
        ConfigurationError: `length` is outside 43-128.
    """
    if isinstance(length, bool) or not MIN_VERIFIER_LENGTH <= length <= MAX_VERIFIER_LENGTH:
        msg = (
            f"PKCE verifier length must be {MIN_VERIFIER_LENGTH} to {MAX_VERIFIER_LENGTH}, "
            f"got {length!r}. The default is {DEFAULT_VERIFIER_LENGTH}."
        )
        raise ConfigurationError(msg)
    # token_urlsafe yields about 4/3 characters per byte, all from the unreserved set.
    verifier = secrets.token_urlsafe(length)[:length]
    return PkcePair(verifier=verifier, challenge=code_challenge_s256(verifier))


def build_authorization_url(
    authorize_url: str,
    client_id: str,
    redirect_uri: str,
    scope: str | None,
    state: str,
    code_challenge: str,
) -> str:
    """Return the URL the user opens to consent (RFC 6749 §4.1.1 with RFC 7636 §4.3).

    Query parameters already on `authorize_url` are kept; ours are appended.

    Args:
        authorize_url: The authorization endpoint (https, or http on a loopback host).
        client_id: The OAuth client id.
        redirect_uri: Where the server sends the browser back with `code` and `state`.
        scope: Space-separated scopes; None or blank asks for the client's default.
        state: An unguessable value the redirect must echo (CSRF protection).
        code_challenge: The S256 challenge of the verifier the code will be exchanged with.

    Raises:
        ConfigurationError: a required value is empty or the URL is not secure.
    """
    url = require_secure_url(authorize_url, name="authorize_url")
    for name, value in (
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("code_challenge", code_challenge),
    ):
        if not value:
            msg = f"{name} is empty; the authorization request needs it."
            raise ConfigurationError(msg)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if scope and scope.strip():
        params["scope"] = " ".join(scope.split())
    parts = urlsplit(url)
    query = urlencode(params)
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit(parts._replace(query=query))
