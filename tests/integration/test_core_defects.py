"""The token core's defects found in review (issue "The token core, rebuilt"), one test each.

Each test failed on the core before the rebuild: it hung, leaked, or handed out the wrong token.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentUpdate
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from prefect_telnyx_oauth import (
    TelnyxOAuthCredentials,
    TokenEndpointUnavailableError,
    get_telnyx_token,
)
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import TelnyxToken, utc_now
from telnyx_oauth.token_cache import TokenCache, default_cache
from tests.integration.helpers import make_block
from tests.secret_scan import secret_scan_fixture  # noqa: F401
from tests.stores import OneTokenStore

pytestmark = pytest.mark.usefixtures("secret_scan")


def _eventually(check: Any, seconds: float = 20) -> bool:
    """Poll `check()` until it is true or `seconds` pass; a bound, never a timing assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def _in_thread(target: Any, seconds: float = 30) -> list[Any]:
    """Run `target` in a daemon thread; its result, or [] if it hung past `seconds`."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(target()), daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    return outcome


# 1. No self-deadlock when a flight lands before its caller registers for it.


def test_cache_does_not_hang_when_the_refresh_lands_before_submit_returns(
    emulator: TelnyxEmulator,
) -> None:
    cache = TokenCache()
    submit = cache._runner.submit

    def submit_and_wait(coro: Any) -> Any:
        future = submit(coro)
        future.result(timeout=20)  # the flight has landed before anyone could register for it
        return future

    cache._runner.submit = submit_and_wait  # type: ignore[method-assign]
    source = make_block(emulator)._token_source()
    assert _in_thread(lambda: cache.get(source).token), "get() hung"
    assert _in_thread(lambda: cache.get(source).token), "a later get() hung"
    assert emulator.counters.token_requests == 1


# 2. A streamed body is read first, so the retry after a 401 can send it again.


def _chunks() -> Iterator[bytes]:
    yield b'{"from": "+15550001111", '
    yield b'"to": "+15550002222", "text": "streamed"}'


async def _achunks() -> AsyncIterator[bytes]:
    for chunk in _chunks():
        yield chunk


def test_sync_client_resends_a_streamed_body_after_a_401(emulator: TelnyxEmulator) -> None:
    block = make_block(emulator)
    with block.get_client() as client:
        client.get("/balance").raise_for_status()
        emulator.revoke_all_tokens()  # the cached token now gets a 401
        response = client.post("/messages", content=_chunks())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["text"] == "streamed"
    assert emulator.counters.token_requests == 2


async def test_async_client_resends_a_streamed_body_after_a_401(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    async with block.get_async_client() as client:
        (await client.get("/balance")).raise_for_status()
        emulator.revoke_all_tokens()
        response = await client.post("/messages", content=_achunks())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["text"] == "streamed"


# 3. The leeway is the caller's, not the first cache entry's.


def test_each_caller_refreshes_at_its_own_leeway(emulator_factory: Any) -> None:
    emulator = emulator_factory(token_ttl_seconds=1000)
    clock = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    cache = TokenCache(now=lambda: clock[0])
    patient = make_block(emulator, refresh_leeway_seconds=0)._token_source()
    eager = make_block(emulator, refresh_leeway_seconds=250)._token_source()
    assert patient.key == eager.key  # one identity, one cache entry
    first = cache.get(patient).token
    clock[0] += timedelta(seconds=800)  # 200 s left: inside 250, outside 0
    assert cache.get(patient).token == first
    assert emulator.counters.token_requests == 1
    cache.get(eager)
    assert _eventually(lambda: emulator.counters.token_requests == 2)
    assert _eventually(lambda: cache.get(eager).token != first)


# 4. A forced refresh never hands back the token it was asked to replace.


class _SlowStore(OneTokenStore):
    """A store holding one token; its first read waits until the test lets it go."""

    def __init__(self, token: TelnyxToken) -> None:
        super().__init__(token)
        self.reading = threading.Event()
        self.release = threading.Event()

    async def read(self) -> TelnyxToken | None:
        if not self.release.is_set():
            self.reading.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return self.token


def test_forced_refresh_never_joins_a_flight_that_returns_the_replaced_token(
    emulator: TelnyxEmulator,
) -> None:
    now = utc_now()
    stale = TelnyxToken(
        access_token=SecretStr("the-token-that-got-a-401-0123456789"),
        expires_at=now + timedelta(hours=1),
        issued_at=now,
    )
    store = _SlowStore(stale)
    base = make_block(emulator)._token_source()
    cold = dataclasses.replace(base, store=store, seed=None)  # a copy without the token
    holder = dataclasses.replace(base, store=store, seed=stale)  # a copy that sent it
    cache = TokenCache()
    plain = threading.Thread(target=cache.get, args=(cold,), daemon=True)
    plain.start()  # a normal flight, which will find the stale token in the store
    assert store.reading.wait(20)
    releaser = threading.Timer(0.2, store.release.set)
    releaser.start()
    forced = _in_thread(lambda: cache.get(holder, force_refresh=True).token)
    plain.join(20)
    assert forced, "forced get() hung"
    assert forced[0].access_token != stale.access_token
    assert emulator.counters.token_requests == 1


# 5. A token is stamped with the credentials that produced it.


def test_token_is_stamped_with_the_credentials_that_requested_it(
    emulator: TelnyxEmulator,
) -> None:
    emulator.add_client("second-client", "second-secret-0123456789")
    emulator.set_token_latency(0.5)
    block = make_block(emulator)
    getter = threading.Thread(target=block.get_token, daemon=True)
    getter.start()
    assert _eventually(lambda: emulator.counters.token_requests == 1)
    # Edited while the first client's request is in flight.
    block.client_id = "second-client"
    block.client_secret = SecretStr("second-secret-0123456789")
    getter.join(20)
    first = emulator.issued_access_tokens()[0]
    assert block.access_token is not None
    assert block.access_token.get_secret_value() == first
    default_cache.clear()  # as in another process, with a copy of the edited block
    copy = block.model_copy()
    token = copy.get_token()
    assert token.access_token.get_secret_value() != first
    assert emulator.counters.token_requests == 2


# 6. The stored credential stamp is salted, slow, and a secret.


async def test_stored_stamp_is_a_salted_secret_and_old_stamps_only_cost_a_request(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    import hashlib

    block = make_block(emulator)
    await block.asave("stamped", overwrite=True)
    await block.aget_token()
    stamp = block.access_token_credentials
    assert isinstance(stamp, SecretStr)
    assert stamp.get_secret_value() not in repr(block)
    unsalted = hashlib.sha256()
    for part in (emulator.token_url, emulator.client_id, emulator.client_secret, None):
        unsalted.update(hashlib.sha256((part or "").encode()).digest())
    assert unsalted.hexdigest()[:32] not in stamp.get_secret_value()
    assert stamp.get_secret_value().startswith("scrypt1$")
    async with get_client() as client:
        masked = await client.read_block_document_by_name(
            "stamped", "telnyx-oauth-credentials", include_secrets=False
        )
        assert masked.data["access_token_credentials"] != stamp.get_secret_value()
        # A document saved by the previous version: an unsalted stamp.
        old = {"access_token_credentials": unsalted.hexdigest()[:32]}
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=old, merge_existing_data=True),
        )
    default_cache.clear()
    reloaded = await TelnyxOAuthCredentials.aload("stamped")
    await reloaded.aget_token()
    await reloaded.aget_token()
    assert emulator.counters.token_requests == 2  # requested once again, then reused


# 7. One deadline for the whole call.


def test_hung_token_endpoint_fails_within_the_deadline_not_after_every_attempt(
    emulator: TelnyxEmulator,
) -> None:
    emulator.set_token_latency(30)
    block = make_block(emulator, timeout_seconds=1, token_deadline_seconds=1.5)
    with pytest.raises(TokenEndpointUnavailableError) as info:
        block.get_token()
    assert emulator.counters.token_requests <= 2  # not 3 attempts of 1 s each
    assert "timeout_seconds=1" in str(info.value)


@pytest.fixture
def hung_api() -> Iterator[str]:
    """A Prefect API URL whose server accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


