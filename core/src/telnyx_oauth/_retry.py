"""The one retry policy, without I/O: what is transient, and how long to wait before trying again.

Token requests and Telnyx API calls share it. Only transient failures are retried: 429, 5xx, and
network failures (connect, read and write errors and timeouts, a torn connection). Waits use
full-jitter exponential backoff unless the server says how long (`Retry-After`, seconds or an HTTP
date; Telnyx's `x-ratelimit-reset` on a 429); a server asking for more than
`retry_after_cap_seconds`, or for more time than the caller has left, ends the retries at once,
since sleeping that long inside a task helps nobody. The clock and the random number are
arguments, so every decision is testable.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import httpx

_DELTA_SECONDS = re.compile(r"\d{1,12}(\.\d{1,6})?")


class RetryLimits(Protocol):
    """What a retry decision needs; `RetryPolicy` and `TokenEndpointConfig` both provide it."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def backoff_base_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...
    @property
    def retry_after_cap_seconds(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How 429, 5xx and network failures are retried.

    Attributes:
        max_attempts: Attempts in all, the first included (1 turns retries off).
        backoff_base_seconds: First backoff ceiling when the server gives no wait.
        backoff_max_seconds: Largest backoff ceiling.
        retry_after_cap_seconds: The longest server-requested wait worth sleeping inside a task.
    """

    max_attempts: int = 3
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    retry_after_cap_seconds: float = 60.0


DEFAULT_RETRY_POLICY = RetryPolicy()


def is_transient(outcome: httpx.Response | BaseException) -> bool:
    """True for answers worth another attempt: 429, 5xx and network-level failures."""
    if isinstance(outcome, httpx.Response):
        return outcome.status_code == 429 or 500 <= outcome.status_code <= 599
    return isinstance(
        outcome, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    )


def parse_delta_seconds(value: str) -> float | None:
    """A non-negative number of seconds, as in `Retry-After: 5` or `x-ratelimit-reset: 0.5`."""
    value = value.strip()
    return float(value) if _DELTA_SECONDS.fullmatch(value) else None


def parse_retry_after(value: str, *, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta seconds or HTTP-date); None if invalid."""
    delta = parse_delta_seconds(value)
    if delta is not None:
        return delta
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # "-0000" means UTC with no zone information
    try:
        return max(0.0, (when - now).total_seconds())
    except OverflowError:
        return None


def server_wait_seconds(response: httpx.Response, *, now: datetime) -> float | None:
    """How long the server asked us to wait: `Retry-After`, else (429 only) `x-ratelimit-reset`."""
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        wait = parse_retry_after(retry_after, now=now)
        if wait is not None:
            return wait
    reset = response.headers.get("x-ratelimit-reset")
    if response.status_code == 429 and reset is not None:
        return parse_delta_seconds(reset)
    return None


def backoff_seconds(failed_attempts: int, *, policy: RetryLimits, rng: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, base * 2**(failed_attempts-1))].

    Args:
        failed_attempts: Attempts made so far (1 before the first retry).
        policy: Supplies the base and the maximum.
        rng: A uniform random number in [0, 1).
    """
    exponent = min(max(failed_attempts - 1, 0), 62)  # 2**62 already exceeds any sane maximum
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (1 << exponent))
    return min(max(rng, 0.0), 1.0) * ceiling


def retry_delay(
    attempt: int,
    outcome: httpx.Response | BaseException,
    *,
    policy: RetryLimits,
    now: datetime,
    rng: Callable[[], float],
    retryable: bool = True,
    remaining_seconds: float = math.inf,
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to stop retrying now.

    None when the request may not be repeated (`retryable` False), when `outcome` is not
    transient, when `attempt` was the last allowed, when the server asked to wait longer than
    `retry_after_cap_seconds`, or when the wait would not end before the caller's deadline
    (`remaining_seconds`). The delay is never negative and never above
    `max(backoff_max_seconds, retry_after_cap_seconds)`.
    """
    if not retryable or not is_transient(outcome) or attempt >= policy.max_attempts:
        return None
    delay: float | None = None
    if isinstance(outcome, httpx.Response):
        wait = server_wait_seconds(outcome, now=now)
        if wait is not None:
            if wait > policy.retry_after_cap_seconds:
                return None
            delay = wait
    if delay is None:
        delay = backoff_seconds(attempt, policy=policy, rng=rng())
    return delay if delay < remaining_seconds else None
