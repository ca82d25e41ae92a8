"""Export one window of detail records to one file, page by page, each record once.

Pages are asked oldest first. A record that arrives while the window is read shifts later pages by
one, so the page after shows again a record already written: records older than the newest one
written, or as old and already written (the ids at that instant are kept), are skipped. Memory
holds one page and those ids, however large the window. A late record that lands before the
current page is not seen by this read; the next run's overlap re-reads the window and gets it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from prefect_telnyx_oauth._api import call_telnyx
from prefect_telnyx_oauth._export_files import EXTENSIONS, WRITERS, Destination, PageWriter
from prefect_telnyx_oauth._export_plan import RECORD_TYPES, Window, iso, parse_instant
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials


@dataclasses.dataclass
class WindowResult:
    """What one window's export wrote."""

    record_type: str
    window_start: str
    window_end: str
    records: int = 0
    pages: int = 0
    cost_by_currency: dict[str, str] = dataclasses.field(default_factory=dict)
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the task's persisted result)."""
        return dataclasses.asdict(self)


class _Dedup:
    """Skips records a shifted page shows again (see the module docstring)."""

    def __init__(self, time_field: str, id_field: str) -> None:
        self.time_field, self.id_field = time_field, id_field
        self.newest: dt.datetime | None = None
        self.ids_at_newest: set[str] = set()

    def fresh(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for record in records:
            at = parse_instant(str(record[self.time_field]))
            rid = str(record.get(self.id_field))
            if self.newest is None or at > self.newest:
                self.newest, self.ids_at_newest = at, {rid}
            elif at < self.newest or rid in self.ids_at_newest:
                continue
            else:
                self.ids_at_newest.add(rid)
            kept.append(record)
        return kept


def file_name(record_type: str, window: Window, file_format: str) -> str:
    """The window's file, relative to the destination: `messaging/<start>-<end>.csv`."""
    return f"{record_type}/{window.name}.{EXTENSIONS[file_format]}"


def export_window(
    credentials: TelnyxOAuthCredentials,
    client: httpx.Client,
    record_type: str,
    window: Window,
    destination: Destination,
    file_format: str,
    page_size: int,
) -> WindowResult:
    """Read every page of `window` and write its records to one file; return what was written.

    The file appears under its final name only when complete (see `_export_files`).
    """
    time_field, id_field = RECORD_TYPES[record_type]
    result = WindowResult(record_type, iso(window.start_at), iso(window.end_at))
    final = file_name(record_type, window, file_format)
    partial = f"{final}.partial"
    costs: dict[str, Decimal] = {}
    dedup = _Dedup(time_field, id_field)
    query = window.params(record_type)
    with destination.open(partial) as stream:
        writer: PageWriter = WRITERS[file_format](stream)
        page = 1
        while True:
            params = {**query, "page[number]": page, "page[size]": page_size}
            body = call_telnyx(credentials, "GET", "/detail_records", params=params, client=client)
            data = body.get("data") or []
            result.pages += 1
            fresh = dedup.fresh(data)
            writer.write(fresh)
            result.records += len(fresh)
            _add_costs(costs, fresh)
            meta = body.get("meta") or {}
            total_pages = meta.get("total_pages")
            if not data or not isinstance(total_pages, int) or page >= total_pages:
                break
            page += 1
        writer.close()
    if result.records:
        destination.commit(partial, final)
        result.file = destination.location(final)
    else:
        destination.remove(partial)
    result.cost_by_currency = {c: f"{amount:.4f}" for c, amount in sorted(costs.items())}
    return result


def _add_costs(costs: dict[str, Decimal], records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        cost, currency = record.get("cost"), record.get("currency")
        if cost in (None, "") or not currency:
            continue
        try:
            costs[currency] = costs.get(currency, Decimal(0)) + Decimal(str(cost))
        except InvalidOperation:
            continue
