"""`export_detail_records` against the emulator and a real Prefect API: each record exactly once
(also across a run killed mid-way), cached windows, resume from the watermark, late records
through the overlap, 429 recovery, artifacts, formats, and bad input refused before any request.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    ArtifactFilterType,
)
from prefect.exceptions import ParameterTypeError
from prefect.settings import PREFECT_API_URL
from prefect.variables import Variable

from prefect_telnyx_oauth.detail_records import export_detail_records
from telnyx_oauth.emulator import TelnyxEmulator
from telnyx_oauth.errors import ConfigurationError
from tests.integration.helpers import make_block

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def block_name(prefect_api: None, emulator: TelnyxEmulator) -> str:
    """A saved block on the emulator, under a name no other test uses (so is its watermark)."""
    name = f"export-{uuid.uuid4().hex[:10]}"
    make_block(emulator).save(name, overwrite=True)
    return name


def read_ids(directory: Path, id_field: str = "uuid") -> list[str]:
    ids: list[str] = []
    for path in sorted(directory.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as stream:
            ids.extend(row[id_field] for row in csv.DictReader(stream))
    return ids


def all_ids(emulator: TelnyxEmulator, block_name: str, tmp_path: Path) -> set[str]:
    """Every id the emulator holds, read by a plain one-window export elsewhere."""
    other = tmp_path / "reference"
    export_detail_records(
        make_block(emulator),
        destination=str(other),
        start_at=START - 24 * HOUR,
        end_at=START + 48 * HOUR,
        window="day",
        watermark_variable=f"reference-{block_name}",
    )
    return set(read_ids(other))


def table_artifact(key: str, flow_run_id: Any) -> list[dict[str, Any]]:
    """The table artifact `key` of this run (other tests' runs publish the same keys)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            ),
            limit=1,
        )
    data = found[0].data
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


def progress_of(flow_run_id: Any) -> float:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )
    return float(found[0].data)  # type: ignore[arg-type]


