"""Scenario 3: the warm path, where a valid token is cached and every call only reads it.

Two measurements:

- End to end: `calls` sequential `GET /balance` per contender on one reused client, interleaved
  in rounds (so a noisy moment hurts every contender alike), against a plain `httpx.Client` with
  a static `Authorization` header. The auth layer's cost per call is the difference. Loopback
  round trips vary by more than that cost, so read it as "lost in the noise or not".
- The hot path alone, with `timeit`: what each library runs per request before the request
  leaves, with no socket involved.
"""

from __future__ import annotations

import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

import _contenders as c
import httpx
from _harness import describe, quiesce
from _report import Column, Table, compare, count, micros, nanos
from httpx_auth import OAuth2

from telnyx_oauth.emulator import TelnyxEmulator

ROUNDS = 40
BASELINE = "plain httpx"
TIMEIT_NUMBER = 2_000
TIMEIT_REPEAT = 7


def _clients(t: c.Target) -> tuple[dict[str, tuple[str, httpx.Client]], dict[str, str]]:
    """One warmed-up client per contender, plus the setup failures by contender."""
    clients: dict[str, tuple[str, httpx.Client]] = {}
    failures: dict[str, str] = {}
    credentials = c.ours_credentials(t)
    builders: list[tuple[str, str, Callable[[], httpx.Client]]] = [
        (c.OURS, "block.get_client()", credentials.get_client),
        (c.AUTHLIB, "OAuth2Client after fetch_token", lambda: _authlib_warm(t)),
        (
            c.HTTPX_AUTH,
            "Client(auth=OAuth2ClientCredentials)",
            lambda: httpx.Client(auth=c.httpx_auth_auth(t), base_url=t.base_url),
        ),
    ]
    for name, how, build in builders:
        try:
            client = build()
            client.get("/balance").raise_for_status()  # fetches and caches the token
            clients[name] = (how, client)
        except Exception as exc:
            failures[name] = describe(exc)
    try:
        token = credentials.get_token().access_token.get_secret_value()
        plain = httpx.Client(base_url=t.base_url, headers={"Authorization": f"Bearer {token}"})
        clients = {BASELINE: ("Client(headers={Authorization})", plain), **clients}
    except Exception as exc:
        failures[BASELINE] = describe(exc)
    return clients, failures


