"""Send the rows of a CSV file (`to,text`) as messages, concurrently, and table the outcome.

    .venv/bin/python flows/bulk_messages.py messages.csv --block prod-telnyx --from +15557654321

Every row becomes one mapped `send_message` task. Its idempotency key is derived from the row's
content (recipient, sender and text; plus `--batch-id` if given), so running the same file again,
or retrying the flow, does not send a row twice, and identical rows are sent once. To send the
same file again on purpose (tomorrow's reminders), pass a new `--batch-id`.

A bad row (a number not in E.164 format, empty text) fails its own task only: the others are
still sent, and the Prefect markdown artifact "telnyx-bulk-messages" tables every row's outcome.

Without `--block`, the script runs offline on the embedded emulator, like the quickstart.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
from pathlib import Path
from typing import Any

from prefect import flow, unmapped
from prefect.artifacts import acreate_markdown_artifact
from prefect.futures import as_completed
from prefect.logging import get_run_logger

from prefect_telnyx_oauth import TelnyxAPIError, TelnyxOAuthCredentials
from prefect_telnyx_oauth.messaging import message_idempotency_key, send_message
from prefect_telnyx_oauth.testing import offline_prefect
from telnyx_oauth.emulator import TelnyxEmulator

DEMO_HOME = Path(__file__).resolve().parents[1] / ".demo"
SAMPLE_CSV = Path(__file__).resolve().parent / "sample_messages.csv"
ARTIFACT_KEY = "telnyx-bulk-messages"


def read_rows(csv_path: str | Path) -> list[dict[str, Any]]:
    """The rows of a `to,text` CSV file, each with its line number for the report.

    Raises:
        ValueError: the file has no `to` or no `text` column.
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"to", "text"} - set(reader.fieldnames or [])
        if missing:
            msg = f"{csv_path} has no {' or '.join(sorted(missing))} column; expected 'to,text'."
            raise ValueError(msg)
        return [
            {"line": reader.line_num, "to": (row["to"] or "").strip(), "text": row["text"] or ""}
            for row in reader
        ]


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") if value is not None else ""


def outcome_table(outcomes: list[dict[str, Any]]) -> str:
    """The markdown report: a count, then one table row per CSV row."""
    sent = sum(outcome["status"] == "sent" for outcome in outcomes)
    lines = [
        f"**{sent} of {len(outcomes)} rows sent.**",
        "",
        "| Line | To | Outcome | Message id or error |",
        "| ---: | --- | --- | --- |",
    ]
    for outcome in outcomes:
        detail = outcome.get("message_id") or outcome.get("error")
        cells = [outcome["line"], _cell(outcome["to"]), outcome["status"], _cell(detail)]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _error_text(error: BaseException) -> str:
    if isinstance(error, TelnyxAPIError) and error.errors:
        return "; ".join(
            f"{detail.code} {detail.detail or detail.title}".strip() for detail in error.errors
        )
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


@flow(name="telnyx-bulk-messages")
async def bulk_messages(
    csv_path: str,
    block_name: str,
    from_: str | None = None,
    messaging_profile_id: str | None = None,
    batch_id: str | None = None,
) -> list[dict[str, Any]]:
    """Send one message per CSV row concurrently; report each row's outcome in an artifact.

    Args:
        csv_path: A CSV file with `to` and `text` columns.
        block_name: The saved `TelnyxOAuthCredentials` block.
        from_: The sending number; give this or `messaging_profile_id`.
        messaging_profile_id: Send through this messaging profile.
        batch_id: Part of every idempotency key: a new one sends the same file again.

    Returns:
        One dict per row: `line`, `to`, `status` ("sent", "failed" or "duplicate"), and
        `message_id` or `error`.
    """
    logger = get_run_logger()
    rows = read_rows(csv_path)
    outcomes: list[dict[str, Any]] = [{"line": r["line"], "to": r["to"]} for r in rows]
    first_line_of: dict[str, int] = {}
    to_send: list[int] = []
    keys: list[str] = []
    for index, row in enumerate(rows):
        key = message_idempotency_key(
            row["to"],
            row["text"],
            from_=from_,
            messaging_profile_id=messaging_profile_id,
            scope=batch_id,
        )
        if key in first_line_of:
            duplicate = f"same as line {first_line_of[key]}"
            outcomes[index] |= {"status": "duplicate", "error": duplicate}
            continue
        first_line_of[key] = row["line"]
        to_send.append(index)
        keys.append(key)
    logger.info("Sending %d messages from %s (%d rows).", len(to_send), csv_path, len(rows))
    futures = send_message.map(
        unmapped(block_name),
        [rows[i]["to"] for i in to_send],
        [rows[i]["text"] for i in to_send],
        from_=unmapped(from_),
        messaging_profile_id=unmapped(messaging_profile_id),
        idempotency_key=keys,
    )
    index_of = {future.task_run_id: to_send[n] for n, future in enumerate(futures)}
    for done, future in enumerate(as_completed(futures), start=1):
        outcome = outcomes[index_of[future.task_run_id]]
        result = future.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            outcome |= {"status": "failed", "error": _error_text(result)}
            logger.warning("Line %d not sent: %s", outcome["line"], outcome["error"])
        else:
            outcome |= {"status": "sent", "message_id": result["id"]}
        logger.info("Progress: %d of %d messages done.", done, len(to_send))
    await acreate_markdown_artifact(
        markdown=outcome_table(outcomes),
        key=ARTIFACT_KEY,
        description=f"Outcome of each row of {Path(csv_path).name}",
    )
    failed = sum(outcome["status"] == "failed" for outcome in outcomes)
    if failed:
        logger.warning("%d of %d rows failed; see artifact %r.", failed, len(rows), ARTIFACT_KEY)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """The command line: a saved block with `--block`, else offline on the emulator."""
    parser = argparse.ArgumentParser(description="Send the rows of a to,text CSV file.")
    parser.add_argument("csv_path", nargs="?", default=str(SAMPLE_CSV))
    parser.add_argument("--block", help="a saved TelnyxOAuthCredentials block; offline without")
    parser.add_argument("--from", dest="from_", metavar="+E164")
    parser.add_argument("--messaging-profile-id")
    parser.add_argument("--batch-id")
    args = parser.parse_args(argv)
    options = {
        "from_": args.from_,
        "messaging_profile_id": args.messaging_profile_id,
        "batch_id": args.batch_id,
    }
    if args.block:
        outcomes = asyncio.run(bulk_messages(args.csv_path, args.block, **options))
    else:
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with TelnyxEmulator() as emulator, offline_prefect(DEMO_HOME):
            block = TelnyxOAuthCredentials(
                client_id=emulator.client_id,
                client_secret=emulator.client_secret,
                base_url=emulator.base_url,
            )
            block.save("telnyx-demo", overwrite=True)
            options["from_"] = options["from_"] or "+15550100000"  # the emulator's first number
            outcomes = asyncio.run(bulk_messages(args.csv_path, "telnyx-demo", **options))
    print(outcome_table(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
