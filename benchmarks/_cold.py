"""Scenarios 1 and 2: a cold cache and N callers at once, each with its own client.

This is a flow that fans out N tasks, each loading the credentials and making one API call, right
after a deploy or a worker restart. The emulator answers token requests after 100 ms (a real token
endpoint takes about that), so a library that fetches one token per caller pays N round trips and
sends N token requests where one would do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import _contenders as c
from _harness import AsyncCaller, Burst, Caller, describe, task_burst, thread_burst
from _report import Column, Table, compare, count, micros, seconds, statuses

from telnyx_oauth.emulator import TelnyxEmulator

TOKEN_LATENCY_SECONDS = 0.1
WARMUP_CALLERS = 2
"""Each contender first runs a discarded burst this size (imports, lazy set-up, our refresh
thread); then every cache is cleared, so the measured burst starts cold."""

COLUMNS = [
    Column("contender", "contender", left=True),
    Column("how", "set up as", left=True),
    Column("token_requests", "token reqs", count),
    Column("token_statuses", "token status", statuses, left=True),
    Column("api_ok", "API 200", count),
    Column("errors", "errors", count),
    Column("wall_s", "wall s", seconds),
    Column("p50_s", "p50 s", seconds),
    Column("max_s", "max s", seconds),
    Column("vs_tokens", "ours: token reqs", left=True),
    Column("vs_wall", "ours: wall", left=True),
]


def _row(emulator: TelnyxEmulator, contender: str, how: str, burst: Burst) -> dict[str, Any]:
    counters = emulator.counters.snapshot()
    return {
        "contender": contender,
        "how": how,
        "token_requests": counters.token_requests,
        "token_statuses": {str(k): v for k, v in counters.token_requests_by_status.items()},
        "token_grants": counters.token_requests_by_grant,
        "api_ok": counters.api_requests_by_status.get(200, 0),
        **burst.as_row(),
    }


def _failed(contender: str, how: str, exc: BaseException) -> dict[str, Any]:
    return {"contender": contender, "how": how, "failed": describe(exc)}


def _add_ratios(table: Table) -> None:
    ours = table.rows[0]
    for row in table.rows[1:]:
        failed = [r for r in (ours, row) if "failed" in r or r.get("errors")]
        if failed:
            # A contender whose callers failed did less work; a ratio would flatter it.
            row["vs_tokens"] = row["vs_wall"] = "n/a: callers failed"
            continue
        row["vs_tokens"] = compare(
            ours.get("token_requests"), row.get("token_requests"), better="fewer", worse="more"
        )
        row["vs_wall"] = compare(
            ours.get("wall_s"), row.get("wall_s"), better="faster", worse="slower", tolerance=0.1
        )


def _notes(table: Table) -> None:
    for row in table.rows:
        if "failed" in row:
            table.notes.append(f"{row['contender']} ({row['how']}) failed: {row['failed']}")
        elif row.get("error_sample"):
            table.notes.append(
                f"{row['contender']} ({row['how']}): {row['errors']} caller(s) failed, "
                f"e.g. {row['error_sample']}"
            )


def summary(label: str, table: Table) -> list[str]:
    """`cold 50 threads: ours 1 token request vs Authlib 50 (50x fewer), wall ... (17x faster)`."""
    ours, lines = table.rows[0], []
    for row in table.rows[1:]:
        who = f"{row['contender']} ({row['how']})"
        if row.get("vs_wall", "").startswith("n/a"):
            lines.append(
                f"{label}: {who} not compared: ours {ours.get('errors', 'all')} caller(s) "
                f"failed, {row['contender']} {row.get('errors', 'all')} (see the table notes)"
            )
            continue
        lines.append(
            f"{label}: ours {ours['token_requests']} token request(s) vs {who} "
            f"{row['token_requests']} ({row['vs_tokens']}), "
            f"wall {ours['wall_s']:.2f} s vs {row['wall_s']:.2f} s ({row['vs_wall']})"
        )
    return lines


def cold_threads(emulator: TelnyxEmulator, callers: int) -> Table:
    """Scenario 1: N threads, each with its own client, one API call each, cold cache."""
    t = c.Target.of(emulator)
    emulator.set_token_latency(TOKEN_LATENCY_SECONDS)
    shared_auth: list[Any] = []

    def shared_httpx_auth(i: int) -> Caller:
        return c.httpx_auth_caller(t, auth=shared_auth[0])

    contenders: list[tuple[str, str, Callable[[int], Caller]]] = [
        (c.OURS, "block copy + get_client() per thread", lambda i: c.ours_caller(t)),
        (c.AUTHLIB, "OAuth2Client + fetch_token per thread", lambda i: c.authlib_caller(t)),
        (c.HTTPX_AUTH, "own auth object per thread", lambda i: c.httpx_auth_caller(t)),
        (c.HTTPX_AUTH, "one auth object shared", shared_httpx_auth),
    ]
    table = Table(
        f"1. Cold cache, {callers} threads, one GET /balance each "
        f"(token endpoint latency {TOKEN_LATENCY_SECONDS * 1000:.0f} ms)",
        COLUMNS,
    )
    for contender, how, make_caller in contenders:
        try:
            for n in (WARMUP_CALLERS, callers):
                c.reset(emulator)
                shared_auth[:] = [c.httpx_auth_auth(t)]
                burst = thread_burst(n, make_caller)
            table.rows.append(_row(emulator, contender, how, burst))
        except Exception as exc:
            table.rows.append(_failed(contender, how, exc))
    _add_ratios(table)
    _notes(table)
    return table


def cold_asyncio(emulator: TelnyxEmulator, callers: int) -> Table:
    """Scenario 2: N asyncio tasks on one event loop, each with its own async client."""
    t = c.Target.of(emulator)
    emulator.set_token_latency(TOKEN_LATENCY_SECONDS)
    contenders: list[tuple[str, str, Callable[[int], Awaitable[AsyncCaller]]]] = [
        (c.OURS, "block copy + get_async_client() per task", lambda i: c.ours_async_caller(t)),
        (
            c.AUTHLIB,
            "AsyncOAuth2Client + fetch_token per task",
            lambda i: c.authlib_async_caller(t),
        ),
        (
            c.HTTPX_AUTH,
            "AsyncClient + own auth object per task",
            lambda i: c.httpx_auth_async_caller(t),
        ),
    ]
    columns = [*COLUMNS[:9], Column("loop_stall_ms", "loop stall ms", micros), *COLUMNS[9:]]
    table = Table(
        f"2. Cold cache, {callers} asyncio tasks, one GET /balance each "
        f"(token endpoint latency {TOKEN_LATENCY_SECONDS * 1000:.0f} ms)",
        columns,
    )
    for contender, how, make_caller in contenders:
        try:
            for n in (WARMUP_CALLERS, callers):
                c.reset(emulator)
                burst = asyncio.run(task_burst(n, make_caller))
            table.rows.append(_row(emulator, contender, how, burst))
        except Exception as exc:
            table.rows.append(_failed(contender, how, exc))
    _add_ratios(table)
    table.notes.append(
        "loop stall: the longest the event loop could not run other tasks (a 5 ms sleeper "
        "measures its oversleep); a synchronous token request inside a coroutine shows up here."
    )
    _notes(table)
    return table
