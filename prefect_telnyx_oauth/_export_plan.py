"""What a detail-records export will do, decided before any request: record type, windows, checks.

Pure functions (no I/O): the flow validates its input here and splits the range into windows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

from telnyx_oauth.errors import ConfigurationError

WindowSize = Literal["hour", "day"]
FileFormat = Literal["csv", "jsonl", "parquet"]

RECORD_TYPES: dict[str, tuple[str, str]] = {
    "messaging": ("created_at", "uuid"),
    "call-control": ("started_at", "id"),
    "sip-trunking": ("started_at", "id"),
    "verify": ("created_at", "id"),
}
"""Record types the export knows: (time field it filters and sorts by, id field it de-duplicates
by). Telnyx filters messaging records by `created_at`, call-control and SIP trunking records by
`started_at` (they have no `created_at`)."""

WINDOW_LENGTHS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
FILE_FORMATS = ("csv", "jsonl", "parquet")
MAX_PAGE_SIZE = 250
"""The largest `page[size]` Telnyx accepts."""


@dataclasses.dataclass(frozen=True)
class Window:
    """One half-open time window, `[start_at, end_at)`, in aware UTC."""

    start_at: dt.datetime
    end_at: dt.datetime

    @property
    def name(self) -> str:
        """The window in file and artifact names, e.g. `20260101T000000Z-20260101T010000Z`."""
        return f"{self.start_at:%Y%m%dT%H%M%SZ}-{self.end_at:%Y%m%dT%H%M%SZ}"

    def params(self, record_type: str) -> dict[str, Any]:
        """The search query of this window, sorted oldest first (paging relies on the order)."""
        field = RECORD_TYPES[record_type][0]
        return {
            "filter[record_type]": record_type,
            f"filter[{field}][gte]": iso(self.start_at),
            f"filter[{field}][lt]": iso(self.end_at),
            "sort": field,
        }


def iso(moment: dt.datetime) -> str:
    """Format an aware instant as Telnyx does: `2026-01-01T00:00:00Z`."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str) -> dt.datetime:
    """Parse an ISO 8601 instant (a trailing `Z` means UTC) into an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return as_utc(moment, "value")


def as_utc(moment: dt.datetime, name: str) -> dt.datetime:
    """Return `moment` in UTC; a naive one is refused (its time zone would be a guess)."""
    if moment.tzinfo is None:
        msg = (
            f"{name} must be timezone-aware (e.g. 2026-01-01T00:00:00Z), got {moment.isoformat()}."
        )
        raise ConfigurationError(msg)
    return moment.astimezone(dt.timezone.utc)


def floor_to(moment: dt.datetime, window: WindowSize) -> dt.datetime:
    """The start of the hour or UTC day holding `moment`."""
    moment = moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if window == "day" else moment


def plan_windows(start_at: dt.datetime, end_at: dt.datetime, window: WindowSize) -> list[Window]:
    """Split `[start_at, end_at)` into whole windows (both ends are window boundaries)."""
    step = WINDOW_LENGTHS[window]
    windows: list[Window] = []
    cursor = start_at
    while cursor < end_at:
        windows.append(Window(cursor, cursor + step))
        cursor += step
    return windows


def check_options(record_type: str, file_format: str, window: str, page_size: int) -> None:
    """Raise ConfigurationError naming the first option the export cannot use."""
    if record_type not in RECORD_TYPES:
        known = ", ".join(RECORD_TYPES)
        msg = f"Unknown record_type {record_type!r}: the export knows {known}."
        raise ConfigurationError(msg)
    if file_format not in FILE_FORMATS:
        msg = f"Unknown file_format {file_format!r}: use one of {', '.join(FILE_FORMATS)}."
        raise ConfigurationError(msg)
    if window not in WINDOW_LENGTHS:
        msg = f"Unknown window {window!r}: use 'hour' or 'day'."
        raise ConfigurationError(msg)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        msg = f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}."
        raise ConfigurationError(msg)


def check_range(start_at: dt.datetime, end_at: dt.datetime, window: WindowSize) -> list[Window]:
    """Return the windows of an explicit range; an empty or inverted one is refused."""
    start, end = floor_to(start_at, window), floor_to(end_at, window)
    if end <= start:
        msg = (
            f"The export range is empty or inverted: start_at {iso(start_at)} and end_at "
            f"{iso(end_at)} hold no whole {window}. Pass an end_at at least one {window} after "
            "start_at."
        )
        raise ConfigurationError(msg)
    return plan_windows(start, end, window)
