"""What the block hands the token core: its `TokenSource`, built once per identity, and back.

Kept out of `credentials.py` so the Block stays its fields and thin methods. The source names the
block's document (for the shared store), its credential key and salted stamp (`_identity.py`),
and the token already in its fields (the seed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from prefect_telnyx_oauth._prefect_store import TOKEN_FIELDS, PrefectBlockStore, token_from_data
from prefect_telnyx_oauth._version import __version__
from prefect_telnyx_oauth.events import emit_token_failed, emit_token_issued
from telnyx_oauth._identity import Parts, credential_stamp, identity_key
from telnyx_oauth.errors import ConfigurationError, TokenStoreError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.settings import DEFAULT_BASE_URL
from telnyx_oauth.token_cache import CachedToken, TokenSource
from telnyx_oauth.token_client import TokenEndpointConfig
from telnyx_oauth.token_store import MemoryTokenStore

if TYPE_CHECKING:
    from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials


def credential_parts(values: dict[str, Any]) -> Parts:
    """What a token belongs to, from block data: token URL, client id, client secret, scope."""
    secret = values.get("client_secret")
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    base_url = str(values.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    token_url = values.get("token_url") or f"{base_url}/oauth/token"
    return (token_url, values.get("client_id"), secret, values.get("scope"))


def configuration(block: TelnyxOAuthCredentials) -> dict[str, Any]:
    """Every field but the token cache: what an edit in the UI can change (secrets compare by
    value)."""
    return {name: value for name, value in block.__dict__.items() if name not in TOKEN_FIELDS}


def build_source(block: TelnyxOAuthCredentials) -> TokenSource:
    """The block's `TokenSource`; ~50 ms the first time an identity is seen (the scrypt stamp)."""
    private = block.__pydantic_private__ or {}
    document_id = private.get("_block_document_id")
    endpoint = TokenEndpointConfig(
        token_url=block.token_url or f"{block.base_url}/oauth/token",
        client_id=block.client_id,
        client_secret=block.client_secret,
        auth_method=block.token_endpoint_auth_method,
        body_format=block.token_request_format,
        timeout_seconds=block.timeout_seconds,
        max_attempts=block.token_max_attempts,
        user_agent_product=f"prefect-telnyx-oauth/{__version__}",
    )
    parts = credential_parts(block.__dict__)
    key = identity_key(parts)
    # The grant is part of who the token acts for (the client, or a connected user), so of the
    # cache key; it is not part of the stored stamp, which only says which credentials asked.
    principal = identity_key((*parts, block.grant_type))
    existing = block.access_token_credentials
    stamp = credential_stamp(parts, existing.get_secret_value() if existing else None, key)
    try:
        seed = token_from_data({name: getattr(block, name) for name in TOKEN_FIELDS}, parts, key)
    except TokenStoreError:
        seed = None  # malformed fields on this copy: the token is simply requested again
    store = (
        PrefectBlockStore(
            document_id,
            label=block.label,
            parts_of=credential_parts,
            parts=parts,
            stamp=stamp,
            grant_type=block.grant_type,
        )
        if document_id is not None
        else MemoryTokenStore()
    )
    name = private.get("_block_document_name") or "NAME"
    return TokenSource(
        key=f"{document_id or 'unsaved'}:{principal}",
        endpoint=endpoint,
        label=block.label,
        scope=block.scope,
        leeway_seconds=block.refresh_leeway_seconds,
        deadline_seconds=block.token_deadline_seconds,
        store=store,
        seed=seed,
        stamp=stamp,
        on_issued=lambda token, grant: emit_token_issued(block, token, grant),
        on_failed=lambda error: emit_token_failed(
            error,
            document_id=document_id,
            block_name=private.get("_block_document_name"),
            client_id=block.client_id,
            grant=block.grant_type,
            secrets=(block.client_secret, block.access_token, block.refresh_token),
        ),
        # Discovery only when asked for: else tokens go to base_url + /oauth/token, as documented.
        discover_from=block.base_url
        if block.discover_token_endpoint and not block.token_url
        else None,
        user_grant=block.grant_type == "authorization_code",
        reconnect_hint=(
            f"Run `prefect-telnyx-oauth authorize --block {name}` to connect the Telnyx account "
            "again."
        ),
    )


