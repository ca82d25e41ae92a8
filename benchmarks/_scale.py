"""Scenarios B3-B6: many processes on Prefect API servers backed by PostgreSQL.

One PostgreSQL cluster and two `prefect server start` on it (the test suite's own helpers, from
`tests/integration/scale/`) serve every scenario; the emulator runs in this process and counts.
Each process is `_scale_worker.py`. Without PostgreSQL (`apt-get install postgresql`) the
scenarios are reported as skipped.

- B3: 8 processes x 4 threads, one saved block, cold, 50 ms token latency: token requests, and
  the time from the start line until every process holds a token. Beside it, the Telnyx SDK's
  own client-credentials OAuth (`Telnyx(client_id=..., client_secret=...)`), its hard-coded token
  URL routed to the emulator.
- B4: a 60 s soak in one process, 3 s tokens, 4 threads + 4 asyncio tasks each calling
  `GET /balance` every 10 ms: failures, token requests per token lifetime, worst call latency.
- B5: `get_telnyx_token` on a warm cache vs a no-op task, 1,000 calls each in one flow run:
  per-call ratio, and the Prefect API requests each made.
- B6: the rotation race of the test suite (8 processes x 10 threads, rotating refresh tokens, an
  expired token saved) on PostgreSQL: ours vs Authlib's documented pattern (each client loads
  the stored token and saves refreshes in `update_token`; the store is a shared JSON file).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from _report import Column, Table, compare, count, seconds, statuses

from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.models import utc_now

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test suite's PostgreSQL and server helpers

from tests.integration.scale._postgres import Postgres, find_bindir  # noqa: E402
from tests.integration.scale._servers import (  # noqa: E402
    ApiServer,
    start_servers,
    update_block_data,
)
from tests.integration.test_cross_process import free_port, save_block  # noqa: E402

WORKER = Path(__file__).parent / "_scale_worker.py"
PROCESSES = 8
SOAK_SECONDS = 60.0
SOAK_TTL_SECONDS = 3.0
WARM_CALLS = 1000
STORE_ENDPOINTS = ("block_documents", "v2", "concurrency_limits")
"""Prefect API endpoints the token store writes to: the block document and the refresh lock."""


@contextlib.contextmanager
def cluster(work: Path) -> Iterator[list[ApiServer]]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL not found: apt-get install -y postgresql")
    postgres = Postgres(bindir, free_port())
    servers: list[ApiServer] = []
    try:
        postgres.start()
        homes = [work / "api-0", work / "api-1"]
        for home in homes:
            home.mkdir()
        servers = start_servers(homes, postgres.create_database("bench"))
        servers[0].run(
            "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
            "B.register_type_and_schema(_sync=True)",
            work / "register",
        )
        yield servers
    finally:
        for server in servers:
            server.stop()
        postgres.cleanup()


def _env(servers: list[ApiServer], i: int, work: Path) -> dict[str, str]:
    return servers[i % len(servers)].env(work / f"home-{i}")


def fleet(servers: list[ApiServer], work: Path, argvs: list[list[str]]) -> dict[str, Any]:
    """Start one worker per argv (GO file first), release them at once, gather their reports."""
    go = work / f"go-{time.monotonic_ns()}"
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), argv[0], str(go), *argv[1:]],
            env=_env(servers, i, work),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, argv in enumerate(argvs)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "READY":
                raise RuntimeError(process.communicate(timeout=60)[1][-2000:])
        started = time.time()
        go.touch()
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=240)
            if process.returncode != 0:
                raise RuntimeError(err[-2000:])
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    done = [t for r in reports for t in r["done"]]
    errors = [e for r in reports for e in r["errors"]]
    return {
        "callers": len(done) + len(errors),
        "errors": len(errors),
        "error_sample": errors[0] if errors else None,
        "all_hold_s": max(done) - started if done and not errors else None,
    }


def run_one(servers: list[ApiServer], work: Path, *argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(WORKER), *argv],
        env=_env(servers, 0, work),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def target(what: str, met: bool) -> str:
    return f"target {what}: {'met' if met else 'MISSED'}."


def _counted(emu: TelnyxEmulator) -> dict[str, Any]:
    counters = emu.counters.snapshot()
    return {
        "token_requests": counters.token_requests,
        "grants": " ".join(f"{g}x{n}" for g, n in sorted(counters.token_requests_by_grant.items())),
        "token_statuses": {str(k): v for k, v in counters.token_requests_by_status.items()},
    }


def b3(servers: list[ApiServer], work: Path) -> Table:
    table = Table(
        f"B3. {PROCESSES} processes x 4 threads, one block, cold, 50 ms token latency",
        [
            Column("contender", "contender", left=True),
            Column("token_requests", "token reqs", count),
            Column("errors", "callers failed", count),
            Column("all_hold_s", "all hold token s", seconds),
            Column("vs", "ours: token reqs", left=True),
        ],
    )
    for contender in ("ours", "Telnyx SDK"):
        with TelnyxEmulator(token_latency_seconds=0.05) as emu:
            if contender == "ours":
                save_block(servers[0], work / "setup", "b3", emu)
                emu.reset_counters()
                argv = ["ours", "b3", "4"]
            else:
                argv = ["sdk", emu.base_url, emu.client_id, emu.client_secret, "4"]
            row = {"contender": contender, **fleet(servers, work, [argv] * PROCESSES)}
            table.rows.append(row | _counted(emu))
    ours = table.rows[0]["token_requests"]
    for row in table.rows[1:]:
        row["vs"] = compare(ours, row["token_requests"], better="fewer", worse="more")
    table.notes.append(
        "all hold token: from the start line until the last caller has its token and one "
        "GET /balance answered (ours includes the Prefect API round trips of the shared lock)."
    )
    table.notes.append(target("1 token request for ours", table.rows[0]["token_requests"] == 1))
    table.notes.append(
        "the SDK keeps one token holder per process (functools.lru_cache over its settings), "
        "but cache misses racing at start each build their own: up to one token per thread."
    )
    return table


def b4(servers: list[ApiServer], work: Path) -> Table:
    table = Table(
        f"B4. {SOAK_SECONDS:.0f} s soak, {SOAK_TTL_SECONDS:.0f} s tokens, 4 threads + 4 tasks",
        [
            Column("calls", "calls", count),
            Column("failures", "failed", count),
            Column("token_requests", "token reqs", count),
            Column("lifetimes", "lifetimes", lambda v: f"{v:.0f}"),
            Column("per_lifetime", "reqs/lifetime", lambda v: f"{v:.2f}"),
            Column("p50_s", "p50 s", seconds),
            Column("p99_s", "p99 s", seconds),
            Column("max_s", "worst s", seconds),
        ],
    )
    with TelnyxEmulator(token_ttl_seconds=SOAK_TTL_SECONDS) as emu:
        save_block(servers[0], work / "setup", "b4", emu)
        emu.reset_counters()
        result = run_one(servers, work, "soak", "b4", str(SOAK_SECONDS), "4", "4")
        requests = emu.counters.token_requests
    lifetimes = SOAK_SECONDS / SOAK_TTL_SECONDS
    table.rows.append(
        result | {"token_requests": requests, "lifetimes": lifetimes},
    )
    table.rows[0]["per_lifetime"] = requests / lifetimes
    row = table.rows[0]
    table.notes.append(target("0 failed", row["failures"] == 0))
    table.notes.append(target("about 1 token request per lifetime", row["per_lifetime"] <= 1.2))
    table.notes.append(
        "a token is renewed in the background once inside the refresh leeway, which is clamped "
        "to half a token's life: a 3 s token is replaced after about 1.5 s, so about 2 requests "
        "per lifetime; with hour-long tokens and the 60 s leeway it is about 1."
    )
    if result["errors"]:
        table.notes.append(f"first errors: {result['errors']}")
    return table


def b5(servers: list[ApiServer], work: Path) -> Table:
    table = Table(
        f"B5. get_telnyx_token on a warm cache vs a no-op task, {WARM_CALLS} calls each",
        [
            Column("task", "task", left=True),
            Column("ms", "ms/call (p50)", lambda v: f"{v:.2f}"),
            Column("ratio", "vs no-op", left=True),
            Column("reads", "API reads", count),
            Column("writes", "API writes", left=True),
            Column("store_writes", "token-store writes", count),
        ],
    )
    with TelnyxEmulator() as emu:
        save_block(servers[0], work / "setup", "b5", emu)
        result = run_one(servers, work, "warm-task", "b5", str(WARM_CALLS))
    for label, task in (
        ("noop", "no-op task"),
        ("token", "get_telnyx_token('name')"),
        ("token_block", "get_telnyx_token(block)"),
    ):
        counted = result["counted"][label]
        writes = counted["writes"]
        ms = result["ms"][label]
        table.rows.append(
            {
                "task": task,
                "ms": ms,
                "ratio": f"{ms / result['ms']['noop']:.2f}x" if label != "noop" else None,
                "reads": counted["reads"],
                "writes": " ".join(f"{k}x{v}" for k, v in sorted(writes.items())) or "0",
                "store_writes": sum(writes.get(k, 0) for k in STORE_ENDPOINTS),
            }
        )
    stores = sum(row["store_writes"] for row in table.rows[1:])
    table.notes.append(target("0 token-store writes per 1,000 warm calls", stores == 0))
    table.notes.append(
        "token-store writes: block document and refresh-lock requests. API reads and writes: "
        "every request this process sent to the Prefect API during the calls, Prefect's own "
        "(log batches) included."
    )
    return table


def b6(servers: list[ApiServer], work: Path) -> Table:
    table = Table(
        f"B6. rotation race on PostgreSQL, {PROCESSES} processes x 10 threads, token expired",
        [
            Column("contender", "contender", left=True),
            Column("token_requests", "token reqs", count),
            Column("grants", "grants", left=True),
            Column("token_statuses", "token status", statuses, left=True),
            Column("errors", "callers failed", count),
            Column("error_sample", "first error", left=True),
            Column("vs", "ours: failed", left=True),
        ],
    )
    for contender in ("ours", "Authlib"):
        with TelnyxEmulator(
            rotate_refresh_tokens=True,
            refresh_token_on_client_credentials=True,
            token_latency_seconds=0.05,
        ) as emu:
            if contender == "ours":
                _ours_expired(servers, work, emu)
                argv = ["ours", "b6", "10"]
            else:
                store = work / "authlib-token.json"
                _authlib_expired(emu, store)
                argv = ["authlib", emu.token_url, emu.base_url, emu.client_id, emu.client_secret]
                argv += [str(store), "10"]
            emu.reset_counters()
            row = {"contender": contender, **fleet(servers, work, [argv] * PROCESSES)}
            table.rows.append(row | _counted(emu))
    for row in table.rows[1:]:
        row["vs"] = compare(table.rows[0]["errors"], row["errors"], better="fewer", worse="more")
    ours = table.rows[0]
    table.notes.append(target("0 callers failed for ours", ours["errors"] == 0))
    table.notes.append(target("1 refresh_token request for ours", ours["token_requests"] == 1))
    return table


def _ours_expired(servers: list[ApiServer], work: Path, emu: TelnyxEmulator) -> None:
    save_block(servers[0], work / "setup", "b6", emu)
    servers[0].run(
        "from prefect_telnyx_oauth import TelnyxOAuthCredentials as B;"
        "B.load('b6', _sync=True).get_token()",
        work / "setup",
    )
    stale = (utc_now() - timedelta(minutes=5)).isoformat()
    asyncio.run(update_block_data(servers[0], "b6", {"access_token_expires_at": stale}))


def _authlib_expired(emu: TelnyxEmulator, store: Path) -> None:
    import httpx

    token = httpx.post(
        emu.token_url,
        data={"grant_type": "client_credentials"},
        auth=(emu.client_id, emu.client_secret),
    ).json()
    token["expires_at"] = int(time.time()) - 300
    store.write_text(json.dumps(token))


def run() -> Iterator[tuple[str, Table]]:
    """Run B3-B6 on one PostgreSQL cluster and two API servers; yield (key, table) as each ends."""
    with tempfile.TemporaryDirectory(prefix="telnyx-bench-") as tmp:
        work = Path(tmp)
        with cluster(work) as servers:
            for key, scenario in (("b3", b3), ("b4", b4), ("b5", b5), ("b6", b6)):
                try:
                    table = scenario(servers, work)
                except Exception as exc:  # one scenario crashing must not cost the others
                    table = Table(f"{key.upper()} crashed", [Column("error", "error", left=True)])
                    table.rows.append({"error": f"{type(exc).__name__}: {exc}"[:2000]})
                yield key, table


def summary(key: str, table: Table) -> list[str]:
    """One sentence per alternative, for B3 and B6 (B4 and B5 have no alternative)."""
    if key not in ("b3", "b6") or len(table.rows) < 2 or "contender" not in table.rows[0]:
        return []
    ours, alt = table.rows[0], table.rows[1]
    if key == "b3":
        return [
            f"B3, {PROCESSES} processes, one block: ours sent {ours['token_requests']} token "
            f"request(s), the Telnyx SDK's own OAuth {alt['token_requests']}."
        ]
    return [
        f"B6, rotation race on PostgreSQL: ours failed {ours['errors']} caller(s) with "
        f"{ours['token_requests']} token request(s); Authlib failed {alt['errors']} with "
        f"{alt['token_requests']}."
    ]
