"""Check that a built docs site loads nothing remote: no CDN script, stylesheet or web font.

    .venv/bin/python tests/docs/site_offline.py SITE_DIR

`make test` runs it after `mkdocs build`. Links (`<a href>`) to other sites are fine: a reader
follows them on purpose. What is checked is everything a browser fetches by itself when a page
opens: `<script src>`, `<link href>` (stylesheets, preloads, preconnects, icons), `<img src>`,
and `url(...)` / `@import` in CSS files and inline styles.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)
FETCHED = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src",)}


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (where, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in FETCHED.get(tag, ()):
            if url := values.get(name):
                self.found.append((f"<{tag} {name}>", url))
        if style := values.get("style"):
            self.found.extend((f"<{tag} style>", url) for url in CSS_URL.findall(style))

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.found.extend(("<style>", url) for url in CSS_URL.findall(data))


def remote_fetches(site: Path) -> list[str]:
    """Every remote URL a browser would fetch on its own from the pages of `site`."""
    problems: list[str] = []
    for page in sorted(site.rglob("*.html")):
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8"))
        problems.extend(
            f"{page.relative_to(site)}: {where} {url}"
            for where, url in parser.found
            if REMOTE.search(url)
        )
    for sheet in sorted(site.rglob("*.css")):
        problems.extend(
            f"{sheet.relative_to(site)}: url() {url}"
            for url in CSS_URL.findall(sheet.read_text(encoding="utf-8"))
            if REMOTE.search(url)
        )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    site = Path(argv[1])
    pages = list(site.rglob("*.html"))
    if not pages:
        print(f"site_offline: no HTML page in {site}; build the site first", file=sys.stderr)
        return 2
    problems = remote_fetches(site)
    for problem in problems:
        print(f"site_offline: remote fetch in {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"site_offline: {len(pages)} pages fetch nothing remote")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