@pytest.mark.timeout(60)
def test_hung_prefect_api_falls_back_to_this_process_with_a_warning(
    emulator: TelnyxEmulator, hung_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator, token_deadline_seconds=20)
    block._block_document_id = uuid4()  # as if saved: the token goes through the API
    with (
        temporary_settings(updates={PREFECT_API_URL: hung_api}),
        caplog.at_level(logging.WARNING, logger="prefect_telnyx_oauth"),
    ):
        token = block.get_token()
    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[0]
    assert any("refreshing in this process only" in r.getMessage() for r in caplog.records)


# 8. No leaks; store errors come out typed.


def test_closed_caches_leave_no_thread_and_no_open_client(emulator: TelnyxEmulator) -> None:
    before = threading.active_count()
    clients = []
    for _ in range(20):
        with TokenCache() as cache:
            cache.get(make_block(emulator)._token_source())
            clients.append(cache._runner._http)
    assert _eventually(lambda: threading.active_count() <= before, 10)
    assert all(client is not None and client.is_closed for client in clients)


async def test_malformed_stored_date_is_replaced_with_a_warning_not_raised(
    prefect_api: None, emulator: TelnyxEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator)
    await block.asave("malformed-date", overwrite=True)
    await block.aget_token()
    async with get_client() as client:
        bad = {"access_token_expires_at": "not a date"}
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data=bad, merge_existing_data=True),
        )
    default_cache.clear()
    copy = make_block(emulator)
    copy._block_document_id = block._block_document_id
    copy._block_document_name = "malformed-date"
    with caplog.at_level(logging.WARNING, logger="prefect_telnyx_oauth"):
        await copy.aget_token()
    assert any("malformed" in r.getMessage() for r in caplog.records)
    reloaded = await TelnyxOAuthCredentials.aload("malformed-date")
    assert reloaded.access_token_expires_at is not None  # the write-back repaired it