def mirror(block: TelnyxOAuthCredentials, entry: CachedToken) -> None:
    """Copy a token onto the block's fields, so a user's own save() keeps it too.

    The stamp is the one of the credentials that produced the token, not of today's fields. It is
    written past `__setattr__`: a new token is no reason to rebuild the token source.
    """
    token = entry.token
    if entry.stamp is None or block.__dict__.get("access_token") is token.access_token:
        return
    _set_token_fields(block, token, entry.stamp)


def keep_saved_token(
    block: TelnyxOAuthCredentials,
    saved: dict[str, Any] | None,
    *,
    name: str,
    disconnect: bool = False,
) -> None:
    """Before `save(overwrite=True)`: carry over what the saved document holds for the same
    credentials: its token, and the connection of a Telnyx user (`authorize`).

    A block rebuilt from the environment holds no token and the default grant, and overwriting
    would drop what its saved document holds: every run of a script that saves first would
    request a new token, and a connected block would silently act as the OAuth client from then
    on. Changed credentials keep nothing: their token belongs to the old ones.

    Raises:
        ConfigurationError: the saved block is connected to a user, and this save would drop that
            connection (other client credentials, another scope, or `grant_type` set to
            client_credentials), unless `disconnect` says it is meant. Nothing is saved.
    """
    if saved is None:
        return
    if saved.get("grant_type") == "authorization_code" and not disconnect:
        _keep_connection(block, saved, name)
    if saved.get("grant_type", "client_credentials") != block.grant_type:
        return  # a connected user's token is never kept for the client itself, nor the reverse
    parts = credential_parts(block.__dict__)
    if identity_key(credential_parts(saved)) != identity_key(parts):
        return
    try:
        token = token_from_data(saved, parts)
    except TokenStoreError:
        return
    stamp = saved.get("access_token_credentials")
    if token is None or stamp is None:
        return
    held_at = block.access_token_issued_at if block.access_token is not None else None
    if held_at is not None and (token.issued_at is None or token.issued_at <= held_at):
        return  # this copy holds the same token or a newer one
    # The document holds a newer token (another run refreshed since this copy was loaded): with
    # rotation, writing this copy's token back would restore a retired refresh token.
    _set_token_fields(block, token, stamp)
    (block.__pydantic_private__ or {})["_source_cache"] = None  # its seed is this token now


def _keep_connection(block: TelnyxOAuthCredentials, saved: dict[str, Any], name: str) -> None:
    """Make `block` the saved user connection again, or refuse the save that would drop it."""
    ours, theirs = credential_parts(block.__dict__), credential_parts(saved)
    # A scope left empty keeps the one the user granted; a different one is another consent.
    # Scopes are a set (RFC 6749 §3.3): the same ones in another order are the same consent.
    same_scope = block.scope is None or set(block.scope.split()) == set((theirs[3] or "").split())
    explicit_client = "grant_type" in block.model_fields_set and block.grant_type != (
        "authorization_code"
    )
    if ours[:3] != theirs[:3] or not same_scope or explicit_client:
        change = (
            "other client credentials (client_id, client_secret or token URL)"
            if ours[:3] != theirs[:3]
            else "another scope"
            if not same_scope
            else "grant_type 'client_credentials'"
        )
        msg = (
            f"Block {name!r} is connected to a Telnyx user (grant_type 'authorization_code', "
            f"from `prefect-telnyx-oauth authorize --block {name}`); saving it with {change} "
            "would drop that connection, and its runs would act as the OAuth client instead. "
            "Nothing was saved. To keep the user, save the same client credentials and scope. "
            "To drop the connection on purpose, pass disconnect=True to save() (on the command "
            f"line: create-block --overwrite --disconnect), then run `prefect-telnyx-oauth "
            f"authorize --block {name}` to connect a user again."
        )
        raise ConfigurationError(msg)
    if block.grant_type == "authorization_code" and block.scope == theirs[3]:
        return  # this copy already is the connection (loaded, maybe refreshed since)
    # Past __setattr__, which would also clear the token fields: set right below.
    block.__dict__.update(grant_type="authorization_code", scope=theirs[3])
    block.__dict__.update(dict.fromkeys(TOKEN_FIELDS))
    (block.__pydantic_private__ or {})["_source_cache"] = None


def _set_token_fields(block: TelnyxOAuthCredentials, token: TelnyxToken, stamp: Any) -> None:
    block.__dict__.update(
        access_token=token.access_token,
        access_token_expires_at=token.expires_at,
        access_token_issued_at=token.issued_at,
        refresh_token=token.refresh_token,
        access_token_credentials=stamp if isinstance(stamp, SecretStr) else SecretStr(stamp),
        access_token_scope=token.scope,
    )
