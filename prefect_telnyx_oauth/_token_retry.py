"""The retry policy of token requests, without I/O: what is transient, and how long to wait.

Only transient failures are retried: 429, 5xx, and network failures (connect, read and write
errors and timeouts, a torn connection). Waits use full-jitter exponential backoff unless the server
says how long (`Retry-After`, or Telnyx's `x-ratelimit-reset` on a 429); a server asking for more
than `retry_after_cap_seconds` ends the retries at once, since sleeping that long inside a task
helps nobody. The clock and the random number are arguments, so every decision is testable.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import datetime, timezone

import httpx

from prefect_telnyx_oauth._token_endpoint import STATUS_PAGE_URL, TokenEndpointConfig
from prefect_telnyx_oauth.errors import TokenEndpointUnavailableError

_DELTA_SECONDS = re.compile(r"\d{1,12}(\.\d{1,6})?")
_TEXT_LIMIT = 200


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


def backoff_seconds(failed_attempts: int, *, config: TokenEndpointConfig, rng: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, base * 2**(failed_attempts-1))].

    Args:
        failed_attempts: Attempts made so far (1 before the first retry).
        config: Supplies the base and the maximum.
        rng: A uniform random number in [0, 1).
    """
    exponent = min(max(failed_attempts - 1, 0), 62)  # 2**62 already exceeds any sane maximum
    ceiling = min(config.backoff_max_seconds, config.backoff_base_seconds * (1 << exponent))
    return min(max(rng, 0.0), 1.0) * ceiling


def retry_delay(
    attempt: int,
    outcome: httpx.Response | BaseException,
    *,
    config: TokenEndpointConfig,
    now: datetime,
    rng: Callable[[], float],
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to stop retrying now.

    None when `outcome` is not transient, when `attempt` was the last allowed, or when the server
    asked us to wait longer than `retry_after_cap_seconds`. The delay is never negative and never
    above `max(backoff_max_seconds, retry_after_cap_seconds)`.
    """
    if not is_transient(outcome) or attempt >= config.max_attempts:
        return None
    if isinstance(outcome, httpx.Response):
        wait = server_wait_seconds(outcome, now=now)
        if wait is not None:
            return wait if wait <= config.retry_after_cap_seconds else None
    return backoff_seconds(attempt, config=config, rng=rng())


def unavailable_error(
    outcome: httpx.Response | httpx.RequestError,
    *,
    config: TokenEndpointConfig,
    attempts: int,
    now: datetime,
) -> TokenEndpointUnavailableError:
    """The error for giving up on `outcome` after `attempts` attempts; says what to do next."""
    where = f"Telnyx token endpoint {config.token_url}"
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(outcome, httpx.RequestError):
        kind = type(outcome).__name__
        text = " ".join(str(outcome).split())[:_TEXT_LIMIT]
        reason = f"{kind}: {text}" if text else kind
        if is_transient(outcome):
            msg = (
                f"Could not get an answer from the {where} after {tries} ({reason}). Check "
                "network access to the token URL (DNS, proxy, firewall) or try again later."
            )
        else:
            msg = (
                f"Could not talk to the {where} ({reason}); this is not retried. Check the token "
                "URL and any proxy settings."
            )
        return TokenEndpointUnavailableError(
            msg, status_code=None, retry_after=None, attempts=attempts
        )
    status = outcome.status_code
    wait = server_wait_seconds(outcome, now=now)
    if wait is not None and wait > config.retry_after_cap_seconds:
        msg = (
            f"{where} answered {status} and asked to wait {wait:.0f} s, longer than "
            f"retry_after_cap_seconds={config.retry_after_cap_seconds:g}; try again after that "
            "wait, or raise retry_after_cap_seconds."
        )
    elif status == 429:
        later = f"after {wait:.0f} s" if wait is not None else "later"
        msg = (
            f"{where} kept answering 429 (rate limited) after {tries}; try again {later}, and "
            "share one token between tasks instead of requesting many."
        )
    else:
        msg = (
            f"{where} kept answering {status} after {tries}; try again later or check "
            f"{STATUS_PAGE_URL}."
        )
    return TokenEndpointUnavailableError(
        msg, status_code=status, retry_after=wait, attempts=attempts
    )
