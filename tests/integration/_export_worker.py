"""Runs `export_detail_records` in its own process, for the kill-mid-run test.

Usage: python -m tests.integration._export_worker BLOCK DESTINATION START END PAGE_SIZE
(PREFECT_API_URL in the environment names the test's Prefect API.)
"""

from __future__ import annotations

import datetime as dt
import sys

from prefect_telnyx_oauth.detail_records import export_detail_records


def main(argv: list[str]) -> None:
    block, destination, start, end, page_size = argv
    export_detail_records(
        block,
        destination=destination,
        start_at=dt.datetime.fromisoformat(start),
        end_at=dt.datetime.fromisoformat(end),
        page_size=int(page_size),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
