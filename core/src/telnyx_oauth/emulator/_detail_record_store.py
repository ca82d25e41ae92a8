"""The history `GET /v2/detail_records` serves: seeded, deterministic, per record type.

Records are kept per type as two parallel arrays (time, key) sorted by time, and only a requested
page is built, so a history of millions of records costs 16 bytes each. Seeded records are built
from their key (the same seed calls give the same records, ids included); every message the
emulator sends (`POST /messages`) adds its messaging record.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import threading
import uuid
from array import array
from decimal import Decimal
from typing import Any

TIME_FIELDS = {"messaging": "created_at", "call-control": "started_at"}
"""The record types served, with the time field each is filtered and sorted by."""

MAX_PAGE_SIZE = 250
DEFAULT_SEED_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_USER_ID = "0b6f5fd3-7e1f-4e8c-9a0e-3c0f2d1e7a55"
_PROFILE_ID = "4001767e-ce0f-4cae-9d5f-0d5e636e7809"


def _iso(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str) -> float | None:
    """Return the epoch of an ISO 8601 date or date-time (naive means UTC), or None."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _record_uuid(record_type: str, key: int) -> str:
    digest = hashlib.blake2b(f"{record_type}:{key}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _money(amount: Decimal) -> str:
    return f"{amount:.4f}"


def seeded_record(record_type: str, key: int, at: float) -> dict[str, Any]:
    """Return the seeded record of `record_type` number `key`, created (or started) at `at`."""
    rid = _record_uuid(record_type, key)
    # Every 10th record is billed in EUR, so a cost sum has more than one currency to show.
    currency = "EUR" if key % 10 == 9 else "USD"
    if record_type == "messaging":
        parts = 1 + (key % 4 == 0)
        rate = Decimal("0.0037") if currency == "EUR" else Decimal("0.0040")
        return {
            "record_type": "message_detail_record",
            "uuid": rid,
            "user_id": _USER_ID,
            "created_at": _iso(at),
            "updated_at": _iso(at + 2),
            "sent_at": _iso(at + 0.5),
            "completed_at": _iso(at + 2),
            "carrier": "T-Mobile USA",
            "carrier_fee": "0.0030",
            "cld": f"+1555{200_000 + key % 100_000:07d}",
            "cli": "+15550100000",
            "country_code": "US",
            "delivery_status": "success: webhook succeeded",
            "delivery_status_failover_url": None,
            "delivery_status_webhook_url": "https://example.com/telnyx/status",
            "direction": "inbound" if key % 3 == 2 else "outbound",
            "errors": [],
            "fteu": False,
            "mcc": "310",
            "mnc": "260",
            "message_type": "SMS",
            "on_net": False,
            "parts": parts,
            "profile_id": _PROFILE_ID,
            "profile_name": "emulator-profile",
            "rate": _money(rate),
            "cost": _money(rate * parts),
            "currency": currency,
            "source_country_code": "US",
            "status": "delivered",
            "tags": "",
        }
    call_sec = 5 + key % 600
    billed_sec = math.ceil(call_sec / 60) * 60
    rate = Decimal("0.0065") if currency == "EUR" else Decimal("0.0070")
    return {
        "record_type": "call_control_detail_record",
        "id": rid,
        "user_id": _USER_ID,
        "call_leg_id": _record_uuid("leg", key),
        "call_session_id": _record_uuid("session", key),
        "connection_id": "1293384261075731499",
        "cli": "+15550100000",
        "cld": f"+1555{300_000 + key % 100_000:07d}",
        "direction": "inbound" if key % 3 == 2 else "outbound",
        "started_at": _iso(at),
        "answered_at": _iso(at + 3),
        "finished_at": _iso(at + 3 + call_sec),
        "call_sec": call_sec,
        "billed_sec": billed_sec,
        "hangup_cause": "normal_clearing",
        "is_telnyx_billable": True,
        "rate": _money(rate),
        "rate_measured_in": "minute",
        "cost": _money(rate * billed_sec / 60),
        "currency": currency,
    }


def message_record(message: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Return (created_at epoch, messaging detail record) of a message the emulator sent."""
    at = parse_instant(message["received_at"]) or 0.0
    parts = int(message.get("parts") or 1)
    rate = Decimal("0.0040")
    record = seeded_record("messaging", 0, at)
    record.update(
        uuid=message["id"],
        cli=message["from"]["phone_number"],
        cld=message["to"][0]["phone_number"],
        direction="outbound",
        message_type=message["type"],
        parts=parts,
        profile_id=message["messaging_profile_id"],
        rate=_money(rate),
        cost=_money(rate * parts),
        currency="USD",
    )
    return at, record


class _Series:
    """One record type's history: times sorted ascending, keys beside them, sent ones by key."""

    def __init__(self) -> None:
        self.times = array("d")
        self.keys = array("q")
        self.explicit: dict[int, dict[str, Any]] = {}


class DetailRecordStore:
    """Every record type's history, behind one lock (routes and tests use it from two threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series = {record_type: _Series() for record_type in TIME_FIELDS}
        self._next_key = 0
        self.latency_seconds = 0.0

    def seed(
        self, record_type: str, count: int, start_at: dt.datetime, interval_seconds: float
    ) -> None:
        """Add `count` seeded records, the first at `start_at`, one every `interval_seconds`."""
        if record_type not in TIME_FIELDS:
            raise ValueError(f"record_type must be one of: {', '.join(TIME_FIELDS)}")
        if count < 0 or interval_seconds < 0 or start_at.tzinfo is None:
            raise ValueError("need count >= 0, interval_seconds >= 0 and an aware start_at")
        start = start_at.timestamp()
        with self._lock:
            series = self._series[record_type]
            first = self._next_key
            self._next_key += count
            times = array("d", (start + i * interval_seconds for i in range(count)))
            keys = array("q", range(first, first + count))
            if not series.times or not times or times[0] >= series.times[-1]:
                series.times.extend(times)
                series.keys.extend(keys)
                return
            merged = sorted(zip([*series.times, *times], [*series.keys, *keys], strict=True))
            series.times = array("d", (t for t, _ in merged))
            series.keys = array("q", (k for _, k in merged))

    def add(self, record_type: str, at: float, record: dict[str, Any]) -> None:
        """Add one explicit record (a sent message) at its time."""
        with self._lock:
            series = self._series[record_type]
            key = -(len(series.explicit) + 1)
            series.explicit[key] = record
            index = bisect.bisect_right(series.times, at)
            series.times.insert(index, at)
            series.keys.insert(index, key)

    def add_message(self, message: dict[str, Any]) -> None:
        """Add the messaging record of a message the emulator sent."""
        at, record = message_record(message)
        self.add("messaging", at, record)

    def page(
        self,
        record_type: str,
        bounds: dict[str, float],
        descending: bool,
        number: int,
        size: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of matching records and how many match in all."""
        with self._lock:
            series = self._series[record_type]
            times = series.times
            low, high = 0, len(times)
            if "gte" in bounds:
                low = max(low, bisect.bisect_left(times, bounds["gte"]))
            if "gt" in bounds:
                low = max(low, bisect.bisect_right(times, bounds["gt"]))
            if "lt" in bounds:
                high = min(high, bisect.bisect_left(times, bounds["lt"]))
            if "lte" in bounds:
                high = min(high, bisect.bisect_right(times, bounds["lte"]))
            total = max(0, high - low)
            skip = (number - 1) * size
            if descending:
                indexes = range(high - 1 - skip, max(low, high - skip - size) - 1, -1)
            else:
                indexes = range(low + skip, min(high, low + skip + size))
            picked = [(times[i], series.keys[i]) for i in indexes]
            explicit = {k: dict(series.explicit[k]) for _, k in picked if k < 0}
        data = [
            explicit[key] if key < 0 else seeded_record(record_type, key, at) for at, key in picked
        ]
        return data, total
