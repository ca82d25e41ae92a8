"""Scenario B7: exporting detail records, ours vs the Telnyx SDK's auto-pagination.

The emulator (in this process) holds N messaging records in one UTC day; each contender reads
that day with `page[size]=250` and writes the same CSV, in its own process (`_export_worker.py`),
so each peak RSS is the contender's own. Ours is the window export every task of
`export_detail_records` runs; the SDK is `detail_records.list()` iterated page by page. Run at
10,000 and 100,000 records: records/s, and peak RSS (flat means the export holds one page, not
the whole result).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _report import Column, Table, compare, count, seconds

from telnyx_oauth.emulator import TelnyxEmulator

SIZES = (10_000, 100_000)
WORKER = Path(__file__).with_name("_export_worker.py")
DAY_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CONTENDERS = (
    ("ours", "export_window (each export_detail_records task): call_telnyx, dicts, page by page"),
    ("telnyx SDK", "Telnyx(api_key=token).detail_records.list(...).iter_pages(), to_dict()"),
)

COLUMNS = [
    Column("contender", "contender", left=True),
    Column("records", "records", count),
    Column("seconds", "wall s", seconds),
    Column("per_second", "records/s", lambda v: f"{v:,.0f}"),
    Column("baseline_mib", "RSS before MiB", lambda v: f"{v:.0f}"),
    Column("peak_mib", "peak RSS MiB", lambda v: f"{v:.0f}"),
    Column("vs", "ours: records/s", left=True),
]


def _run(contender: str, emu: TelnyxEmulator, out: Path) -> dict[str, Any]:
    which = "ours" if contender == "ours" else "sdk"
    args = [sys.executable, str(WORKER), which, emu.base_url, emu.client_id, emu.client_secret]
    done = subprocess.run([*args, str(out)], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["per_second"] = result["records"] / result["seconds"]
    return result


def export_vs_sdk(sizes: tuple[int, ...] = SIZES) -> Table:
    """Return B7's table: one row per contender and size."""
    table = Table(
        "7. Export detail records to CSV (page size 250), each contender in its own process",
        COLUMNS,
    )
    for size in sizes:
        with TelnyxEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
            emu.seed_detail_records(size, start_at=DAY_START, interval_seconds=86_400 / size)
            rows = []
            for contender, _ in CONTENDERS:
                row = {"contender": f"{contender}, {size:,}", **_run(contender, emu, Path(tmp))}
                rows.append(row)
            ours, sdk = rows
            sdk["vs"] = compare(
                1 / ours["per_second"], 1 / sdk["per_second"], better="faster", worse="slower"
            )
            table.rows.extend(rows)
    table.notes.extend(f"{name}: {how}" for name, how in CONTENDERS)
    table.notes.append(
        "the emulator serves both from this process; 'RSS before' is the worker after its imports"
    )
    return table


def summary(table: Table) -> list[str]:
    """One line on throughput at the largest size, one on how our peak RSS grows with size."""
    by_name = {row["contender"]: row for row in table.rows}
    largest, smallest = max(SIZES), min(SIZES)
    ours, sdk = by_name[f"ours, {largest:,}"], by_name[f"telnyx SDK, {largest:,}"]
    small = by_name[f"ours, {smallest:,}"]
    return [
        f"export {largest:,} records: ours {ours['per_second']:,.0f} records/s vs the SDK's "
        f"{sdk['per_second']:,.0f} ({sdk['vs']})",
        f"export peak RSS, ours: {small['peak_mib']:.0f} MiB at {smallest:,} records, "
        f"{ours['peak_mib']:.0f} MiB at {largest:,} (SDK: {sdk['peak_mib']:.0f} MiB)",
    ]