def _authlib_warm(t: c.Target) -> httpx.Client:
    client = c.authlib_client(t)
    client.fetch_token(grant_type="client_credentials")
    return client


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def end_to_end(emulator: TelnyxEmulator, calls: int) -> Table:
    """Scenario 3a: `calls` sequential API calls per contender with a warm token."""
    t = c.Target.of(emulator)
    emulator.set_token_latency(0)
    c.reset(emulator)
    clients, failures = _clients(t)
    per_round = max(calls // ROUNDS, 1)
    # per_call[name][r]: mean seconds per call of `name` in round r.
    per_call: dict[str, dict[int, float]] = {name: {} for name in clients}
    token_requests = dict.fromkeys(clients, 0)
    not_ok = dict.fromkeys(clients, 0)
    names = list(clients)
    for r in range(ROUNDS):
        quiesce()
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name in failures:
                continue
            client = clients[name][1]
            before = emulator.counters.token_requests
            try:
                start = time.perf_counter()
                for _ in range(per_round):
                    if client.get("/balance").status_code != 200:
                        not_ok[name] += 1
                per_call[name][r] = (time.perf_counter() - start) / per_round
            except Exception as exc:
                failures[name] = describe(exc)
            token_requests[name] += emulator.counters.token_requests - before
    for _, client in clients.values():
        client.close()

    table = Table(
        f"3a. Warm path: {per_round * ROUNDS} sequential GET /balance per contender on one reused "
        f"client ({ROUNDS} interleaved rounds of {per_round})",
        [
            Column("contender", "contender", left=True),
            Column("how", "client", left=True),
            Column("calls", "calls", count),
            Column("token_requests", "token reqs", count),
            Column("not_ok", "non-200", count),
            Column("per_call_us", "us/call", micros),
            Column("overhead_us", "overhead us/call", micros),
            Column("overhead_iqr", "overhead p25..p75", left=True),
            Column("vs_per_call", "ours: us/call", left=True),
        ],
    )
    base = per_call.get(BASELINE, {})
    for name in [BASELINE, c.OURS, c.AUTHLIB, c.HTTPX_AUTH]:
        if name in failures or name not in clients:
            table.rows.append({"contender": name, "failed": failures.get(name, "not built")})
            table.notes.append(f"{name} failed: {failures.get(name, 'not built')}")
            continue
        rounds = per_call[name]
        row: dict[str, Any] = {
            "contender": name,
            "how": clients[name][0],
            "calls": per_round * len(rounds),
            "token_requests": token_requests[name],
            "not_ok": not_ok[name],
            "per_call_us": statistics.median(rounds.values()) * 1e6,
            "rounds_us": [round(rounds[r] * 1e6, 1) for r in sorted(rounds)],
        }
        paired = [(rounds[r] - base[r]) * 1e6 for r in rounds if r in base]
        if name != BASELINE and paired:
            q1, q2, q3 = _quartiles(paired)
            row.update(overhead_us=q2, overhead_iqr=f"{q1:.0f}..{q3:.0f}")
        table.rows.append(row)
    ours = next((row for row in table.rows if row["contender"] == c.OURS), {})
    for row in table.rows:
        if row["contender"] not in (c.OURS, BASELINE):
            row["vs_per_call"] = compare(
                ours.get("per_call_us"),
                row.get("per_call_us"),
                better="faster",
                worse="slower",
                tolerance=0.1,
            )
    table.notes.append(
        "us/call: median over rounds. overhead: median over rounds of (this contender's us/call "
        "minus plain httpx's in the same round), with its interquartile range; a range that "
        "spans 0 means the auth layer's cost is below the loopback noise (3b measures it)."
    )
    return table


def _step(flow_of: Callable[[httpx.Request], Any]) -> Callable[[], Any]:
    """Run an auth flow up to the request it sends, as httpx does before each send."""
    request = httpx.Request("GET", "http://127.0.0.1/v2/balance")

    def step() -> Any:
        flow = flow_of(request)
        sent = next(flow)
        flow.close()
        return sent

    return step


def _hot_paths(t: c.Target) -> list[tuple[str, str, str, Callable[[], Any]]]:
    request = httpx.Request("GET", f"{t.base_url}/balance")
    credentials = c.ours_credentials(t)
    credentials.get_token()
    ours_auth = credentials.get_auth()

    authlib = c.authlib_client(t)
    authlib.fetch_token(grant_type="client_credentials")

    def authlib_step() -> Any:
        # What OAuth2Client.request() does before handing the request to httpx.
        if not authlib.ensure_active_token(authlib.token):
            raise RuntimeError("Authlib reports an invalid token")
        flow = authlib.token_auth.sync_auth_flow(request)
        sent = next(flow)
        flow.close()
        return sent

    hx_auth = c.httpx_auth_auth(t)
    with httpx.Client(auth=hx_auth) as warmup:
        warmup.get(f"{t.base_url}/balance").raise_for_status()

    def hx_lookup() -> str:
        return OAuth2.token_cache.get_token(
            hx_auth.state,
            early_expiry=hx_auth.early_expiry,
            on_missing_token=hx_auth.request_new_token,
            on_expired_token=hx_auth.refresh_token,
        )

    def authlib_lookup() -> Any:
        return authlib.ensure_active_token(authlib.token)

    return [
        (c.OURS, "token lookup", "block.get_token()", credentials.get_token),
        (c.OURS, "auth step", "TelnyxOAuth.sync_auth_flow", _step(ours_auth.sync_auth_flow)),
        (c.AUTHLIB, "token lookup", "ensure_active_token(token)", authlib_lookup),
        (c.AUTHLIB, "auth step", "ensure_active_token + OAuth2Auth flow", authlib_step),
        (c.HTTPX_AUTH, "token lookup", "OAuth2.token_cache.get_token", hx_lookup),
        (c.HTTPX_AUTH, "auth step", "OAuth2ClientCredentials flow", _step(hx_auth.sync_auth_flow)),
    ]


def hot_path(emulator: TelnyxEmulator) -> Table:
    """Scenario 3b: ns per call of each library's per-request work, no socket involved."""
    t = c.Target.of(emulator)
    emulator.set_token_latency(0)
    c.reset(emulator)
    table = Table(
        f"3b. Hot path alone (timeit, best of {TIMEIT_REPEAT} x {TIMEIT_NUMBER:,} calls, "
        "warm token, no socket)",
        [
            Column("contender", "contender", left=True),
            Column("step", "step", left=True),
            Column("what", "what runs", left=True),
            Column("ns_per_call", "ns/call", nanos),
            Column("vs_ns", "ours", left=True),
        ],
    )
    try:
        paths = _hot_paths(t)
    except Exception as exc:
        table.notes.append(f"setup failed: {describe(exc)}")
        return table
    before = emulator.counters.token_requests
    for contender, step, what, fn in paths:
        row: dict[str, Any] = {"contender": contender, "step": step, "what": what}
        try:
            fn()
            timer = timeit.Timer(fn)
            best = min(timer.repeat(repeat=TIMEIT_REPEAT, number=TIMEIT_NUMBER))
            row["ns_per_call"] = best / TIMEIT_NUMBER * 1e9
        except Exception as exc:
            row["failed"] = describe(exc)
            table.notes.append(f"{contender} {step} failed: {row['failed']}")
        table.rows.append(row)
    ours = {row["step"]: row.get("ns_per_call") for row in table.rows if row["contender"] == c.OURS}
    for row in table.rows:
        if row["contender"] != c.OURS:
            row["vs_ns"] = compare(
                ours.get(row["step"]),
                row.get("ns_per_call"),
                better="faster",
                worse="slower",
                tolerance=0.05,
            )
    fetched = emulator.counters.token_requests - before
    table.notes.append(
        f"token requests while timing: {fetched} (0 means every call was a cache hit)."
    )
    return table


def summary(end_to_end_table: Table, hot_path_table: Table) -> list[str]:
    """One line per alternative: end-to-end us/call and the auth step's ns/call."""
    rows = {row["contender"]: row for row in end_to_end_table.rows}
    steps = {(row["contender"], row["step"]): row.get("ns_per_call") for row in hot_path_table.rows}
    ours = rows.get(c.OURS, {})
    lines = []
    for name in (c.AUTHLIB, c.HTTPX_AUTH):
        row = rows.get(name, {})
        ours_ns, alt_ns = steps.get((c.OURS, "auth step")), steps.get((name, "auth step"))
        if "per_call_us" not in ours or "per_call_us" not in row or None in (ours_ns, alt_ns):
            lines.append(f"warm path: {name} could not be compared")
            continue
        step = compare(ours_ns, alt_ns, better="faster", worse="slower", tolerance=0.05)
        lines.append(
            f"warm path: ours {ours['per_call_us']:.0f} us/call vs {name} "
            f"{row['per_call_us']:.0f} us/call end to end ({row['vs_per_call']}); "
            f"auth step alone {ours_ns:,.0f} ns vs {alt_ns:,.0f} ns ({step})"
        )
    return lines
