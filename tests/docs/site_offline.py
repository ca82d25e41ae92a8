"""Check that a built docs site loads nothing remote and reads the same opened from its files.

    .venv/bin/python tests/docs/site_offline.py SITE_DIR

`make test` runs it after `mkdocs build`. Links (`<a href>`) to other sites are fine: a reader
follows them on purpose. What is checked:

- everything a browser fetches by itself when a page opens is local: `<script src>`, `<link href>`
  (stylesheets, preloads, preconnects, icons), `<img src>`, and `url(...)` / `@import` in CSS
  files and inline styles;
- the site works opened from its files (`file://`, no server): every link within the site names
  a file that exists, never a folder (a browser shows a folder listing there, not the page), and
  the search works. From `file://` a browser lets a page neither fetch
  `search/search_index.json` nor start a Web Worker, so Material's search needs the index
  inlined in `search/search_index.js` and the iframe-worker shim loaded from the site itself
  (Material's `offline` plugin writes the first; mkdocs.yml names the vendored shim).
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)
FETCHED = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src",)}
INLINED_INDEX = "var __index ="
SHIM = "iframe-worker"
SERVER_ONLY = Path("404.html")  # a web server's answer to a missing URL; no reader opens its file


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (where, url)
        self.links: list[str] = []  # <a href>
        self.has_search = False  # Material's search box

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and (href := values.get("href")):
            self.links.append(href)
        self.has_search |= values.get("data-md-component") == "search"
        for name in FETCHED.get(tag, ()):
            if url := values.get(name):
                self.found.append((f"<{tag} {name}>", url))
        if style := values.get("style"):
            self.found.extend((f"<{tag} style>", url) for url in CSS_URL.findall(style))

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.found.extend(("<style>", url) for url in CSS_URL.findall(data))


def _parsed(page: Path) -> _Fetches:
    parser = _Fetches()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def remote_fetches(site: Path) -> list[str]:
    """Every remote URL a browser would fetch on its own from the pages of `site`."""
    problems: list[str] = []
    for page in sorted(site.rglob("*.html")):
        problems.extend(
            f"{page.relative_to(site)}: {where} {url}"
            for where, url in _parsed(page).found
            if REMOTE.search(url)
        )
    for sheet in sorted(site.rglob("*.css")):
        problems.extend(
            f"{sheet.relative_to(site)}: url() {url}"
            for url in CSS_URL.findall(sheet.read_text(encoding="utf-8"))
            if REMOTE.search(url)
        )
    return problems


def _local_target(page: Path, url: str) -> Path | None:
    """The file a local URL of `page` names, or None for a remote URL, a mailto: or a #fragment."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return page.parent / unquote(parts.path)


def file_problems(site: Path) -> list[str]:
    """What breaks when the pages of `site` are opened from their files instead of served."""
    problems: list[str] = []
    index = site / "search" / "search_index.js"
    has_index = (site / "search" / "search_index.json").is_file()
    if has_index and not (
        index.is_file() and index.read_text(encoding="utf-8").startswith(INLINED_INDEX)
    ):
        problems.append(
            "search/search_index.js: missing, so search finds nothing from file:// "
            "(add `- offline` to the plugins in mkdocs.yml)"
        )
    for page in sorted(site.rglob("*.html")):
        parser, name = _parsed(page), page.relative_to(site)
        if name == SERVER_ONLY:
            continue
        for href in sorted(set(parser.links)):
            target = _local_target(page, href)
            if target is None or target.is_file():
                continue
            what = "a folder (a listing from file://)" if target.is_dir() else "nothing"
            problems.append(f"{name}: <a href> {href} names {what}, not a page")
        shims = [
            _local_target(page, src)
            for where, src in parser.found
            if where == "<script src>" and SHIM in src
        ]
        if has_index and parser.has_search and not any(shim and shim.is_file() for shim in shims):
            problems.append(
                f"{name}: no local {SHIM} script, so search cannot start its worker from file://"
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
    remote, from_files = remote_fetches(site), file_problems(site)
    for problem in remote:
        print(f"site_offline: remote fetch in {problem}", file=sys.stderr)
    for problem in from_files:
        print(f"site_offline: opened from files, {problem}", file=sys.stderr)
    if remote or from_files:
        return 1
    print(f"site_offline: {len(pages)} pages fetch nothing remote and work opened from files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
