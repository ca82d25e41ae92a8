"""`TelnyxOAuthCredentials`: the Prefect Block that is the library's front door."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, ClassVar, cast

import httpx
from prefect.blocks.abstract import CredentialsBlock
from pydantic import (
    BeforeValidator,
    Field,
    HttpUrl,
    PrivateAttr,
    SecretStr,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from prefect_telnyx_oauth._prefect_store import TOKEN_FIELDS, PrefectBlockStore, token_from_data
from prefect_telnyx_oauth._urls import require_secure_url
from prefect_telnyx_oauth.auth import TelnyxOAuth
from prefect_telnyx_oauth.errors import ConfigurationError
from prefect_telnyx_oauth.events import emit_token_issued
from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.settings import (
    DEFAULT_BASE_URL,
    TelnyxSettings,
    TokenEndpointAuthMethod,
    TokenRequestFormat,
)
from prefect_telnyx_oauth.token_cache import (
    CachedToken,
    MemoryTokenStore,
    TokenSource,
    default_cache,
    fingerprint,
)
from prefect_telnyx_oauth.token_client import TokenEndpointConfig

logger = logging.getLogger("prefect_telnyx_oauth.credentials")


class TelnyxOAuthCredentials(CredentialsBlock):
    """Telnyx OAuth client credentials that hand out an always-valid bearer token.

    The token is cached on the block and shared through its block document, so every flow run,
    process and worker that loads the block reuses it, and it is refreshed once for all of them.

    Examples:
        Load saved credentials and call the Telnyx API:
        ```python
        from prefect_telnyx_oauth import TelnyxOAuthCredentials

        credentials = TelnyxOAuthCredentials.load("BLOCK_NAME")
        with credentials.get_client() as client:
            balance = client.get("/balance").json()
        ```
    """

    _block_type_name: ClassVar[str] = "Telnyx OAuth Credentials"
    _block_type_slug: ClassVar[str] = "telnyx-oauth-credentials"
    _logo_url = HttpUrl("https://developers.telnyx.com/img/logo.svg")
    _documentation_url = HttpUrl("https://github.com/prefect-telnyx-oauth/prefect-telnyx-oauth")
    _description: ClassVar[str] = (
        "Telnyx OAuth client credentials that hand out an always-valid bearer token, "
        "refreshed once for every flow run, process and worker that loads the block."
    )

    client_id: str = Field(description="The OAuth client id from the Telnyx portal.")
    client_secret: SecretStr = Field(description="The OAuth client secret from the Telnyx portal.")
    # A plain string schema: `str | None` would give the UI form a "str / None" toggle. So a
    # box left empty must mean None (the token URL's validator already does that for it).
    scope: Annotated[
        str | None, WithJsonSchema({"type": "string"}), BeforeValidator(lambda v: v or None)
    ] = Field(
        default=None,
        description="Space-separated scopes to request; leave empty for the client's default.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The Telnyx API base URL; change it only for a proxy or the local emulator.",
    )
    token_url: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        default=None,
        description="The token endpoint; leave empty to use the base URL plus '/oauth/token'.",
    )
    token_endpoint_auth_method: TokenEndpointAuthMethod = Field(
        default="client_secret_basic",
        description="How the client authenticates: HTTP Basic (default) or in the request body.",
    )
    token_request_format: TokenRequestFormat = Field(
        default="form",
        description="The token request body format: form-encoded (default) or JSON.",
    )
    refresh_leeway_seconds: float = Field(
        default=60.0,
        description="Refresh this many seconds before expiry (at most half the token's life).",
    )
    timeout_seconds: float = Field(
        default=10.0, description="Timeout of each request to the token endpoint, in seconds."
    )

    # The token cache: saved with the block, encrypted and masked like the other secrets, and
    # hidden from the UI form (a person never types these).
    access_token: SkipJsonSchema[SecretStr | None] = Field(
        default=None, description="The cached access token; managed by the library."
    )
    access_token_expires_at: SkipJsonSchema[datetime | None] = Field(
        default=None, description="When the cached access token expires; managed by the library."
    )
    access_token_issued_at: SkipJsonSchema[datetime | None] = Field(
        default=None, description="When the cached access token was requested; managed too."
    )
    refresh_token: SkipJsonSchema[SecretStr | None] = Field(
        default=None, description="The cached refresh token; managed by the library."
    )
    access_token_credentials: SkipJsonSchema[str | None] = Field(
        default=None,
        description="A one-way fingerprint of the credentials the cached token belongs to.",
    )

    _source_cache: tuple[tuple[Any, ...], TokenSource] | None = PrivateAttr(default=None)

    @field_validator("client_id")
    @classmethod
    def _client_id_present(cls, value: str) -> str:
        if not value.strip():
            msg = "client_id is empty. Copy the OAuth client id from the Telnyx portal."
            raise ConfigurationError(msg)
        return value.strip()

    @field_validator("client_secret")
    @classmethod
    def _secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            msg = "client_secret is empty. Copy the OAuth client secret from the Telnyx portal."
            raise ConfigurationError(msg)
        return value

    @field_validator("base_url")
    @classmethod
    def _secure_base_url(cls, value: str) -> str:
        return require_secure_url(value, name="base_url")

    @field_validator("token_url")
    @classmethod
    def _secure_token_url(cls, value: str | None) -> str | None:
        return None if not value else require_secure_url(value, name="token_url")

    @field_validator("refresh_leeway_seconds", "timeout_seconds")
    @classmethod
    def _not_negative(cls, value: float, info: Any) -> float:
        if info.field_name == "timeout_seconds" and value <= 0:
            msg = f"timeout_seconds must be above 0, got {value}. The default is 10."
            raise ConfigurationError(msg)
        if value < 0:
            msg = f"refresh_leeway_seconds must be 0 or more, got {value}. The default is 60."
            raise ConfigurationError(msg)
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> TelnyxOAuthCredentials:
        """Build credentials from `TELNYX_*` variables; keyword arguments take precedence.

        Raises:
            ConfigurationError: `TELNYX_CLIENT_ID` or `TELNYX_CLIENT_SECRET` is not set.
        """
        settings = TelnyxSettings()
        values: dict[str, Any] = {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "scope": settings.oauth_scope,
            "base_url": settings.base_url,
            "token_url": settings.token_url,
            "refresh_leeway_seconds": settings.refresh_leeway_seconds,
            "timeout_seconds": settings.timeout_seconds,
        }
        values.update(overrides)
        for name in ("client_id", "client_secret"):
            if not values.get(name):
                msg = f"TELNYX_{name.upper()} is not set. Export it, or pass {name}=... ."
                raise ConfigurationError(msg)
        return cls(**values)

    # -- tokens --------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False) -> TelnyxToken:
        """Return a valid access token, reusing the cached one until shortly before expiry.

        Raises:
            TokenError: the token endpoint refused or kept failing (see `errors`).
        """
        return self._remember(default_cache.get(self._token_source(), force_refresh=force_refresh))

    async def aget_token(self, force_refresh: bool = False) -> TelnyxToken:
        """Async twin of `get_token`; never blocks the event loop."""
        entry = await default_cache.aget(self._token_source(), force_refresh=force_refresh)
        return self._remember(entry)

    def get_auth_headers(self, force_refresh: bool = False) -> dict[str, str]:
        """Return `{"Authorization": "Bearer <token>"}` for a valid token."""
        return self.get_token(force_refresh).headers()

    async def aget_auth_headers(self, force_refresh: bool = False) -> dict[str, str]:
        """Async twin of `get_auth_headers`."""
        return (await self.aget_token(force_refresh)).headers()

    def invalidate_token(self) -> None:
        """Stop using the current token in this process; the next call gets a new one."""
        source = self._token_source()
        default_cache.invalidate(source.key)
        if source.seed is not None:
            default_cache.invalidate(source.key, source.seed)

    def get_auth(self) -> TelnyxOAuth:
        """Return an `httpx.Auth` that sends a valid bearer token and retries once on 401."""
        return TelnyxOAuth(self._token_source)

    def get_client(self, **httpx_kwargs: Any) -> httpx.Client:
        """Return an `httpx.Client` with the Telnyx base URL and bearer auth already set."""
        httpx_kwargs.setdefault("base_url", self.base_url)
        return httpx.Client(auth=self.get_auth(), **httpx_kwargs)

    def get_async_client(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """Async twin of `get_client`."""
        httpx_kwargs.setdefault("base_url", self.base_url)
        return httpx.AsyncClient(auth=self.get_auth(), **httpx_kwargs)

    def get_telnyx_sdk_client(self) -> Any:
        """Return an official `telnyx.Telnyx` client holding a fresh token (extra `[sdk]`).

        The SDK never refreshes its token: build a new client per task.

        Raises:
            ImportError: the `telnyx` package is not installed; the message names the extra.
        """
        from prefect_telnyx_oauth.sdk import get_telnyx_sdk_client

        return get_telnyx_sdk_client(self)

    async def aget_telnyx_sdk_client(self) -> Any:
        """Async twin of `get_telnyx_sdk_client`, returning `telnyx.AsyncTelnyx`."""
        from prefect_telnyx_oauth.sdk import aget_telnyx_sdk_client

        return await aget_telnyx_sdk_client(self)

    # -- wiring --------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How logs and messages name this block: its document name, or the client id."""
        name = getattr(self, "_block_document_name", None)
        return f"block {name!r}" if name else f"client id {self.client_id!r} (unsaved block)"

    def credential_fingerprint(self, data: dict[str, Any] | None = None) -> str:
        """A one-way digest of what a token belongs to: token URL, client id, secret, scope."""
        values = data if data is not None else self.model_dump()
        secret = values.get("client_secret")
        if isinstance(secret, SecretStr):
            secret = secret.get_secret_value()
        base_url = str(values.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        token_url = values.get("token_url") or f"{base_url}/oauth/token"
        return fingerprint(token_url, values.get("client_id"), secret, values.get("scope"))

    def _token_source(self) -> TokenSource:
        # Called on every token request: compare plain field values, build nothing on a hit.
        # Private attributes are read from pydantic's dict directly: attribute access to them
        # goes through BaseModel.__getattr__, which costs more than the whole cache look-up.
        private = self.__pydantic_private__ or {}
        document_id = private.get("_block_document_id")
        identity = (
            document_id,
            self.client_id,
            self.client_secret,
            self.scope,
            self.base_url,
            self.token_url,
            self.token_endpoint_auth_method,
            self.token_request_format,
            self.refresh_leeway_seconds,
            self.timeout_seconds,
            self.access_token,
            self.access_token_expires_at,
            self.access_token_issued_at,
            self.refresh_token,
            self.access_token_credentials,
        )
        cached = private.get("_source_cache")
        if cached is not None and cached[0] == identity:
            return cast(TokenSource, cached[1])
        source = self._build_source(document_id)
        self._source_cache = (identity, source)
        return source

    def _build_source(self, document_id: Any) -> TokenSource:
        endpoint = TokenEndpointConfig(
            token_url=self.token_url or f"{self.base_url}/oauth/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_method=self.token_endpoint_auth_method,
            body_format=self.token_request_format,
            timeout_seconds=self.timeout_seconds,
        )
        ours = self.credential_fingerprint()
        fields = {name: getattr(self, name) for name in TOKEN_FIELDS}
        store = (
            PrefectBlockStore(
                document_id,
                label=self.label,
                identity=self.credential_fingerprint,
                expected_identity=ours,
            )
            if document_id is not None
            else MemoryTokenStore()
        )
        return TokenSource(
            key=f"{document_id or 'unsaved'}:{ours}",
            endpoint=endpoint,
            label=self.label,
            scope=self.scope,
            leeway_seconds=self.refresh_leeway_seconds,
            store=store,
            seed=token_from_data(fields, ours),
            on_issued=lambda token, grant: emit_token_issued(self, token, grant),
        )

    def _remember(self, entry: CachedToken) -> TelnyxToken:
        token = entry.token
        if entry.origin != "memory" and self.access_token is not token.access_token:
            # Mirror the token on this instance, so a user's own save() keeps it too.
            self.access_token = token.access_token
            self.access_token_expires_at = token.expires_at
            self.access_token_issued_at = token.issued_at
            self.refresh_token = token.refresh_token
            self.access_token_credentials = self.credential_fingerprint()
        return token
