"""The token store of a saved block: its block document on the Prefect API.

Reads and writes touch only the token fields (a merging partial update, never
`save(overwrite=True)`, which would revert credentials edited in the UI meanwhile). The
cross-process refresh lock is a global concurrency limit of 1 named after the block document:
created when missing, and never skipped when missing (the strict behaviour), so a refresh is
never silently unlocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import BlockDocumentUpdate, GlobalConcurrencyLimitCreate
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from pydantic import SecretStr

from telnyx_oauth._identity import Parts, identity_key, stamp_matches
from telnyx_oauth.errors import TokenStoreError, TokenStoreUnavailableError
from telnyx_oauth.models import TelnyxToken
from telnyx_oauth.token_store import TokenStoreSession

logger = logging.getLogger("prefect_telnyx_oauth.store")

SAVE_SECONDS = 30.0
"""The longest saving a connected account's tokens may take."""

LEASE_SECONDS = 60.0
"""The lock's lease: Prefect's minimum. A killed holder blocks refreshes for at most this long."""

TOKEN_FIELDS = (
    "access_token",
    "access_token_expires_at",
    "access_token_issued_at",
    "refresh_token",
    "access_token_credentials",
    "access_token_scope",
)
"""The block's token cache fields. `access_token_credentials` is the salted stamp of the
credentials the token was issued to (`_identity.py`): a token is only ever used with those same
credentials."""


def lock_name(document_id: UUID) -> str:
    """The global concurrency limit that serialises refreshes of one block document."""
    return f"telnyx-oauth-refresh-{document_id}"


def token_from_data(
    data: dict[str, Any], parts: Parts, key: str | None = None
) -> TelnyxToken | None:
    """The token in block data (a document or a block's fields), if it belongs to `parts`.

    Returns None when there is no complete token, or when it was issued to other credentials
    (say, before a secret was rotated in the UI, or under an older stamp): such a token must
    never be used, and is simply requested again.

    Raises:
        TokenStoreError: the token fields are there but malformed (a date that is not a date).
    """
    access = data.get("access_token")
    expires_at = data.get("access_token_expires_at")
    stamp = data.get("access_token_credentials")
    if isinstance(stamp, SecretStr):
        stamp = stamp.get_secret_value()
    if not access or not expires_at or not isinstance(stamp, str):
        return None
    if not stamp_matches(stamp, parts, key):
        return None
    refresh = data.get("refresh_token")
    issued_at = data.get("access_token_issued_at")
    scope = data.get("access_token_scope")
    try:
        return TelnyxToken(
            access_token=_secret(access),
            expires_at=_aware(expires_at),
            issued_at=_aware(issued_at) if issued_at else None,
            refresh_token=_secret(refresh) if refresh else None,
            scope=scope if isinstance(scope, str) and scope else None,
        )
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        msg = (
            "the stored token fields are malformed (access_token_expires_at or "
            f"access_token_issued_at is not an aware ISO date: {type(exc).__name__}); the token "
            "is requested again and the fields overwritten"
        )
        raise TokenStoreError(msg) from None


def token_to_data(token: TelnyxToken, stamp: str) -> dict[str, Any]:
    """The token fields of the block document, as plain JSON values."""
    return {
        "access_token_credentials": stamp,
        "access_token": token.access_token.get_secret_value(),
        "access_token_expires_at": token.expires_at.isoformat(),
        "access_token_issued_at": token.issued_at.isoformat() if token.issued_at else None,
        "refresh_token": token.refresh_token.get_secret_value() if token.refresh_token else None,
        "access_token_scope": token.scope,
    }


def _secret(value: Any) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(str(value))


