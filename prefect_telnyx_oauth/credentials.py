"""`TelnyxOAuthCredentials`: the Prefect Block that is the library's front door."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, cast
from uuid import UUID

import httpx
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.blocks.abstract import CredentialsBlock
from prefect.client.orchestration import PrefectClient, get_client
from prefect.exceptions import ObjectNotFound
from pydantic import (
    BeforeValidator,
    Field,
    HttpUrl,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from prefect_telnyx_oauth._block_source import (
    build_source,
    credential_parts,
    keep_saved_token,
    mirror,
)
from prefect_telnyx_oauth._form_rules import FORM_RULES
from prefect_telnyx_oauth._prefect_store import save_authorization
from telnyx_oauth._checks import (
    check_attempts,
    check_choice,
    check_client_id,
    check_client_secret,
    check_seconds,
)
from telnyx_oauth._identity import Parts
from telnyx_oauth._urls import require_secure_url
from telnyx_oauth.auth import TelnyxOAuth
from telnyx_oauth.errors import ConfigurationError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.settings import (
    AUTH_METHODS,
    BODY_FORMATS,
    DEFAULT_BASE_URL,
    TelnyxSettings,
    TokenEndpointAuthMethod,
    TokenRequestFormat,
)
from telnyx_oauth.token_cache import (
    DEFAULT_DEADLINE_SECONDS,
    CachedToken,
    TokenSource,
    default_cache,
)
from telnyx_oauth.token_client import AuthorizationCodeGrant, arequest_token

logger = logging.getLogger("prefect_telnyx_oauth.credentials")

_SLUG = "telnyx-oauth-credentials"
_loading: ContextVar[bool] = ContextVar("telnyx_oauth_loading", default=False)
_TOKEN_FIELDS = (
    "access_token",
    "access_token_expires_at",
    "access_token_issued_at",
    "refresh_token",
    "access_token_credentials",
    "access_token_scope",
)
_SECRET_FIELDS = ("client_secret", "access_token", "refresh_token", "access_token_credentials")


def _env(setting: str) -> Callable[[], Any]:
    """A field default read from the `TELNYX_*` environment when the block is built."""
    return lambda: getattr(TelnyxSettings(), setting)


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
    _block_type_slug: ClassVar[str] = _SLUG
    _logo_url = HttpUrl("https://developers.telnyx.com/img/logo.svg")
    _documentation_url = HttpUrl("https://github.com/prefect-telnyx-oauth/prefect-telnyx-oauth")
    _description: ClassVar[str] = (
        "Telnyx OAuth client credentials that hand out an always-valid bearer token, "
        "refreshed once for every flow run, process and worker that loads the block."
    )

    client_id: str = Field(description="The OAuth client id from the Telnyx portal.")
    client_secret: SecretStr = Field(
        description=(
            "The OAuth client secret from the Telnyx portal, without whitespace at the start or "
            "end (a copied line end?)."
        )
    )
    # A plain string schema: `str | None` would give the UI form a "str / None" toggle. So a
    # box left empty must mean None (the token URL's validator already does that for it).
    scope: Annotated[
        str | None, WithJsonSchema({"type": "string"}), BeforeValidator(lambda v: v or None)
    ] = Field(
        default_factory=_env("oauth_scope"),
        description="Space-separated scopes to request; leave empty for the client's default.",
    )
    base_url: str = Field(
        default_factory=_env("base_url"),
        description=(
            "The Telnyx API base URL; change it only for a proxy or the local emulator. https: "
            "plain http is allowed only for 127.0.0.1, ::1 and localhost."
        ),
        json_schema_extra={"default": DEFAULT_BASE_URL},
    )
    token_url: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        default_factory=_env("token_url"),
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
        default_factory=_env("refresh_leeway_seconds"),
        description=(
            "Refresh this many seconds before expiry (at most half the token's life); a token "
            "handed out always has at least half of this left."
        ),
        json_schema_extra={"default": 60.0},
    )
    timeout_seconds: float = Field(
        default_factory=_env("timeout_seconds"),
        description="Timeout of each request to the token endpoint, in seconds.",
        json_schema_extra={"default": 10.0},
    )
    token_max_attempts: int = Field(
        default_factory=_env("token_max_attempts"),
        description="Attempts per token request when the endpoint fails transiently (1 to 10).",
        json_schema_extra={"default": 3},
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
        default_factory=_env("token_deadline_seconds"),
        json_schema_extra={"default": DEFAULT_DEADLINE_SECONDS},
        description=(
            "The longest one token call may take, in seconds: waits for another worker's "
            "refresh, every attempt and every retry wait included."
        ),
    )
    discover_token_endpoint: bool = Field(
        default_factory=_env("discover_token_endpoint"),
        json_schema_extra={"default": False},
        description=(
            "Off (default): tokens are requested at the token URL, or the base URL plus "
            "'/oauth/token'. On, with no token URL: at the endpoint the server's OAuth metadata "
            "names, if its issuer is the base URL's origin and the endpoint is on that origin."
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
    access_token_scope: SkipJsonSchema[str | None] = Field(
        default=None, description="The scopes granted with the cached token; managed too."
    )

    # (id of the block it was built for, the source): kept until any attribute is assigned, so a
    # warm call builds nothing. The id guards against copies, which carry private state along.
    _source_cache: tuple[int, TokenSource] | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        # A typo in code does not pass; a document saved by an earlier version (with a field
        # since removed) still loads.
        unknown = sorted(set(data) - set(type(self).model_fields))
        if unknown and not _loading.get():
            close = difflib.get_close_matches(unknown[0], type(self).model_fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = (
                f"{unknown[0]!r} is not a field of TelnyxOAuthCredentials.{hint} The fields are: "
                f"{', '.join(type(self).model_fields)}."
            )
            raise ConfigurationError(msg)
        super().__init__(**data)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # The UI form then refuses what the validators below refuse, in their words.
        schema = super().model_json_schema(*args, **kwargs)
        schema["allOf"] = FORM_RULES
        return schema

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> TelnyxOAuthCredentials:
        # Every load builds the block here (by name or id, and Prefect's generic Block.load or a
        # block reference in a deployment's parameters): saved data, not a typo in code.
        loading = _loading.set(True)
        try:
            return super().model_validate(obj, *args, **kwargs)
        finally:
            _loading.reset(loading)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> TelnyxOAuthCredentials:
        """A copy; secrets given in `update` as plain strings stay `SecretStr` (pydantic's own
        `model_copy` does not validate `update`)."""
        wrapped = {
            name: SecretStr(value) if name in _SECRET_FIELDS and isinstance(value, str) else value
            for name, value in (update or {}).items()
        }
        return super().model_copy(update=wrapped or None, deep=deep)

    def __getstate__(self) -> dict[Any, Any]:
        # The kept token source holds callables of this process (it is rebuilt on first use):
        # without it the block pickles, for ProcessPoolExecutor and multiprocessing, with its
        # fields, so the token it carries is reused over there.
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private:
            state["__pydantic_private__"] = {**private, "_source_cache": None}
        return state

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SECRET_FIELDS and isinstance(value, str):
            value = (
                check_client_secret(value, name=name)
                if name == "client_secret"
                else (SecretStr(value))
            )
        if name == "grant_type" and value != self.__dict__.get("grant_type"):
            # Tokens of one grant act for another principal than the other's: never carried over.
            self.__dict__.update(dict.fromkeys(_TOKEN_FIELDS))
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

    @field_validator("token_max_attempts", mode="before")
    @classmethod
    def _attempts(cls, value: Any) -> int:
        return check_attempts("token_max_attempts", value)

    @field_validator(
        "token_endpoint_auth_method", "token_request_format", "grant_type", mode="before"
    )
    @classmethod
    def _choice(cls, value: Any, info: ValidationInfo) -> str:
        choices = {
            "token_endpoint_auth_method": AUTH_METHODS,
            "token_request_format": BODY_FORMATS,
            "grant_type": ("client_credentials", "authorization_code"),
        }
        return check_choice(str(info.field_name), value, choices[str(info.field_name)])

    @classmethod
    def from_env(cls, **overrides: Any) -> TelnyxOAuthCredentials:
        """Build credentials from `TELNYX_*` variables; keyword arguments take precedence.

        Every other field takes its `TELNYX_*` variable when it is set, as any block built in code
        does (see `docs/configuration.md` for the precedence).

        Raises:
            ConfigurationError: `TELNYX_CLIENT_ID` or `TELNYX_CLIENT_SECRET` is not set, or a
                variable holds a bad value (the message names it).
        """
        settings = TelnyxSettings()
        values: dict[str, Any] = {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
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
        cached = self.__pydantic_private__["_source_cache"]  # type: ignore[index]
        if cached is not None and cached[0] == id(self):
            source: TokenSource = cached[1]
        else:  # the first call per identity hashes its stamp (~50 ms): not on this loop
            source = await asyncio.to_thread(self._token_source)
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
        # The exchange and the save each end within their own deadlines; this adds a margin.
        return default_cache.run(exchange, timeout=self.token_deadline_seconds + 45)

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
        # Kept in this process first: the code is spent, and a failed save must not lose tokens.
        self._remember(default_cache.land(source, token, "authorization_code"))
        document_id = (self.__pydantic_private__ or {}).get("_block_document_id")
        if document_id is not None:
            assert source.stamp is not None
            await save_authorization(document_id, token, source.stamp)
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
        return credential_parts(data if data is not None else self.__dict__)

    def _token_source(self) -> TokenSource:
        # The source is kept until an attribute is assigned (__setattr__ drops it); private
        # attributes are read from pydantic's dict directly, since BaseModel.__getattr__ costs
        # more than the whole cache look-up.
        private = self.__pydantic_private__
        cached = private.get("_source_cache") if private is not None else None
        if cached is not None and cached[0] == id(self):
            return cached[1]  # type: ignore[no-any-return]
        source = build_source(self)
        self._source_cache = (id(self), source)
        return source

    def _remember(self, entry: CachedToken) -> TelnyxToken:
        mirror(self, entry)
        return entry.token

    # -- saving --------------------------------------------------------------------------------

    async def asave(
        self,
        name: str | None = None,
        overwrite: bool = False,
        client: PrefectClient | None = None,
        *,
        disconnect: bool = False,
    ) -> UUID:
        """Save the block; with `overwrite=True`, keep what the saved document holds for the same
        credentials: its token (a script that saves before every run still makes one token
        request) and a Telnyx user's connection (`authorize`).

        Args:
            name: The block name; the name it was loaded or saved under by default.
            overwrite: Replace a saved block of that name.
            client: The Prefect client to save with.
            disconnect: Drop the saved user connection on purpose (the block then acts as the
                OAuth client, or waits for `authorize` again).

        Raises:
            ConfigurationError: the saved block is connected to a Telnyx user and this save would
                drop that connection (other client credentials or scope, or `grant_type` set to
                client_credentials) without `disconnect=True`. Nothing is saved.
        """
        target = name or self._block_document_name
        if overwrite and target:
            async with get_client() as reader:
                with contextlib.suppress(ObjectNotFound):
                    saved = await reader.read_block_document_by_name(target, _SLUG)
                    keep_saved_token(self, dict(saved.data), name=target, disconnect=disconnect)
        return await super().asave(name, overwrite=overwrite, client=client)

    @async_dispatch(asave)
    def save(
        self,
        name: str | None = None,
        overwrite: bool = False,
        client: PrefectClient | None = None,
        *,
        disconnect: bool = False,
    ) -> UUID:
        """Sync twin of `asave` (in async code, `save` dispatches to `asave`)."""
        target = name or self._block_document_name
        if overwrite and target:
            with get_client(sync_client=True) as reader, contextlib.suppress(ObjectNotFound):
                saved = reader.read_block_document_by_name(target, _SLUG)
                keep_saved_token(self, dict(saved.data), name=target, disconnect=disconnect)
        saving = super().save(name, overwrite=overwrite, client=client, _sync=True)  # type: ignore[call-arg]
        return cast(UUID, saving)
