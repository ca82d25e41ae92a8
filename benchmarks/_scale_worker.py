"""One process of the scale benchmarks (B3-B6), started by `_scale.py`; prints one JSON line.

    python _scale_worker.py ours GO NAME THREADS                 # B3, B6: the saved block
    python _scale_worker.py sdk GO BASE_URL ID SECRET THREADS    # B3: the Telnyx SDK's own OAuth
    python _scale_worker.py authlib GO TOKEN_URL BASE_URL ID SECRET STORE THREADS   # B6
    python _scale_worker.py soak NAME SECONDS THREADS TASKS      # B4
    python _scale_worker.py warm-task NAME CALLS                 # B5

The racing modes print READY once set up, wait until the GO file exists, then make every thread
call at once; they report when each caller held its token (`time.time()`) and every error.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def race(go: Path, threads: int, call: Callable[[], Any]) -> dict[str, Any]:
    print("READY", flush=True)
    while not go.exists():
        time.sleep(0.002)
    done: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            call()
            with lock:
                done.append(time.time())
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"done": done, "errors": errors}


def ours(go: str, name: str, threads: str) -> dict[str, Any]:
    from prefect_telnyx_oauth import TelnyxOAuthCredentials

    block = TelnyxOAuthCredentials.load(name, _sync=True)
    client = block.get_client()
    return race(Path(go), int(threads), lambda: client.get("/balance").raise_for_status())


class ToEmulator(httpx.HTTPTransport):
    """Sends what the SDK addresses to api.telnyx.com to the emulator instead (its token URL is
    hard-coded to production, whatever `base_url` says)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._target = httpx.URL(base_url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.telnyx.com":
            t = self._target
            request.url = request.url.copy_with(scheme=t.scheme, host=t.host, port=t.port)
        return super().handle_request(request)


def sdk(go: str, base_url: str, client_id: str, secret: str, threads: str) -> dict[str, Any]:
    import telnyx

    client = telnyx.Telnyx(
        client_id=client_id,
        client_secret=secret,
        base_url=base_url,
        http_client=httpx.Client(transport=ToEmulator(base_url)),
    )
    return race(Path(go), int(threads), client.balance.retrieve)


def authlib(
    go: str, token_url: str, base_url: str, client_id: str, secret: str, store: str, threads: str
) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import OAuth2Client
    path = Path(store)

    def save(token: Any, refresh_token: Any = None, access_token: Any = None) -> None:
        path.write_text(json.dumps(dict(token)))

    def call() -> None:
        # Authlib's documented pattern: load the stored token, persist refreshes in update_token.
        with OAuth2Client(
            client_id,
            secret,
            token_endpoint=token_url,
            base_url=base_url,
            token=json.loads(path.read_text()),
            leeway=0,
            update_token=save,
        ) as client:
            client.get("/balance").raise_for_status()

    return race(Path(go), int(threads), call)


def soak(name: str, seconds: str, threads: str, tasks: str) -> dict[str, Any]:
    from prefect_telnyx_oauth import TelnyxOAuthCredentials

    block = TelnyxOAuthCredentials.load(name, _sync=True)
    end = time.monotonic() + float(seconds)
    latencies: list[float] = []
    errors: list[str] = []

    def record(started: float, exc: Exception | None) -> None:
        latencies.append(time.perf_counter() - started)
        if exc is not None:
            errors.append(f"{type(exc).__name__}: {exc}"[:160])

    def thread_caller() -> None:
        with block.get_client() as client:
            while time.monotonic() < end:
                started, error = time.perf_counter(), None
                try:
                    client.get("/balance").raise_for_status()
                except Exception as exc:
                    error = exc
                record(started, error)
                time.sleep(0.01)

    async def task_caller() -> None:
        async with block.get_async_client() as client:
            while time.monotonic() < end:
                started, error = time.perf_counter(), None
                try:
                    (await client.get("/balance")).raise_for_status()
                except Exception as exc:
                    error = exc
                record(started, error)
                await asyncio.sleep(0.01)

    async def tasks_main() -> None:
        await asyncio.gather(*(task_caller() for _ in range(int(tasks))))

    pool = [threading.Thread(target=thread_caller) for _ in range(int(threads))]
    pool.append(threading.Thread(target=asyncio.run, args=(tasks_main(),)))
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    ordered = sorted(latencies)
    return {
        "calls": len(latencies),
        "errors": errors[:5],
        "failures": len(errors),
        "p50_s": statistics.median(ordered),
        "p99_s": ordered[int(len(ordered) * 0.99)],
        "max_s": ordered[-1],
    }


def warm_task(name: str, calls: str) -> dict[str, Any]:
    """B5: `get_telnyx_token` (by block name, then given the loaded block) on a warm cache vs a
    no-op task, one after the other in one flow run, counting this process's API requests."""
    from prefect import flow, task

    from prefect_telnyx_oauth import TelnyxOAuthCredentials, get_telnyx_token

    writes: dict[str, int] = {}
    reads = [0]
    sends = (httpx.Client.send, httpx.AsyncClient.send)

    def count(request: httpx.Request) -> None:
        # What this process asks of the Prefect API (the emulator's URLs have no /api/).
        if "/api/" not in request.url.path:
            return
        if request.method == "GET" or request.url.path.endswith("/filter"):
            reads[0] += 1
        else:
            endpoint = request.url.path.split("/api/")[1].split("/")[0]
            writes[endpoint] = writes.get(endpoint, 0) + 1

    def counting_send(self: httpx.Client, request: httpx.Request, **kw: Any) -> Any:
        count(request)
        return sends[0](self, request, **kw)

    async def acounting_send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        count(request)
        return await sends[1](self, request, **kw)

    @task
    def noop() -> None:
        return None

    @flow
    def b5() -> dict[str, Any]:
        block = TelnyxOAuthCredentials.load(name)
        get_telnyx_token(name)  # warm the cache
        httpx.Client.send = counting_send  # type: ignore[method-assign]
        httpx.AsyncClient.send = acounting_send  # type: ignore[method-assign]
        timings: dict[str, list[float]] = {"noop": [], "token": [], "token_block": []}
        counted: dict[str, Any] = {}
        for label, body in (
            ("noop", noop),
            ("token", lambda: get_telnyx_token(name)),
            ("token_block", lambda: get_telnyx_token(block)),
        ):
            reads[0] = 0
            writes.clear()
            for _ in range(int(calls)):
                started = time.perf_counter()
                body()
                timings[label].append(time.perf_counter() - started)
            time.sleep(2.5)  # let batched log and event writes of these calls go out
            counted[label] = {"reads": reads[0], "writes": dict(writes)}
        httpx.Client.send, httpx.AsyncClient.send = sends  # type: ignore[method-assign]
        return {
            "ms": {label: statistics.median(t) * 1000 for label, t in timings.items()},
            "counted": counted,
        }

    result: dict[str, Any] = b5()
    return result


MODES: dict[str, Callable[..., dict[str, Any]]] = {
    "ours": ours,
    "sdk": sdk,
    "authlib": authlib,
    "soak": soak,
    "warm-task": warm_task,
}

if __name__ == "__main__":
    print(json.dumps(MODES[sys.argv[1]](*sys.argv[2:])), flush=True)
