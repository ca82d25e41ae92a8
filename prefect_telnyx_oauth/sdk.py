"""Interop with the official Telnyx SDK (`pip install "prefect-telnyx-oauth[sdk]"`).

The SDK client gets the block's current access token as its `api_key`, and an httpx client whose
auth is the block's `TelnyxOAuth`: every request carries a valid token (a long-lived SDK client
keeps working past the token's expiry) and a 401 gets one refresh, shared with every other user
of the block.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx
    import telnyx

    from telnyx_oauth.models import TelnyxToken

SDK_EXTRA = 'pip install "prefect-telnyx-oauth[sdk]"'


class _TokenSource(Protocol):
    """What the SDK helper needs of `TelnyxOAuthCredentials`; named here so it never imports it."""

    @property
    def base_url(self) -> str: ...

    def get_token(self) -> TelnyxToken: ...

    async def aget_token(self) -> TelnyxToken: ...

    def get_auth(self) -> httpx.Auth: ...


def _import_telnyx() -> ModuleType:
    try:
        import telnyx
    except ImportError as exc:
        msg = (
            "The official Telnyx SDK (the 'telnyx' package) is not installed. Install the extra: "
            f"{SDK_EXTRA}"
        )
        raise ImportError(msg, name="telnyx") from exc
    return telnyx


def get_telnyx_sdk_client(credentials: _TokenSource) -> telnyx.Telnyx:
    """Return an official `telnyx.Telnyx` client authenticated with the block's token.

    The SDK's own OAuth (`client_id`/`client_secret`, read from `TELNYX_CLIENT_*` when not given)
    is switched off explicitly, so the SDK never requests tokens of its own.

    Args:
        credentials: The block; its `base_url` becomes the SDK's `base_url`.

    Returns:
        A `telnyx.Telnyx`; close it (or use it as a context manager) when done.

    Raises:
        ImportError: The `telnyx` package is missing; the message names the extra to install.
        TokenError: No token could be obtained.

    Example:
        ```python
        with get_telnyx_sdk_client(TelnyxOAuthCredentials.load("prod-telnyx")) as client:
            print(client.balance.retrieve().data.balance)
        ```
    """
    sdk = _import_telnyx()
    token = credentials.get_token()
    client: telnyx.Telnyx = sdk.Telnyx(
        api_key=token.access_token.get_secret_value(),
        client_id="",
        client_secret="",
        base_url=credentials.base_url,
        http_client=sdk.DefaultHttpxClient(auth=credentials.get_auth()),
    )
    return client


async def aget_telnyx_sdk_client(credentials: _TokenSource) -> telnyx.AsyncTelnyx:
    """Async twin of `get_telnyx_sdk_client`: returns a `telnyx.AsyncTelnyx`."""
    sdk = _import_telnyx()
    token = await credentials.aget_token()
    client: telnyx.AsyncTelnyx = sdk.AsyncTelnyx(
        api_key=token.access_token.get_secret_value(),
        client_id="",
        client_secret="",
        base_url=credentials.base_url,
        http_client=sdk.DefaultAsyncHttpxClient(auth=credentials.get_auth()),
    )
    return client
