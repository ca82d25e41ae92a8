"""Read the docs pages as a test needs them: sections, tables and fenced code blocks."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# ```python, or ```{.python title="..."} (ruff format leaves the latter alone: snippet includes).
_FENCE = re.compile(
    r"^(?P<indent> *)```(?:\{\.)?(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
    re.M | re.S,
)
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block of a page, with snippet includes resolved to the included file."""

    page: Path
    index: int
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(DOCS).with_suffix('')}-{self.index}"


def page_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    assert match is not None, f"no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first markdown table in `text`, as stripped cells."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) >= 3, "no table"
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def unquote(cell: str) -> str:
    """A table cell without its code backticks."""
    return cell.strip().strip("`")


def code_blocks(page: Path) -> list[CodeBlock]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for index, match in enumerate(_FENCE.finditer(text), start=1):
        body = textwrap.dedent(match.group("body"))
        included = _SNIPPET.match(body.strip())
        if included:
            body = (ROOT / included.group("path")).read_text(encoding="utf-8")
        blocks.append(CodeBlock(page, index, match.group("lang"), body))
    return blocks
