"""Export Telnyx detail records every hour, resuming where the last run stopped.

    .venv/bin/python flows/export_detail_records.py --block prod-telnyx --destination exports \\
        --start-at 2026-01-01T00:00:00Z                     # serves until Ctrl-C
    .venv/bin/python flows/export_detail_records.py --block prod-telnyx --destination exports \\
        --start-at 2026-01-01T00:00:00Z --run-once          # one run, then exit

The deployment runs at 15 minutes past each hour (`--cron`), when the hour before has ended. Each
run exports the whole windows since the watermark (a Prefect Variable), re-reading the last one
for late records. `--start-at` is where the very first run begins; once a watermark exists it is
ignored, so restarting the script never exports twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from prefect.variables import Variable

from prefect_telnyx_oauth._export_plan import WINDOW_LENGTHS, floor_to, iso, parse_instant
from prefect_telnyx_oauth.detail_records import export_detail_records, watermark_variable_name

DEFAULT_CRON = "15 * * * *"


def seed_watermark(
    name: str, start_at: dt.datetime, window: str, overlap_windows: int
) -> str | None:
    """Start the watermark at `start_at` unless one exists; return the one in force.

    A resumed run begins `overlap_windows` windows before the watermark, so the first watermark
    is set that far after `start_at`: the first run then begins exactly at `start_at`.
    """
    current = Variable.get(name, default=None)
    if current is not None:
        return str(current)
    length = WINDOW_LENGTHS[window]
    first = floor_to(start_at, "day" if window == "day" else "hour") + overlap_windows * length
    Variable.set(name, iso(first), overwrite=True)
    return None


def main(argv: list[str] | None = None) -> int:
    """Seed the watermark, then serve the export on a cron schedule (or run it once)."""
    parser = argparse.ArgumentParser(description="Export Telnyx detail records on a schedule.")
    parser.add_argument("--block", required=True, help="the saved TelnyxOAuthCredentials block")
    parser.add_argument("--destination", required=True, help="a directory or an fsspec URL")
    parser.add_argument("--record-type", default="messaging")
    parser.add_argument("--format", default="csv", choices=["csv", "jsonl", "parquet"])
    parser.add_argument("--window", default="hour", choices=["hour", "day"])
    parser.add_argument("--overlap-windows", type=int, default=1)
    parser.add_argument("--start-at", type=parse_instant, help="where the first run begins (UTC)")
    parser.add_argument("--cron", default=DEFAULT_CRON)
    parser.add_argument("--run-once", action="store_true", help="run once and exit")
    args = parser.parse_args(argv)
    name = watermark_variable_name(args.block, args.record_type)
    if args.start_at is not None:
        seed_watermark(name, args.start_at, args.window, args.overlap_windows)
    parameters = {
        "credentials": args.block,
        "destination": args.destination,
        "record_type": args.record_type,
        "file_format": args.format,
        "window": args.window,
        "overlap_windows": args.overlap_windows,
    }
    if args.run_once:
        summary = export_detail_records(**parameters)
        print(
            f"Exported {summary['records']} records in {summary['windows']} windows; "
            f"watermark {summary['watermark']}."
        )
        return 0
    export_detail_records.serve(
        name=f"export-{args.block}-{args.record_type}", cron=args.cron, parameters=parameters
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
