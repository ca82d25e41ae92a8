"""Plain-text tables and ours-vs-alternative ratios, and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

DASH = "-"


def times(ratio: float) -> str:
    """`17x`, `2.4x`, `1.05x`: two significant digits, like a person would say it."""
    if ratio >= 10:
        return f"{ratio:.0f}x"
    if ratio >= 1.1:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def compare(
    ours: float | None, alt: float | None, *, better: str, worse: str, tolerance: float = 0.0
) -> str:
    """Say how `ours` compares with `alt` for a lower-is-better metric: `50x fewer`, `same`.

    Args:
        ours: Our value.
        alt: The alternative's value.
        better: The word when ours is lower ("fewer", "faster").
        worse: The word when ours is higher ("more", "slower").
        tolerance: Relative difference under which the two count as the same (timings).
    """
    if ours is None or alt is None:
        return "n/a"
    if ours == alt or (max(ours, alt) > 0 and abs(ours - alt) / max(ours, alt) <= tolerance):
        return "same"
    if ours == 0 or alt == 0:
        return f"{ours:g} vs {alt:g}"
    if alt > ours:
        return f"{times(alt / ours)} {better}"
    return f"{times(ours / alt)} {worse}"


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def micros(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def nanos(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def count(value: int | None) -> str:
    return DASH if value is None else str(value)


def statuses(value: dict[str, int] | None) -> str:
    """`{"200": 1, "400": 49}` as `200x1 400x49`."""
    if not value:
        return DASH
    return " ".join(f"{status}x{n}" for status, n in sorted(value.items()))


@dataclass(frozen=True)
class Column:
    """One table column: the row key it shows, its header and how to format a value."""

    key: str
    header: str
    fmt: Callable[[Any], str] = str
    left: bool = False


@dataclass
class Table:
    """Rows of measurements, printed with aligned columns and kept as JSON-ready dicts."""

    title: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        cells = [[c.header for c in self.columns]]
        for row in self.rows:
            cells.append(
                [DASH if row.get(c.key) is None else c.fmt(row[c.key]) for c in self.columns]
            )
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]

        def line(values: list[str]) -> str:
            parts = [
                v.ljust(w) if c.left else v.rjust(w)
                for v, w, c in zip(values, widths, self.columns, strict=True)
            ]
            return "  ".join(parts).rstrip()

        out = [self.title, "=" * len(self.title), line(cells[0])]
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(values) for values in cells[1:])
        out.extend(f"  * {note}" for note in self.notes)
        return "\n".join(out)


def environment() -> dict[str, Any]:
    """What produced the numbers: interpreter, machine, library versions and the commit."""
    versions = {}
    for dist in ("prefect-telnyx-oauth", "authlib", "httpx-auth", "httpx", "prefect"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": commit,
        "versions": versions,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