def test_export_writes_each_record_once_with_watermark_and_artifacts(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(300, start_at=START, interval_seconds=60)
    out = tmp_path / "out"
    state = export_detail_records(
        block_name,
        destination=str(out),
        start_at=START,
        end_at=START + 5 * HOUR,
        page_size=25,
        return_state=True,
    )
    summary = state.result()
    ids = read_ids(out)
    assert progress_of(state.state_details.flow_run_id) == 100.0
    assert summary["windows"] == 5
    assert summary["records"] == 300
    assert len(ids) == len(set(ids)) == 300
    assert sorted(p.name for p in (out / "messaging").iterdir())[0] == (
        "20260101T000000Z-20260101T010000Z.csv"
    )
    assert Variable.get(f"telnyx-export-{block_name}-messaging") == "2026-01-01T05:00:00Z"
    table = {
        r["measure"]: r["value"]
        for r in table_artifact("telnyx-messaging-20260101-0000", state.state_details.flow_run_id)
    }
    assert table["records"] == "60"
    assert table["pages"] == "3"
    # Keys 0-59: six (9, 19, ...) in EUR at 0.0037 a part; 54 in USD at 0.0040 a part, of which
    # the 15 multiples of 4 have two parts: 6 * 0.0037 and 69 * 0.0040.
    assert (table["cost (EUR)"], table["cost (USD)"]) == ("0.0222", "0.2760")
    assert table["file"].endswith("messaging/20260101T000000Z-20260101T010000Z.csv")


def test_call_control_records_export_by_started_at(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(120, record_type="call-control", start_at=START)
    emulator.seed_detail_records(120, start_at=START)  # messaging: not in this export
    out = tmp_path / "out"
    summary = export_detail_records(
        block_name,
        destination=str(out),
        record_type="call-control",
        start_at=START,
        end_at=START + 2 * HOUR,
    )
    ids = read_ids(out, "id")
    assert summary["records"] == len(set(ids)) == 120
    assert [p.parent.name for p in out.rglob("*.csv")] == ["call-control", "call-control"]


def test_rerun_fetches_no_finished_window_twice(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(180, start_at=START, interval_seconds=60)
    out = str(tmp_path / "out")
    export_detail_records(block_name, destination=out, start_at=START, end_at=START + 3 * HOUR)
    first = emulator.counters.api_requests
    export_detail_records(block_name, destination=out, start_at=START, end_at=START + 3 * HOUR)
    # Only the overlap window (the last one before the watermark) is read again: one page.
    assert emulator.counters.api_requests - first == 1
    assert len(read_ids(Path(out))) == 180


def test_resume_from_watermark_picks_up_late_records_once(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(300, start_at=START, interval_seconds=60)
    out = tmp_path / "out"
    export_detail_records(block_name, destination=str(out), start_at=START, end_at=START + 3 * HOUR)
    # A record of 02:30:30 arrives after its window was exported: the overlap re-reads it.
    emulator.seed_detail_records(1, start_at=START + 2.5 * HOUR + dt.timedelta(seconds=30))
    summary = export_detail_records(block_name, destination=str(out), end_at=START + 5 * HOUR)
    ids = read_ids(out)
    assert summary["windows"] == 3  # 02:00 (overlap), 03:00, 04:00
    assert len(ids) == len(set(ids)) == 301
    assert set(ids) == all_ids(emulator, block_name, tmp_path)


def test_records_arriving_mid_read_shift_pages_but_each_is_written_once(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(60, start_at=START, interval_seconds=60)
    emulator.set_detail_records_latency(0.3)  # room to add records between two pages

    def arrive_after_first_page() -> None:
        deadline = time.monotonic() + 60
        while emulator.counters.api_requests < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Five records older than every one on the next page: they push five already-written
        # records onto it.
        emulator.seed_detail_records(5, start_at=START + dt.timedelta(seconds=30))

    arrival = threading.Thread(target=arrive_after_first_page)
    arrival.start()
    out = tmp_path / "out"
    try:
        summary = export_detail_records(
            block_name, destination=str(out), start_at=START, end_at=START + HOUR, page_size=20
        )
    finally:
        arrival.join()
    ids = read_ids(out)
    assert len(ids) == len(set(ids)) == summary["records"]
    assert emulator.counters.api_requests == 4  # the shift made a fourth page


def test_watermark_does_not_jump_a_gap_left_by_a_later_explicit_range(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(360, start_at=START, interval_seconds=60)
    out = str(tmp_path / "out")
    export_detail_records(block_name, destination=out, start_at=START, end_at=START + 2 * HOUR)
    # 02:00-04:00 is never exported: the watermark must stay at 02:00, not move to 05:00.
    export_detail_records(
        block_name, destination=out, start_at=START + 4 * HOUR, end_at=START + 5 * HOUR
    )
    assert Variable.get(f"telnyx-export-{block_name}-messaging") == "2026-01-01T02:00:00Z"
    summary = export_detail_records(block_name, destination=out, end_at=START + 5 * HOUR)
    assert summary["windows"] == 4  # 01:00 (overlap) to 05:00: the gap is filled
    assert len(read_ids(Path(out))) == 300


def test_resume_without_watermark_or_start_is_refused(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="pass start_at for the first run"):
        export_detail_records(block_name, destination=str(tmp_path))
    assert emulator.counters.api_requests == emulator.counters.token_requests == 0


def test_export_recovers_from_429_with_retry_after(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    emulator.seed_detail_records(120, start_at=START, interval_seconds=60)
    emulator.fail_next_api_requests(2, status=429, retry_after=1)
    out = tmp_path / "out"
    summary = export_detail_records(
        block_name, destination=str(out), start_at=START, end_at=START + 2 * HOUR
    )
    ids = read_ids(out)
    assert summary["records"] == len(set(ids)) == len(ids) == 120
    assert emulator.counters.api_requests_by_status == {429: 2, 200: 2}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"record_type": "faxes"}, "Unknown record_type 'faxes'"),
        ({"start_at": START, "end_at": START}, "empty or inverted"),
        ({"start_at": START + HOUR, "end_at": START}, "empty or inverted"),
        ({"start_at": START, "end_at": START + 30 * dt.timedelta(minutes=1)}, "empty or inverted"),
        # Literal-typed parameters: Prefect's own validation names the parameter and its choices.
        ({"file_format": "xlsx"}, "file_format: Input should be 'csv', 'jsonl' or 'parquet'"),
        ({"window": "week"}, "window: Input should be 'hour' or 'day'"),
        ({"page_size": 500}, "page_size must be between 1 and 250, got 500"),
        ({"destination": "UNWRITABLE"}, "Cannot write to the destination"),
        ({"destination": "nosuchproto://bucket/x"}, "fsspec cannot open the destination"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    emulator: TelnyxEmulator,
    block_name: str,
    tmp_path: Path,
    options: dict[str, Any],
    message: str,
) -> None:
    emulator.seed_detail_records(10, start_at=START)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    arguments: dict[str, Any] = {
        "destination": str(tmp_path / "out"),
        "start_at": START,
        "end_at": START + HOUR,
        **options,
    }
    if arguments["destination"] == "UNWRITABLE":
        arguments["destination"] = str(blocker / "sub")
    with pytest.raises((ConfigurationError, ParameterTypeError), match=message):
        export_detail_records(block_name, **arguments)
    assert emulator.counters.api_requests == emulator.counters.token_requests == 0
    assert not (tmp_path / "out" / "messaging").exists()


def test_parquet_without_pyarrow_is_refused_before_any_request(
    emulator: TelnyxEmulator,
    block_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if not installed
    with pytest.raises(ConfigurationError, match=r"needs pyarrow: pip install"):
        export_detail_records(
            block_name,
            destination=str(tmp_path),
            file_format="parquet",
            start_at=START,
            end_at=START + HOUR,
        )
    assert emulator.counters.api_requests == emulator.counters.token_requests == 0


def test_jsonl_and_parquet_and_fsspec_url_hold_the_same_records(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    fsspec = pytest.importorskip("fsspec")
    emulator.seed_detail_records(90, start_at=START, interval_seconds=60)
    span = {"start_at": START, "end_at": START + 2 * HOUR, "page_size": 40}
    export_detail_records(block_name, destination=str(tmp_path / "j"), file_format="jsonl", **span)
    export_detail_records(
        block_name, destination=str(tmp_path / "p"), file_format="parquet", **span
    )
    memory = f"memory://exports-{block_name}"
    export_detail_records(block_name, destination=memory, **span)
    jsonl = [
        json.loads(line)["uuid"]
        for path in sorted((tmp_path / "j").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    parquet = [
        uid
        for path in sorted((tmp_path / "p").rglob("*.parquet"))
        for uid in pq.read_table(path).column("uuid").to_pylist()
    ]
    fs = fsspec.filesystem("memory")
    in_memory = [
        row["uuid"]
        for path in sorted(fs.glob(f"/exports-{block_name}/messaging/*.csv"))
        for row in csv.DictReader(fs.open(path, "r").read().splitlines())
    ]
    assert len(jsonl) == len(set(jsonl)) == 90
    assert parquet == jsonl == in_memory


def test_run_killed_mid_way_then_rerun_exports_100_000_records_exactly_once(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path
) -> None:
    # The first run is its own process (spawned, never forked from this one, which imported our
    # code and holds the token cache), killed with SIGKILL as a crash or an evicted worker would be.
    emulator.seed_detail_records(100_000, start_at=START, interval_seconds=4 * 86_400 / 100_000)
    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    end = START + 4 * 24 * HOUR  # four day windows of 25,000 records, 100 pages each
    args = [block_name, str(out), START.isoformat(), end.isoformat(), "day"]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._export_worker", *args], cwd=REPO, env=env
    )
    try:
        deadline = time.monotonic() + 240
        while not list(out.rglob("*.csv")) and time.monotonic() < deadline:
            assert child.poll() is None, "the export finished before it could be killed"
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    written_before = len(list(out.rglob("*.csv")))
    assert 1 <= written_before < 4
    export_detail_records(
        block_name, destination=str(out), start_at=START, end_at=end, window="day"
    )
    ids = read_ids(out)
    assert len(ids) == len(set(ids)) == 100_000
    assert not list(out.rglob("*.partial"))
    assert Variable.get(f"telnyx-export-{block_name}-messaging") == "2026-01-05T00:00:00Z"


def test_deployment_script_first_run_starts_at_start_at_then_resumes(
    emulator: TelnyxEmulator, block_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.export_detail_records import main

    hour = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    emulator.seed_detail_records(180, start_at=hour - 3 * HOUR, interval_seconds=60)
    out = tmp_path / "out"
    argv = ["--block", block_name, "--destination", str(out), "--run-once"]
    assert main([*argv, "--start-at", (hour - 3 * HOUR).isoformat()]) == 0
    assert "Exported 180 records in 3 windows" in capsys.readouterr().out
    assert main(argv) == 0  # resumes: only the overlap window is read again
    assert "Exported 60 records in 1 windows" in capsys.readouterr().out
    ids = read_ids(out)
    assert len(ids) == len(set(ids)) == 180