def _aware(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when


class PrefectBlockStore:
    """Tokens of one saved block document, shared by every process that loads it.

    Args:
        document_id: The block document's id.
        label: The block name, for log lines.
        parts_of: A function of block data returning its credential parts; a document whose
            credentials differ from ours (edited in the UI since we loaded it) is neither read nor
            written, so a token is never paired with another secret.
        parts: Our own credential parts.
        stamp: The credential stamp our tokens are saved with.
        grant_type: Our grant; a document switched to the other grant acts for another principal,
            and is treated like one with other credentials.
    """

    def __init__(
        self,
        document_id: UUID,
        *,
        label: str,
        parts_of: Callable[[dict[str, Any]], Parts],
        parts: Parts,
        stamp: str,
        grant_type: str = "client_credentials",
    ) -> None:
        self.document_id = document_id
        self.label = label
        self.parts_of = parts_of
        self.parts = parts
        self.key = identity_key(parts)
        self.stamp = stamp
        self.grant_type = grant_type

    @asynccontextmanager
    async def session(self) -> AsyncIterator[TokenStoreSession]:
        client = await _call(_open_client())
        try:
            yield _PrefectSession(self, client)
        finally:
            await client.__aexit__(None, None, None)


async def _open_client() -> PrefectClient:
    client = get_client()
    await client.__aenter__()
    return client


class _PrefectSession:
    def __init__(self, store: PrefectBlockStore, client: PrefectClient) -> None:
        self._store = store
        self._client = client
        self._foreign = False
        self._limit_checked = False

    async def read(self) -> TelnyxToken | None:
        store = self._store
        document = await _call(self._client.read_block_document(store.document_id))
        data = dict(document.data)
        other_grant = data.get("grant_type", "client_credentials") != store.grant_type
        if other_grant or identity_key(store.parts_of(data)) != store.key:
            if not self._foreign:
                logger.warning(
                    "block document %r has other credentials than this copy (edited since it "
                    "was loaded?); its token is not used or overwritten from here. Reload the "
                    "block to pick up the change.",
                    self._store.label,
                )
            self._foreign = True
            return None
        try:
            return token_from_data(data, store.parts, store.key)
        except TokenStoreError as exc:
            logger.warning("block document %r: %s.", store.label, exc)
            return None

    async def write(self, token: TelnyxToken) -> None:
        if self._foreign:
            return
        data = token_to_data(token, self._store.stamp)
        update = BlockDocumentUpdate(data=data, merge_existing_data=True)
        await _call(self._client.update_block_document(self._store.document_id, update))
        logger.debug("saved the new token's fields to block document %r", self._store.label)

    async def try_lock(self) -> object | None:
        name = lock_name(self._store.document_id)
        if not self._limit_checked:
            await self._ensure_limit(name)
            self._limit_checked = True
        try:
            response = await _call(
                self._client.increment_concurrency_slots_with_lease(
                    names=[name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
                )
            )
        except _Locked:
            return None
        lease = _lease_id(response)
        body = response.json()
        if not body.get("limits"):  # deleted since we checked: never refresh unlocked
            await self.unlock(lease)
            msg = f"the concurrency limit {name!r} disappeared; it is re-created next time"
            raise TokenStoreUnavailableError(msg)
        return lease

    async def unlock(self, lease: object) -> None:
        assert isinstance(lease, UUID)
        try:
            await self._client.release_concurrency_slots_with_lease(lease)
        except Exception as exc:  # the lease expires by itself; never fail a good refresh here
            logger.warning("could not release refresh lock of %r: %s", self._store.label, exc)

    async def renew(self, lease: object) -> None:
        assert isinstance(lease, UUID)
        try:
            await self._client.renew_concurrency_lease(lease, LEASE_SECONDS)
        except Exception as exc:  # at worst another process refreshes too
            logger.warning("could not renew refresh lock of %r: %s", self._store.label, exc)

    async def _read_limit(self, name: str) -> GlobalConcurrencyLimitResponse | None:
        try:
            return await self._client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None

    async def _ensure_limit(self, name: str) -> None:
        """Create the lock's limit if missing; refuse an inactive one, which locks nothing."""
        limit = await _call(self._read_limit(name))
        if limit is None:
            with contextlib.suppress(ObjectAlreadyExists):  # another process created it first
                await _call(
                    self._client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=1)
                    )
                )
            return
        if not limit.active or limit.limit != 1:
            msg = (
                f"the concurrency limit {name!r} is inactive or not 1 (active={limit.active}, "
                f"limit={limit.limit}), so it cannot serialise refreshes. Set it active with "
                "limit 1, or delete it to have it re-created"
            )
            raise TokenStoreUnavailableError(msg)


def _lease_id(response: httpx.Response) -> UUID:
    try:
        return UUID(str(response.json()["lease_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"the Prefect API answered a lock request without a lease id ({type(exc).__name__})"
        raise TokenStoreUnavailableError(msg) from None


class _Locked(Exception):
    """The refresh lock is held by another process (HTTP 423)."""


async def _call(awaitable: Any) -> Any:
    """Await a Prefect API call; a failure to reach it becomes `TokenStoreUnavailableError`."""
    try:
        return await awaitable
    except ObjectNotFound:
        msg = "the block document no longer exists; re-save the block"
        raise TokenStoreUnavailableError(msg) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status == httpx.codes.LOCKED:
            raise _Locked from None
        msg = f"the Prefect API answered {status}"
        raise TokenStoreUnavailableError(msg) from None
    except ValueError as exc:  # a proxy's or login page's HTML, or JSON of another shape
        msg = (
            f"the Prefect API answered something that is not Prefect's JSON "
            f"({type(exc).__name__}); check PREFECT_API_URL"
        )
        raise TokenStoreUnavailableError(msg) from None
    except (httpx.TransportError, OSError) as exc:
        msg = (
            f"the Prefect API could not be reached ({type(exc).__name__}); check PREFECT_API_URL "
            "and PREFECT_API_KEY"
        )
        raise TokenStoreUnavailableError(msg) from None


async def save_authorization(document_id: UUID, token: TelnyxToken, stamp: str) -> None:
    """Write the tokens of a connected account, and the grant they need, to a block document.

    Raises:
        TokenStoreUnavailableError: the Prefect API could not be reached in time (30 s) or the
            block is gone.
    """
    data = token_to_data(token, stamp) | {"grant_type": "authorization_code"}
    update = BlockDocumentUpdate(data=data, merge_existing_data=True)

    async def save() -> None:
        async with get_client() as client:
            await _call(client.update_block_document(document_id, update))

    try:
        await asyncio.wait_for(save(), SAVE_SECONDS)
    except asyncio.TimeoutError:
        msg = f"the Prefect API did not answer within {SAVE_SECONDS:g} s; check PREFECT_API_URL"
        raise TokenStoreUnavailableError(msg) from None