def test_lease_answer_without_an_id_is_a_typed_store_error() -> None:
    from prefect_telnyx_oauth._prefect_store import _lease_id
    from telnyx_oauth.errors import TokenStoreUnavailableError

    with pytest.raises(TokenStoreUnavailableError, match="without a lease id"):
        _lease_id(httpx.Response(200, json={"limits": []}))


# 9. Basic credentials that every server decodes.


def test_basic_credentials_decode_alike_with_unquote_and_unquote_plus(
    emulator: TelnyxEmulator,
) -> None:
    from urllib.parse import unquote, unquote_plus

    secret = "with space+plus%pct:colon é"
    block = make_block(emulator, client_secret=secret)
    header = block._token_source().endpoint
    from telnyx_oauth._token_request import basic_authorization

    raw = base64.b64decode(basic_authorization(header.client_id, header.client_secret)[6:])
    _, encoded = raw.decode("ascii").split(":", 1)
    assert unquote(encoded) == secret
    assert unquote_plus(encoded) == secret


# 10. Nobody waits while the current token is still valid.


def test_callers_get_the_valid_token_while_the_refresh_is_in_flight(
    emulator_factory: Any,
) -> None:
    emulator = emulator_factory(token_ttl_seconds=100)
    clock = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    cache = TokenCache(now=lambda: clock[0])
    source = make_block(emulator, refresh_leeway_seconds=10)._token_source()
    first = cache.get(source).token
    emulator.set_token_latency(1.0)
    clock[0] += timedelta(seconds=92)  # 8 s left: the first half of the leeway
    during = [cache.get(source).token for _ in range(50)]
    assert all(token == first for token in during)
    assert _eventually(lambda: cache.get(source).token != first)
    assert emulator.counters.token_requests == 2  # one refresh for all 50 calls


# 11. The in-process cache is bounded.


def test_cache_keeps_at_most_max_entries_and_drops_expired_first(
    emulator: TelnyxEmulator,
) -> None:
    cache = TokenCache(max_entries=8)
    base = make_block(emulator)._token_source()
    now = utc_now()
    for n in range(1000):
        token = TelnyxToken(
            access_token=SecretStr(f"token-{n:04d}-0123456789"),
            expires_at=now + timedelta(hours=1),
            issued_at=now,
        )
        cache.land(dataclasses.replace(base, key=f"identity-{n}"), token, "store")
    # The newest eight are served from memory; the oldest was dropped, so it is asked for again.
    newest = cache.get(dataclasses.replace(base, key="identity-999")).token
    assert newest.access_token.get_secret_value() == "token-0999-0123456789"
    oldest = cache.get(dataclasses.replace(base, key="identity-992")).token
    assert oldest.access_token.get_secret_value() == "token-0992-0123456789"
    assert emulator.counters.token_requests == 0
    cache.get(dataclasses.replace(base, key="identity-991"))
    assert emulator.counters.token_requests == 1


