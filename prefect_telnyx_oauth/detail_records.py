"""`export_detail_records`: Telnyx detail records to files, window by window, resumable.

The range splits into hour or day windows; each is one task run (`export_detail_record_window`)
that writes one file, retried on failure and cached by (block, record type, window, destination,
format), so a re-run does not fetch a finished window twice. A Prefect Variable holds the
watermark: the end of the last complete window, moved only forward and only past complete windows.
A run without `start_at` resumes from it, re-reading the last `overlap_windows` windows (uncached)
for records that arrived late; each window file is rewritten whole, records de-duplicated by id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from prefect import flow, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import TaskRunContext
from prefect.variables import Variable

from prefect_telnyx_oauth._api import DEFAULT_TIMEOUT_SECONDS, run_logger
from prefect_telnyx_oauth._export_files import Destination, check_format_available
from prefect_telnyx_oauth._export_plan import (
    WINDOW_LENGTHS,
    FileFormat,
    Window,
    WindowSize,
    as_utc,
    check_options,
    check_range,
    floor_to,
    iso,
    parse_instant,
    plan_windows,
)
from prefect_telnyx_oauth._export_window import export_window
from prefect_telnyx_oauth.credentials import TelnyxOAuthCredentials
from prefect_telnyx_oauth.tasks import _load
from telnyx_oauth.errors import ConfigurationError

__all__ = ["export_detail_record_window", "export_detail_records", "watermark_variable_name"]


def _window_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    parts = [
        parameters["block_key"],
        parameters["record_type"],
        iso(parameters["window_start"]),
        iso(parameters["window_end"]),
        parameters["destination"],
        parameters["file_format"],
    ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return f"telnyx-detail-records-{digest}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


@task(
    name="export_detail_record_window",
    task_run_name="export {record_type} {window_start:%Y-%m-%d %H:%M}",
    retries=2,
    retry_delay_seconds=5,
    cache_key_fn=_window_cache_key,
    persist_result=True,
)
def export_detail_record_window(
    credentials: TelnyxOAuthCredentials,
    block_key: str,
    record_type: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    destination: str,
    file_format: str,
    page_size: int,
) -> dict[str, Any]:
    """Export one window's records to one file and publish a table artifact about it.

    Args:
        credentials: The block whose token authenticates the search.
        block_key: Names the block in the cache key (its name, base URL and client id).
        record_type: The `filter[record_type]`, e.g. "messaging".
        window_start: The window's first instant (included).
        window_end: The window's end (excluded).
        destination: The directory or fsspec URL the file goes under.
        file_format: "csv", "jsonl" or "parquet".
        page_size: Records per page, 1 to 250.

    Returns:
        `record_type`, `window_start`, `window_end`, `records`, `pages`, `cost_by_currency`, and
        `file` (None when the window holds no record).
    """
    window = Window(window_start, window_end)
    with credentials.get_client(timeout=DEFAULT_TIMEOUT_SECONDS) as client:
        result = export_window(
            credentials,
            client,
            record_type,
            window,
            Destination(destination),
            file_format,
            page_size,
        )
    file = result.file or "(no records, no file)"
    # One measure a row: the UI shows a narrow two-column table whole, however long the path.
    rows = [
        {"measure": "window", "value": f"{result.window_start} to {result.window_end}"},
        {"measure": "records", "value": str(result.records)},
        {"measure": "pages", "value": str(result.pages)},
        *({"measure": f"cost ({c})", "value": v} for c, v in result.cost_by_currency.items()),
        {"measure": "file", "value": file},
    ]
    create_table_artifact(
        rows,
        key=f"telnyx-{_slug(record_type)}-{window_start:%Y%m%d-%H%M}",
        description=f"Telnyx {record_type} detail records, {window.name}",
    )
    run_logger().info(
        "Wrote %d %s records (%d pages) to %s.",
        result.records,
        record_type,
        result.pages,
        file,
    )
    return result.as_dict()


def watermark_variable_name(credentials: TelnyxOAuthCredentials | str, record_type: str) -> str:
    """The default watermark Variable: `telnyx-export-<block name>-<record type>`."""
    if isinstance(credentials, str):
        name = credentials
    else:
        name = getattr(credentials, "_block_document_name", None) or credentials.client_id
    return f"telnyx-export-{_slug(name)}-{_slug(record_type)}"[:255]


def _block_key(block: TelnyxOAuthCredentials, given: TelnyxOAuthCredentials | str) -> str:
    name = given if isinstance(given, str) else getattr(block, "_block_document_name", "")
    return f"{name}|{block.base_url}|{block.client_id}"


def _read_watermark(name: str) -> dt.datetime | None:
    value = Variable.get(name, default=None)
    return None if value is None else parse_instant(str(value))


@flow(name="export_detail_records")
def export_detail_records(
    credentials: TelnyxOAuthCredentials | str,
    destination: str = "telnyx-detail-records",
    record_type: str = "messaging",
    file_format: FileFormat = "csv",
    start_at: dt.datetime | None = None,
    end_at: dt.datetime | None = None,
    window: WindowSize = "hour",
    overlap_windows: int = 1,
    page_size: int = 250,
    watermark_variable: str | None = None,
) -> dict[str, Any]:
    """Export Telnyx detail records into one file per window, resuming from a watermark.

    Args:
        credentials: The block, or the name of a saved block.
        destination: A local directory, or an fsspec URL (needs the `fsspec` extra). Files are
            `<destination>/<record type>/<window start>-<window end>.<format>`.
        record_type: "messaging", "call-control", "sip-trunking" or "verify".
        file_format: "csv" or "jsonl" (standard library), or "parquet" (the `parquet` extra).
        start_at: First instant to export (floored to the window). None resumes from the
            watermark, re-reading `overlap_windows` windows before it.
        end_at: End of the range (floored to the window); None is now. Only whole windows that
            have ended are exported.
        window: "hour" or "day".
        overlap_windows: Complete windows before the watermark read again, uncached, for late
            records.
        page_size: Records per request, 1 to 250.
        watermark_variable: The Prefect Variable holding the watermark; by default
            `telnyx-export-<block name>-<record type>`.

    Returns:
        `windows`, `records`, `files` and the `watermark` reached.

    Raises:
        ConfigurationError: Before any request: an unknown record type or format, an empty or
            inverted range, a destination that cannot be written, no start_at and no watermark.
        TelnyxAPIError: A window kept failing; finished windows stay written and the watermark
            stays at the last complete one.
    """
    check_options(record_type, file_format, window, page_size)
    if overlap_windows < 0:
        msg = f"overlap_windows must be 0 or more, got {overlap_windows}."
        raise ConfigurationError(msg)
    check_format_available(file_format)
    target = Destination(destination)
    target.check_writable()
    name = watermark_variable or watermark_variable_name(credentials, record_type)
    mark = _read_watermark(name)
    end = floor_to(as_utc(end_at, "end_at") if end_at else dt.datetime.now(dt.timezone.utc), window)
    length = WINDOW_LENGTHS[window]
    if start_at is not None:
        windows = check_range(as_utc(start_at, "start_at"), end, window)
    elif mark is None:
        msg = (
            f"No watermark in the Prefect Variable {name!r} yet: pass start_at for the first run "
            "(later runs resume from the watermark)."
        )
        raise ConfigurationError(msg)
    else:
        windows = plan_windows(mark - overlap_windows * length, end, window)
    block = _load(credentials)
    block_key = _block_key(block, credentials)
    logger = run_logger()
    progress = create_progress_artifact(
        0.0, description=f"Telnyx {record_type} export: {len(windows)} windows"
    )
    assert isinstance(progress, uuid.UUID)  # a sync flow: the call ran
    results: list[dict[str, Any]] = []
    for done, item in enumerate(windows, start=1):
        overlap = mark is not None and mark - overlap_windows * length <= item.start_at < mark
        run = export_detail_record_window.with_options(refresh_cache=overlap)
        results.append(
            run(
                block,
                block_key,
                record_type,
                item.start_at,
                item.end_at,
                destination,
                file_format,
                page_size,
            )
        )
        # Only a window that starts at or before the watermark extends it: past a gap (an
        # explicit start_at after it) the watermark would claim windows never exported.
        if mark is None or item.start_at <= mark < item.end_at:
            mark = item.end_at
            Variable.set(name, iso(mark), overwrite=True)
        update_progress_artifact(progress, 100.0 * done / len(windows))
    records = sum(r["records"] for r in results)
    logger.info("Exported %d %s records in %d windows.", records, record_type, len(windows))
    return {
        "windows": len(windows),
        "records": records,
        "files": [r["file"] for r in results if r["file"]],
        "watermark": None if mark is None else iso(mark),
    }
