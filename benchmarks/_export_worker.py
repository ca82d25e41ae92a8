"""One contender of the export benchmark, in its own process (so its peak RSS is its own).

Usage: python benchmarks/_export_worker.py {ours|sdk} BASE_URL CLIENT_ID CLIENT_SECRET OUT_DIR
Prints one JSON line: records, seconds, baseline and peak RSS (MiB).

Both read the same range (one UTC day) with `page[size]=250`, oldest first, and write the same
CSV through the same writer, so the difference is the client: ours is what each window task of
`export_detail_records` runs (`export_window`: `call_telnyx`, plain dicts, page by page); the
SDK's is `Telnyx(...).detail_records.list()` iterated (auto-pagination, a pydantic model a record).
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import httpx

from prefect_telnyx_oauth._export_files import CsvWriter, Destination
from prefect_telnyx_oauth._export_plan import Window, iso
from prefect_telnyx_oauth._export_window import export_window
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials

DAY = Window(
    dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(base_url: str, client_id: str, secret: str, out: Path) -> int:
    block = TelnyxOAuthCredentials(client_id=client_id, client_secret=secret, base_url=base_url)
    with block.get_client(timeout=60) as client:
        result = export_window(block, client, "messaging", DAY, Destination(str(out)), "csv", 250)
    return result.records


def sdk(base_url: str, client_id: str, secret: str, out: Path) -> int:
    from telnyx import Telnyx

    token = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).json()["access_token"]
    out.mkdir(parents=True, exist_ok=True)
    records = 0
    with Telnyx(api_key=token, base_url=base_url) as client, (out / "sdk.csv").open("wb") as f:
        writer = CsvWriter(f)
        pages = client.detail_records.list(
            filter={
                "record_type": "messaging",
                "created_at": {"gte": iso(DAY.start_at), "lt": iso(DAY.end_at)},
            },
            page_size=250,
            sort=["created_at"],
        )
        for page in pages.iter_pages():
            rows = [record.to_dict(mode="json") for record in page.data]
            writer.write(rows)
            records += len(rows)
        writer.close()
    return records


def main(argv: list[str]) -> None:
    contender, base_url, client_id, secret, out = argv
    baseline = rss_mib()
    started = time.perf_counter()
    records = (ours if contender == "ours" else sdk)(base_url, client_id, secret, Path(out))
    elapsed = time.perf_counter() - started
    peak = rss_mib()
    result = {"records": records, "seconds": elapsed, "baseline_mib": baseline, "peak_mib": peak}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
