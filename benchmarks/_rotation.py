"""Scenario 4: the refresh token rotation race.

The emulator issues a refresh token with client_credentials and rotates it on every use: a refresh
token works once, and a second use answers `invalid_grant`. Each contender gets a token, waits
until it has expired, then N callers need a token at the same instant. A library that lets every
caller refresh with the one refresh token it holds gets one success and N-1 `invalid_grant`s; a
single-flight refresh sends one request and every caller gets its answer.

The 2 s token stands in for a long-lived one, so the alternatives run without refresh leeway
(Authlib `leeway=0`; httpx-auth `early_expiry=0.001`, as its `early_expiry=0` silently becomes
30 s): with Authlib's default 60 s, or even 1 s, a 2 s token looks expired as soon as it arrives
(Authlib truncates `expires_at` to whole seconds), which would make them refresh on every call and
measure that instead. Ours keeps its default (60 s, clamped to half the token's life). All
contenders get their first token, then wait past the hard expiry once together; each has its own
OAuth client on the emulator, so their tokens, caches and counters stay apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import _contenders as c
from _harness import AsyncCaller, Burst, Caller, describe, task_burst, thread_burst
from _report import Column, Table, compare, count, seconds, statuses

from telnyx_oauth.emulator import TelnyxEmulator

TOKEN_TTL_SECONDS = 2.0
EXPIRY_MARGIN_SECONDS = 0.5
TOKEN_LATENCY_SECONDS = 0.1
AUTHLIB_LEEWAY_SECONDS = 0
HTTPX_AUTH_EARLY_EXPIRY_SECONDS = 0.001


def emulator() -> TelnyxEmulator:
    return TelnyxEmulator(
        token_ttl_seconds=TOKEN_TTL_SECONDS,
        rotate_refresh_tokens=True,
        refresh_token_on_client_credentials=True,
        token_latency_seconds=TOKEN_LATENCY_SECONDS,
    )


def _no_cleanup() -> None:
    return None


@dataclass
class Prepared:
    """A contender holding a token that will expire: how to build each caller, how to clean up.

    `make_caller` returns a `Caller` (threads) or an awaitable `AsyncCaller` (tasks); async
    clients are built inside the burst's event loop, since their connections belong to it.
    """

    make_caller: Callable[[int], Any]
    cleanup: Callable[[], Any] = _no_cleanup


def _authlib_first_token(t: c.Target) -> c.AuthlibTokenStore:
    store = c.AuthlibTokenStore()
    with c.authlib_client(t) as first:
        store.save(first.fetch_token(grant_type="client_credentials"))
    return store


# -- threads -------------------------------------------------------------------------------------


def _ours(t: c.Target) -> Prepared:
    c.ours_credentials(t).get_token()
    return Prepared(lambda i: c.ours_caller(t))


def _authlib_shared(t: c.Target) -> Prepared:
    store = c.AuthlibTokenStore()
    client = c.authlib_client(t, leeway=AUTHLIB_LEEWAY_SECONDS, update_token=store.save)
    client.fetch_token(grant_type="client_credentials")

    def make_caller(i: int) -> Caller:
        return Caller(lambda: client.get("/balance").raise_for_status())

    return Prepared(make_caller, client.close)


def _authlib_per_thread(t: c.Target) -> Prepared:
    store = _authlib_first_token(t)

    def make_caller(i: int) -> Caller:
        client = c.authlib_client(
            t, token=store.load(), leeway=AUTHLIB_LEEWAY_SECONDS, update_token=store.save
        )
        return Caller(lambda: client.get("/balance").raise_for_status(), client.close)

    return Prepared(make_caller)


def _httpx_auth(t: c.Target) -> Prepared:
    first = c.httpx_auth_caller(t, early_expiry=HTTPX_AUTH_EARLY_EXPIRY_SECONDS)
    first.call()
    first.close()
    return Prepared(lambda i: c.httpx_auth_caller(t, early_expiry=HTTPX_AUTH_EARLY_EXPIRY_SECONDS))


# -- asyncio -------------------------------------------------------------------------------------


def _ours_async(t: c.Target) -> Prepared:
    c.ours_credentials(t).get_token()

    async def make_caller(i: int) -> AsyncCaller:
        return await c.ours_async_caller(t)

    return Prepared(make_caller)


def _authlib_async_shared(t: c.Target) -> Prepared:
    # The shared client is built in the burst's loop, holding the token fetched here (what a
    # long-lived AsyncOAuth2Client holds after its first fetch_token).
    store = _authlib_first_token(t)
    shared: list[Any] = []

    async def make_caller(i: int) -> AsyncCaller:
        if not shared:
            shared.append(
                c.authlib_async_client(
                    t, token=store.load(), leeway=AUTHLIB_LEEWAY_SECONDS, update_token=store.asave
                )
            )
        client = shared[0]

        async def call() -> None:
            (await client.get("/balance")).raise_for_status()

        return AsyncCaller(call)

    def cleanup() -> Any:
        return shared[0].aclose() if shared else None

    return Prepared(make_caller, cleanup)


def _authlib_async_per_task(t: c.Target) -> Prepared:
    store = _authlib_first_token(t)

    async def make_caller(i: int) -> AsyncCaller:
        client = c.authlib_async_client(
            t, token=store.load(), leeway=AUTHLIB_LEEWAY_SECONDS, update_token=store.asave
        )

        async def call() -> None:
            (await client.get("/balance")).raise_for_status()

        return AsyncCaller(call, client.aclose)

    return Prepared(make_caller)


# -- the scenario --------------------------------------------------------------------------------

COLUMNS = [
    Column("contender", "contender", left=True),
    Column("how", "set up as", left=True),
    Column("mode", "callers", left=True),
    Column("token_requests", "token reqs", count),
    Column("grants", "grants", left=True),
    Column("token_statuses", "token status", statuses, left=True),
    Column("errors", "callers failed", count),
    Column("api_ok", "API 200", count),
    Column("wall_s", "wall s", seconds),
    Column("vs_errors", "ours: failed", left=True),
    Column("vs_tokens", "ours: token reqs", left=True),
]


def _row(emu: TelnyxEmulator, contender: str, how: str, mode: str, burst: Burst) -> dict[str, Any]:
    counters = emu.counters.snapshot()
    grants = counters.token_requests_by_grant
    return {
        "contender": contender,
        "how": how,
        "mode": mode,
        "token_requests": counters.token_requests,
        "grants": " ".join(f"{g}x{n}" for g, n in sorted(grants.items())) or None,
        "token_grants": grants,
        "token_statuses": {str(k): v for k, v in counters.token_requests_by_status.items()},
        "api_ok": counters.api_requests_by_status.get(200, 0),
        **burst.as_row(),
    }


async def _tasks(prepared: Prepared, n: int) -> Burst:
    try:
        return await task_burst(n, prepared.make_caller)
    finally:
        closing = prepared.cleanup()
        if inspect.isawaitable(closing):
            await closing


def _race(prepared: Prepared, tasks: bool, n: int) -> Burst:
    if tasks:
        return asyncio.run(_tasks(prepared, n))
    try:
        return thread_burst(n, prepared.make_caller)
    finally:
        prepared.cleanup()


def rotation(emu: TelnyxEmulator, callers: int) -> Table:
    """Scenario 4: N callers need a token the moment a rotating refresh token's access expires."""
    runs: list[tuple[str, str, bool, Callable[[c.Target], Prepared]]] = [
        (c.OURS, "block copy + get_client() per thread", False, _ours),
        (c.AUTHLIB, "one OAuth2Client shared, update_token hook", False, _authlib_shared),
        (c.AUTHLIB, "OAuth2Client per thread, token from store", False, _authlib_per_thread),
        (c.HTTPX_AUTH, "n/a: no refresh-token flow (re-fetches)", False, _httpx_auth),
        (c.OURS, "block copy + get_async_client() per task", True, _ours_async),
        (c.AUTHLIB, "one AsyncOAuth2Client shared", True, _authlib_async_shared),
        (c.AUTHLIB, "AsyncOAuth2Client per task, token from store", True, _authlib_async_per_task),
    ]
    table = Table(
        f"4. Rotation race: token TTL {TOKEN_TTL_SECONDS:g} s, rotating refresh tokens, "
        f"token latency {TOKEN_LATENCY_SECONDS * 1000:.0f} ms; {callers} callers at once after "
        "expiry",
        COLUMNS,
    )
    base = c.Target.of(emu)
    c.reset(emu)
    prepared: list[Prepared | str] = []
    for i, (_, _, _, prepare) in enumerate(runs):
        # Its own OAuth client per contender: one wait serves all, and nothing is shared.
        t = dataclasses.replace(base, client_id=f"rotation-{i}", client_secret=f"secret-{i}")
        emu.add_client(t.client_id, t.client_secret)
        try:
            prepared.append(prepare(t))
        except Exception as exc:
            prepared.append(f"setup: {describe(exc)}")
    time.sleep(TOKEN_TTL_SECONDS + EXPIRY_MARGIN_SECONDS)
    for (contender, how, tasks, _), ready in zip(runs, prepared, strict=True):
        mode = f"{callers} {'tasks' if tasks else 'threads'}"
        emu.reset_counters()
        try:
            if isinstance(ready, str):
                raise RuntimeError(ready)
            table.rows.append(_row(emu, contender, how, mode, _race(ready, tasks, callers)))
        except Exception as exc:
            failed = {"contender": contender, "how": how, "mode": mode, "failed": describe(exc)}
            table.rows.append(failed)
    ours_by_mode = {row["mode"]: row for row in table.rows if row["contender"] == c.OURS}
    for row in table.rows:
        ours = ours_by_mode.get(row["mode"], {})
        if row["contender"] == c.OURS:
            continue
        if "failed" in row or "failed" in ours:
            row["vs_errors"] = row["vs_tokens"] = "n/a: did not run"
            continue
        row["vs_errors"] = compare(
            ours.get("errors"), row.get("errors"), better="fewer", worse="more"
        )
        row["vs_tokens"] = compare(
            ours.get("token_requests"), row.get("token_requests"), better="fewer", worse="more"
        )
    for row in table.rows:
        if "failed" in row:
            table.notes.append(f"{row['contender']} ({row['how']}) failed: {row['failed']}")
        elif row.get("error_sample"):
            table.notes.append(
                f"{row['contender']} ({row['how']}, {row['mode']}): e.g. {row['error_sample']}"
            )
    table.notes.append(
        "httpx-auth's OAuth2ClientCredentials drops the refresh token the server returns and "
        "never uses the refresh_token grant, so the race it could lose does not exist for it; "
        "its row shows what it does instead when the cached token expires under load."
    )
    table.notes.append(
        f"Alternatives run with no refresh leeway (Authlib leeway={AUTHLIB_LEEWAY_SECONDS}, "
        f"httpx-auth early_expiry={HTTPX_AUTH_EARLY_EXPIRY_SECONDS}) so a "
        f"{TOKEN_TTL_SECONDS:g} s token behaves like a long-lived one for them; see README."
    )
    return table


def summary(table: Table) -> list[str]:
    lines = []
    ours_by_mode = {row["mode"]: row for row in table.rows if row["contender"] == c.OURS}
    for row in table.rows:
        ours = ours_by_mode.get(row["mode"])
        if row["contender"] == c.OURS or ours is None:
            continue
        if "failed" in row or "failed" in ours:
            lines.append(f"rotation race, {row['mode']}: {row['contender']} could not be compared")
            continue
        lines.append(
            f"rotation race, {row['mode']}: ours {ours['errors']} caller(s) failed and "
            f"{ours['token_requests']} token request(s) vs {row['contender']} ({row['how']}) "
            f"{row['errors']} failed and {row['token_requests']} ({row['vs_tokens']})"
        )
    return lines