async def test_task_by_name_reads_no_block_document_on_a_warm_call(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    from prefect import flow

    await make_block(emulator).asave("by-name-warm", overwrite=True)

    @flow
    async def pipeline() -> str:
        return get_telnyx_token("by-name-warm").access_token.get_secret_value()

    first = await pipeline()
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            "by-name-warm", "telnyx-oauth-credentials"
        )
        await client.delete_block_document(document.id)
    assert await pipeline() == first  # the loaded block and its token are reused
    assert emulator.counters.token_requests == 1


async def test_task_by_name_picks_up_rotated_credentials_at_once_on_invalid_client(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    from prefect import flow

    block = make_block(emulator)
    await block.asave("rotated-by-name", overwrite=True)

    @flow
    async def pipeline(force: bool) -> str:
        return get_telnyx_token("rotated-by-name", force).access_token.get_secret_value()

    await pipeline(False)
    new_secret = "rotated-secret-0123456789"
    emulator.add_client(emulator.client_id, new_secret)  # rotated in the portal
    async with get_client() as client:  # and in the UI
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data={"client_secret": new_secret}),
        )
    second = await pipeline(True)
    assert second in emulator.issued_access_tokens()
    assert emulator.counters.token_requests_by_status.get(200) == 2


# -- found in review of the rebuilt core -------------------------------------------------------


