"""Benchmarks: prefect-telnyx-oauth side by side with Authlib and httpx-auth, in one run.

Every request goes to the local Telnyx emulator on loopback. Each scenario runs ours and the
alternatives one after the other in this process and prints absolute numbers and ratios; the
results also go to `benchmarks/results/latest.json`. What each scenario does and how to read it:
`benchmarks/README.md`.

Usage:
    make bench
    .venv/bin/python benchmarks/run.py --only cold-threads --only rotation --callers 20
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _cold
import _export
import _rotation
import _scale
import _warm
import _warm_targets
from _report import Table, environment, write_json

from prefect_telnyx_oauth.events import can_emit
from telnyx_oauth.emulator import TelnyxEmulator

SCENARIOS = ("cold-threads", "cold-asyncio", "warm", "rotation", "scale", "export")
RESULTS = Path(__file__).parent / "results" / "latest.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); all of them by default",
    )
    parser.add_argument("--callers", type=int, default=50, help="concurrent callers (50)")
    parser.add_argument(
        "--calls", type=int, default=2000, help="sequential calls per contender, warm path (2000)"
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file ({RESULTS})")
    args = parser.parse_args(argv)
    if not 1 <= args.callers <= 500 or not 8 <= args.calls <= 100_000:
        parser.error("--callers must be 1..500 and --calls 8..100000")
    return args


def _show(table: Table) -> None:
    print(table.render(), end="\n\n", flush=True)


def _record(results: dict[str, Any], key: str, table: Table) -> None:
    results["scenarios"][key] = {
        "title": table.title,
        "rows": table.rows,
        "notes": table.notes,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    chosen = args.only or list(SCENARIOS)
    env = environment()
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    print(f"python {env['python']} on {env['platform']}, {env['cpus']} CPUs; {versions}\n")
    if can_emit():
        print(
            "note: a Prefect API URL is configured, so ours also emits a Prefect event per new "
            "token; unset PREFECT_API_URL for a like-for-like comparison.\n"
        )
    # Move everything imported so far (Prefect is large) out of the collector's way, so full
    # collections during the measurements stay short and land on no contender in particular.
    gc.collect()
    gc.freeze()
    results: dict[str, Any] = {
        "environment": env,
        "parameters": {"callers": args.callers, "calls": args.calls, "scenarios": chosen},
        "scenarios": {},
        "summary": [],
        "failures": {},
    }
    summary: list[str] = results["summary"]
    started = time.perf_counter()

    def attempt(key: str, body: Callable[[], None]) -> None:
        # One scenario crashing must not cost the others their numbers.
        try:
            body()
        except Exception:
            results["failures"][key] = traceback.format_exc()
            print(f"scenario {key} crashed:\n{results['failures'][key]}", file=sys.stderr)

    def cold_threads(emu: TelnyxEmulator) -> None:
        table = _cold.cold_threads(emu, args.callers)
        _show(table)
        _record(results, "cold_threads", table)
        summary.extend(_cold.summary(f"cold, {args.callers} threads", table))

    def cold_asyncio(emu: TelnyxEmulator) -> None:
        table = _cold.cold_asyncio(emu, args.callers)
        _show(table)
        _record(results, "cold_asyncio", table)
        summary.extend(_cold.summary(f"cold, {args.callers} asyncio tasks", table))

    def warm(emu: TelnyxEmulator) -> None:
        e2e = _warm.end_to_end(emu, args.calls)
        _show(e2e)
        _record(results, "warm_end_to_end", e2e)
        hot = _warm.hot_path(emu)
        _show(hot)
        _record(results, "warm_hot_path", hot)
        summary.extend(_warm.summary(e2e, hot))
        targets = _warm_targets.warm_targets(emu)
        _show(targets)
        _record(results, "warm_targets", targets)
        missed = [row["measure"] for row in targets.rows if row.get("met") == "NO"]
        summary.append(f"warm-path targets missed: {', '.join(missed) or 'none'}")

    def rotation() -> None:
        with _rotation.emulator() as emu:
            table = _rotation.rotation(emu, args.callers)
        _show(table)
        _record(results, "rotation", table)
        summary.extend(_rotation.summary(table))

    with TelnyxEmulator() as emu:
        for key, body in (
            ("cold-threads", cold_threads),
            ("cold-asyncio", cold_asyncio),
            ("warm", warm),
        ):
            if key in chosen:
                attempt(key, lambda body=body: body(emu))
    if "rotation" in chosen:
        attempt("rotation", rotation)

    def scale() -> None:  # B3-B6: processes on Prefect servers backed by PostgreSQL
        for key, table in _scale.run():
            _show(table)
            _record(results, f"scale_{key}", table)
            summary.extend(_scale.summary(key, table))

    if "scale" in chosen:
        attempt("scale", scale)

    def export() -> None:  # B7: detail records to CSV, ours vs the Telnyx SDK
        table = _export.export_vs_sdk()
        _show(table)
        _record(results, "export", table)
        summary.extend(_export.summary(table))

    if "export" in chosen:
        attempt("export", export)

    results["elapsed_s"] = time.perf_counter() - started
    print("Summary (ours vs each alternative, measured side by side in this run)")
    print("====================================================================")
    for line in summary:
        print(f"- {line}")
    print(f"\n{results['elapsed_s']:.0f} s in all; results written to {args.json}")
    write_json(args.json, results)
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
