"""Runs `export_detail_records` in its own process, for the kill-mid-run test.

Usage: python -m tests.integration._export_worker BLOCK DESTINATION START END WINDOW
(PREFECT_API_URL in the environment names the test's Prefect API.)
"""

from __future__ import annotations

import datetime as dt
import sys

from prefect_telnyx_oauth.detail_records import export_detail_records


def main(argv: list[str]) -> None:
    block, destination, start, end, window = argv
    export_detail_records(
        block,
        destination=destination,
        start_at=dt.datetime.fromisoformat(start),
        end_at=dt.datetime.fromisoformat(end),
        window=window,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