@pytest.fixture
def trickling_endpoint() -> Iterator[tuple[str, list[int]]]:
    """A token URL whose server sends one byte every 0.3 s and never finishes its answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    opened: list[int] = []
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            connection.sendall(b"content-length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    connection.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.3)

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            opened.append(1)
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v2/oauth/token", opened
    stop.set()
    thread.join()
    server.close()


def test_a_trickled_answer_cannot_hold_a_refresh_past_the_deadline(
    trickling_endpoint: tuple[str, list[int]],
) -> None:
    url, opened = trickling_endpoint
    block = TelnyxOAuthCredentials(
        client_id="c", client_secret="s", token_url=url, timeout_seconds=1,
        token_deadline_seconds=3, token_max_attempts=1,
    )  # fmt: skip
    for _ in range(2):
        with pytest.raises(TokenEndpointUnavailableError):
            block.get_token()
    assert len(opened) == 2  # the first flight ended: the second call made its own request


def test_a_full_cache_keeps_the_token_it_just_stored(emulator: TelnyxEmulator) -> None:
    cache = TokenCache(max_entries=2)
    for client in ("a", "b", "c"):
        emulator.add_client(f"client-{client}", f"secret-{client}-0123456789")
    sources = [
        make_block(emulator, client_id=f"client-{c}", client_secret=f"secret-{c}-0123456789")
        for c in "abc"
    ]
    for block in sources[:2]:
        cache.get(block._token_source())
        cache.get(block._token_source())  # a hit: this entry is in use
    for _ in range(5):
        cache.get(sources[2]._token_source())
    assert emulator.counters.token_requests == 3
    cache.close()


async def test_overwrite_never_keeps_a_connected_users_token_for_the_client(
    prefect_api: None, emulator: TelnyxEmulator
) -> None:
    block = make_block(emulator)
    await block.asave("connected-then-client", overwrite=True)
    await block.aget_token()
    async with get_client() as client:  # the document now acts for a connected user
        await client.update_block_document(
            block._block_document_id,  # type: ignore[arg-type]
            BlockDocumentUpdate(data={"grant_type": "authorization_code"}),
        )
    # A plain re-save keeps the user connection (issue 17): the token stays the user's.
    await make_block(emulator).asave("connected-then-client", overwrite=True)
    kept = await TelnyxOAuthCredentials.aload("connected-then-client")
    assert kept.grant_type == "authorization_code"
    # Disconnecting on purpose makes it the client's again, without the user's token.
    await make_block(emulator).asave("connected-then-client", overwrite=True, disconnect=True)
    reloaded = await TelnyxOAuthCredentials.aload("connected-then-client")
    assert reloaded.grant_type == "client_credentials"
    assert reloaded.access_token is None


def test_changing_the_grant_drops_the_token_of_the_other_principal(
    emulator: TelnyxEmulator,
) -> None:
    block = make_block(emulator)
    block.get_token()
    block.grant_type = "authorization_code"
    assert block.access_token is None
    assert block.refresh_token is None


@pytest.fixture
def html_api() -> Iterator[str]:
    """A Prefect API URL answered by a proxy's HTML login page."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Sign in</body></html>")

        do_POST = do_PATCH = do_GET

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_prefect_api_answering_html_falls_back_with_a_warning(
    emulator: TelnyxEmulator, html_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    block = make_block(emulator, token_deadline_seconds=20)
    block._block_document_id = uuid4()
    with (
        temporary_settings(updates={PREFECT_API_URL: html_api}),
        caplog.at_level(logging.WARNING, logger="prefect_telnyx_oauth"),
    ):
        token = block.get_token()
    assert token.access_token.get_secret_value() == emulator.issued_access_tokens()[0]
    assert any("refreshing in this process only" in r.getMessage() for r in caplog.records)


def test_closing_a_cache_ends_its_waiters_with_a_typed_error(emulator: TelnyxEmulator) -> None:
    emulator.set_token_latency(2)
    cache = TokenCache()
    source = make_block(emulator)._token_source()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            cache.get(source)
        except TokenEndpointUnavailableError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert _eventually(lambda: emulator.counters.token_requests == 1)
    cache.close()
    waiter.join(10)
    assert outcome, "the waiter hung"
    assert "closed" in str(outcome[0])


@pytest.mark.timeout(60)
def test_exchange_keeps_the_tokens_in_memory_when_the_save_hangs(
    emulator: TelnyxEmulator, hung_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_telnyx_oauth import _prefect_store
    from telnyx_oauth.errors import TokenStoreUnavailableError
    from tests.integration.test_authorization_code_block import connect

    monkeypatch.setattr(_prefect_store, "SAVE_SECONDS", 2.0)
    block = make_block(emulator)
    block._block_document_id = uuid4()
    with (
        temporary_settings(updates={PREFECT_API_URL: hung_api}),
        pytest.raises(TokenStoreUnavailableError),
    ):
        connect(block, emulator)
    assert block.access_token is not None
    assert block.access_token.get_secret_value() == emulator.issued_access_tokens()[-1]


class _LockedStore(OneTokenStore):
    """A store whose lock another process holds for ever."""

    async def try_lock(self) -> object | None:
        return None


def test_a_refresh_after_giving_up_on_the_lock_is_still_saved(emulator: TelnyxEmulator) -> None:
    emulator.set_token_latency(0.5)  # the request lands after the waiting share has run out
    store = _LockedStore()
    source = dataclasses.replace(
        make_block(emulator, token_deadline_seconds=3)._token_source(), store=store
    )
    with TokenCache() as cache:
        token = cache.get(source).token
    assert store.token is not None
    assert store.token.access_token == token.access_token


def test_an_invalidated_token_stays_rejected_after_its_entry_is_evicted(
    emulator: TelnyxEmulator,
) -> None:
    cache = TokenCache(max_entries=2)
    base = make_block(emulator)._token_source()
    now = utc_now()

    def token(name: str) -> TelnyxToken:
        return TelnyxToken(
            access_token=SecretStr(name), expires_at=now + timedelta(hours=1), issued_at=now
        )

    first = dataclasses.replace(base, key="first")
    cache.land(first, token("got-a-401-0123456789"), "store")
    cache.invalidate("first")
    for key in ("second", "third", "fourth"):  # more entries, and more 401s, than the cache holds
        cache.land(dataclasses.replace(base, key=key), token(f"{key}-0123456789"), "store")
        cache.invalidate(key)
    cache.land(first, token("got-a-401-0123456789"), "store")  # the store still holds it
    assert cache.hit(first) is None
    cache.close()


def test_token_source_repr_shows_no_credential_stamp(emulator: TelnyxEmulator) -> None:
    source = make_block(emulator)._token_source()
    assert source.stamp is not None
    assert source.stamp not in repr(source)
