"""Start N callers at the same instant (threads or asyncio tasks) and time each one.

Every caller is built before the start line (building an httpx client costs milliseconds that
have nothing to do with tokens), then all are released together. An exception in one caller is
recorded as that caller's error; it never stops the others or the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

BURST_TIMEOUT_SECONDS = 60.0
"""A burst that takes longer than this is cut off and its unfinished callers count as errors."""


def describe(exc: BaseException) -> str:
    """`Type: message`, one line and short, for a table cell."""
    text = " ".join(str(exc).split())
    if len(text) > 90:
        text = text[:87] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _nothing() -> None:
    return None


async def _anothing() -> None:
    return None


@dataclass
class Caller:
    """One thread's work: `call` is timed, `close` runs after the burst."""

    call: Callable[[], Any]
    close: Callable[[], Any] = _nothing


@dataclass
class AsyncCaller:
    """One task's work: `call` is timed, `close` runs after the burst."""

    call: Callable[[], Awaitable[Any]]
    close: Callable[[], Awaitable[Any]] = _anothing


@dataclass
class Burst:
    """What a burst of callers observed."""

    callers: int
    wall_seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    loop_stall_ms: float | None = None

    def as_row(self) -> dict[str, Any]:
        common = Counter(self.errors).most_common(1)
        return {
            "callers": self.callers,
            "errors": len(self.errors),
            "error_sample": common[0][0] if common else None,
            "wall_s": self.wall_seconds,
            "p50_s": statistics.median(self.latencies) if self.latencies else None,
            "max_s": max(self.latencies) if self.latencies else None,
            "loop_stall_ms": self.loop_stall_ms,
        }


def quiesce() -> None:
    """Collect garbage now, so a full collection of earlier bursts' objects does not land inside
    the next measurement and get blamed on whichever contender happens to be running."""
    gc.collect()


def thread_burst(n: int, make_caller: Callable[[int], Caller]) -> Burst:
    """Build `n` callers in `n` threads, release them together, and time each call."""
    barrier = threading.Barrier(n + 1)
    callers: list[Caller | None] = [None] * n
    errors: list[str | None] = [None] * n
    finished: list[float | None] = [None] * n

    def worker(i: int) -> None:
        try:
            callers[i] = make_caller(i)
        except Exception as exc:
            errors[i] = f"setup: {describe(exc)}"
        try:
            barrier.wait(BURST_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError:
            errors[i] = errors[i] or "start barrier broken"
            return
        caller = callers[i]
        if caller is not None:
            try:
                caller.call()
            except Exception as exc:
                errors[i] = describe(exc)
        finished[i] = time.perf_counter()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"bench-caller-{i}", daemon=True)
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    quiesce()
    barrier.wait(BURST_TIMEOUT_SECONDS)
    start = time.perf_counter()
    deadline = start + BURST_TIMEOUT_SECONDS
    for thread in threads:
        thread.join(max(deadline - time.perf_counter(), 0.0))
    wall = time.perf_counter() - start
    for caller in callers:
        if caller is not None:
            with contextlib.suppress(Exception):  # closing is not what is measured
                caller.close()
    return _burst(n, start, wall, finished, errors)


async def task_burst(n: int, make_caller: Callable[[int], Awaitable[AsyncCaller]]) -> Burst:
    """Build `n` callers, run them as `n` concurrent tasks, and watch the event loop stall."""
    callers: list[AsyncCaller | None] = []
    errors: list[str | None] = [None] * n
    finished: list[float | None] = [None] * n
    for i in range(n):
        try:
            callers.append(await make_caller(i))
        except Exception as exc:
            callers.append(None)
            errors[i] = f"setup: {describe(exc)}"

    async def one(i: int) -> None:
        caller = callers[i]
        if caller is not None:
            try:
                await caller.call()
            except Exception as exc:
                errors[i] = describe(exc)
        finished[i] = time.perf_counter()

    quiesce()
    probe = LoopStallProbe()
    probe.start()
    start = time.perf_counter()
    with contextlib.suppress(asyncio.TimeoutError):  # the unfinished count as errors
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), BURST_TIMEOUT_SECONDS)
    wall = time.perf_counter() - start
    stall = await probe.stop()
    for caller in callers:
        if caller is not None:
            with contextlib.suppress(Exception):  # closing is not what is measured
                await caller.close()
    burst = _burst(n, start, wall, finished, errors)
    burst.loop_stall_ms = stall * 1000
    return burst


def _burst(
    n: int, start: float, wall: float, finished: list[float | None], errors: list[str | None]
) -> Burst:
    latencies = [end - start for end in finished if end is not None]
    problems = [
        error
        if error is not None
        else (f"did not finish within {BURST_TIMEOUT_SECONDS:.0f} s" if end is None else None)
        for error, end in zip(errors, finished, strict=True)
    ]
    wall = max(latencies) if len(latencies) == n else wall
    return Burst(n, wall, latencies, [p for p in problems if p is not None])


class LoopStallProbe:
    """A task that sleeps 5 ms at a time and records the longest it overslept.

    A healthy loop oversleeps by a millisecond or two under load; a blocking call inside a
    coroutine (a synchronous HTTP request, say) shows up as the length of that call.
    """

    INTERVAL_SECONDS = 0.005

    def __init__(self) -> None:
        self._worst = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self._worst

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before = loop.time()
            await asyncio.sleep(self.INTERVAL_SECONDS)
            self._worst = max(self._worst, loop.time() - before - self.INTERVAL_SECONDS)
