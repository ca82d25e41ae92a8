"""`TelnyxOAuthCredentials`: the Prefect Block that is the library's front door."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, HttpUrl, PrivateAttr, SecretStr, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from prefect_telnyx_oauth._checks import check_client_id, check_client_secret, check_seconds
from prefect_telnyx_oauth._identity import Parts, credential_stamp, identity_key
from prefect_telnyx_oauth._prefect_store import (
    TOKEN_FIELDS,
    PrefectBlockStore,
    save_authorization,
    token_from_data,
)
from prefect_telnyx_oauth._urls import require_secure_url
from prefect_telnyx_oauth.auth import TelnyxOAuth
from prefect_telnyx_oauth.errors import ConfigurationError, TokenStoreError
from prefect_telnyx_oauth.events import emit_token_issued
from prefect_telnyx_oauth.models import TelnyxToken
from prefect_telnyx_oauth.settings import (
    DEFAULT_BASE_URL,
    TelnyxSettings,
    TokenEndpointAuthMethod,
    TokenRequestFormat,
)
from prefect_telnyx_oauth.token_cache import (
    DEFAULT_DEADLINE_SECONDS,
    CachedToken,
    TokenSource,
    default_cache,
)
from prefect_telnyx_oauth.token_client import (
    AuthorizationCodeGrant,
    TokenEndpointConfig,
    arequest_token,
)
from prefect_telnyx_oauth.token_store import MemoryTokenStore

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
    _logo_url = HttpUrl("https://www.telnyx.com/favicon.ico")
    _documentation_url = HttpUrl("https://github.com/prefect-telnyx-oauth/prefect-telnyx-oauth")
    _description: ClassVar[str] = (
        "Telnyx OAuth client credentials that hand out an always-valid bearer token, "
        "refreshed once for every flow run, process and worker that loads the block."
    )

    client_id: str = Field(description="The OAuth client id from the Telnyx portal.")
    client_secret: SecretStr = Field(description="The OAuth client secret from the Telnyx portal.")
    scope: str | None = Field(
        default=None,
        description="Space-separated scopes to request; leave empty for the client's default.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The Telnyx API base URL; change it only for a proxy or the local emulator.",
    )
    token_url: str | None = Field(
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
    grant_type: Literal["client_credentials", "authorization_code"] = Field(
        default="client_credentials",
        description=(
            "client_credentials: tokens for the OAuth client itself. authorization_code: tokens "
            "for a Telnyx user who connected the account once with `prefect-telnyx-oauth "
            "authorize`; they are refreshed with the refresh token, never replaced by "
            "client_credentials."
        ),
    )
    token_deadline_seconds: float = Field(
        default=DEFAULT_DEADLINE_SECONDS,
        description=(
            "The longest one token call may take, in seconds: waits for another worker's "
            "refresh, every attempt and every retry wait included."
        ),
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
    access_token_credentials: SkipJsonSchema[SecretStr | None] = Field(
        default=None,
        description="A salted stamp of the credentials the cached token belongs to; managed too.",
    )

    # (id of the block it was built for, the source): kept until any attribute is assigned, so a
    # warm call builds nothing. The id guards against copies, which carry private state along.
    _source_cache: tuple[int, TokenSource] | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_source_cache":
            private = self.__pydantic_private__
            if private is not None:
                private["_source_cache"] = None
        super().__setattr__(name, value)

    @field_validator("client_id")
    @classmethod
    def _client_id_present(cls, value: str) -> str:
        return check_client_id(value)

    @field_validator("client_secret")
    @classmethod
    def _secret_present(cls, value: SecretStr) -> SecretStr:
        return check_client_secret(value)

    @field_validator("base_url")
    @classmethod
    def _secure_base_url(cls, value: str) -> str:
        return require_secure_url(value, name="base_url")

    @field_validator("token_url")
    @classmethod
    def _secure_token_url(cls, value: str | None) -> str | None:
        return None if not value else require_secure_url(value, name="token_url")

    @field_validator(
        "refresh_leeway_seconds", "timeout_seconds", "token_deadline_seconds", mode="before"
    )
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> float:
        name = str(info.field_name)
        return check_seconds(name, value, allow_zero=name == "refresh_leeway_seconds")

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
            "token_deadline_seconds": settings.token_deadline_seconds,
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
        # The warm path, inlined: the kept source, one cache look-up, no rebuild, no copy.
        cached = self.__pydantic_private__["_source_cache"]  # type: ignore[index]
        source = cached[1] if cached is not None and cached[0] == id(self) else None
        source = source or self._token_source()
        entry = None if force_refresh else default_cache.hit(source)
        if entry is None:
            entry = default_cache.get(source, force_refresh=force_refresh)
        token = entry.token
        if self.__dict__["access_token"] is not token.access_token:
            self._remember(entry)
        return token

    async def aget_token(self, force_refresh: bool = False) -> TelnyxToken:
        """Async twin of `get_token`; never blocks the event loop."""
        source = self._token_source()
        entry = None if force_refresh else default_cache.hit(source)
        if entry is None:
            entry = await default_cache.aget(source, force_refresh=force_refresh)
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

    def exchange_authorization_code(
        self, code: str, redirect_uri: str, code_verifier: str, *, token_url: str | None = None
    ) -> TelnyxToken:
        """Trade an authorization code (with its PKCE verifier) for tokens, and keep them.

        The tokens go to the block document when the block is saved (only the token fields and
        `grant_type` are written), and to this process's cache either way; the block switches to
        `grant_type="authorization_code"`. `prefect-telnyx-oauth authorize` calls this.

        Raises:
            InvalidGrantError: the code is used or expired, or the verifier or redirect URI do not
                match the authorize request.
        """
        exchange = self.aexchange_authorization_code(
            code, redirect_uri, code_verifier, token_url=token_url
        )
        return default_cache.run(exchange)

    async def aexchange_authorization_code(
        self, code: str, redirect_uri: str, code_verifier: str, *, token_url: str | None = None
    ) -> TelnyxToken:
        """Async twin of `exchange_authorization_code`."""
        if self.grant_type != "authorization_code":
            self.grant_type = "authorization_code"
        source = self._token_source()
        endpoint = source.endpoint
        if token_url:
            endpoint = dataclasses.replace(endpoint, token_url=token_url)
        grant = AuthorizationCodeGrant(code, redirect_uri, code_verifier)
        token = await arequest_token(endpoint, grant, deadline_seconds=source.deadline_seconds)
        document_id = (self.__pydantic_private__ or {}).get("_block_document_id")
        if document_id is not None:
            assert source.stamp is not None
            await save_authorization(document_id, token, source.stamp)
        self._remember(default_cache.land(source, token, "authorization_code"))
        return token

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

    def credential_parts(self, data: dict[str, Any] | None = None) -> Parts:
        """What a token belongs to: token URL, client id, client secret and scope.

        Args:
            data: Block data (a saved document's); this block's own fields by default.
        """
        values = data if data is not None else self.__dict__
        secret = values.get("client_secret")
        if isinstance(secret, SecretStr):
            secret = secret.get_secret_value()
        base_url = str(values.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        token_url = values.get("token_url") or f"{base_url}/oauth/token"
        return (token_url, values.get("client_id"), secret, values.get("scope"))

    def _token_source(self) -> TokenSource:
        # Called on every token request. The source is kept until an attribute is assigned
        # (__setattr__ drops it); private attributes are read from pydantic's dict directly,
        # since BaseModel.__getattr__ costs more than the whole cache look-up.
        private = self.__pydantic_private__
        cached = private.get("_source_cache") if private is not None else None
        if cached is not None and cached[0] == id(self):
            return cached[1]  # type: ignore[no-any-return]
        source = self._build_source()
        self._source_cache = (id(self), source)
        return source

    def _build_source(self) -> TokenSource:
        document_id = (self.__pydantic_private__ or {}).get("_block_document_id")
        endpoint = TokenEndpointConfig(
            token_url=self.token_url or f"{self.base_url}/oauth/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_method=self.token_endpoint_auth_method,
            body_format=self.token_request_format,
            timeout_seconds=self.timeout_seconds,
        )
        parts = self.credential_parts()
        key = identity_key(parts)
        fields = {name: getattr(self, name) for name in TOKEN_FIELDS}
        existing = self.access_token_credentials
        stamp = credential_stamp(parts, existing.get_secret_value() if existing else None, key)
        try:
            seed = token_from_data(fields, parts, key)
        except TokenStoreError:
            seed = None  # malformed fields on this copy: the token is simply requested again
        store = (
            PrefectBlockStore(
                document_id,
                label=self.label,
                parts_of=self.credential_parts,
                parts=parts,
                stamp=stamp,
            )
            if document_id is not None
            else MemoryTokenStore()
        )
        name = (self.__pydantic_private__ or {}).get("_block_document_name") or "NAME"
        return TokenSource(
            key=f"{document_id or 'unsaved'}:{key}",
            user_grant=self.grant_type == "authorization_code",
            reconnect_hint=(
                f"Run `prefect-telnyx-oauth authorize --block {name}` to connect the Telnyx "
                "account again."
            ),
            endpoint=endpoint,
            label=self.label,
            scope=self.scope,
            leeway_seconds=self.refresh_leeway_seconds,
            deadline_seconds=self.token_deadline_seconds,
            store=store,
            seed=seed,
            stamp=stamp,
            on_issued=lambda token, grant: emit_token_issued(self, token, grant),
        )

    def _remember(self, entry: CachedToken) -> TelnyxToken:
        token = entry.token
        if self.access_token is not token.access_token and entry.stamp is not None:
            # Mirror the token on this instance, so a user's own save() keeps it too. The stamp
            # is the one of the credentials that produced the token, not of today's fields.
            # Written past __setattr__: a new token is no reason to rebuild the token source.
            self.__dict__.update(
                access_token=token.access_token,
                access_token_expires_at=token.expires_at,
                access_token_issued_at=token.issued_at,
                refresh_token=token.refresh_token,
                access_token_credentials=SecretStr(entry.stamp),
            )
        return token
