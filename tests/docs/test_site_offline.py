"""The checker `make test` runs on the built docs site finds what a browser would fetch remotely."""

from __future__ import annotations

from pathlib import Path

from tests.docs.site_offline import file_problems, main, remote_fetches

LOCAL_PAGE = """<html><head>
<link rel="stylesheet" href="assets/main.css"><script src="assets/mermaid.min.js"></script>
</head><body><a href="https://telnyx.com">Telnyx</a><img src="img/block-form.png"></body></html>
"""


def write(site: Path, name: str, text: str) -> None:
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_site_offline_accepts_local_assets_and_plain_links(tmp_path: Path) -> None:
    write(tmp_path, "index.html", LOCAL_PAGE)
    write(tmp_path, "assets/main.css", "body { background: url('../img/bg.png') }")
    assert remote_fetches(tmp_path) == []
    assert main(["site_offline", str(tmp_path)]) == 0


def test_site_offline_finds_cdn_scripts_web_fonts_and_css_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        "index.html",
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//unpkg.com/mermaid@11/dist/mermaid.min.js"></script>'
        "<style>@import 'http://cdn.example/x.css';</style>",
    )
    write(tmp_path, "deep/page.html", '<div style="background: url(https://cdn.example/a.png)">')
    write(tmp_path, "assets/main.css", "@font-face { src: url(https://fonts.example/r.woff2) }")
    found = remote_fetches(tmp_path)
    assert len(found) == 6
    assert any("fonts.gstatic.com" in line for line in found)
    assert any("unpkg.com/mermaid" in line for line in found)
    assert any(line.startswith("deep/page.html") for line in found)
    assert any(line.startswith("assets/main.css") for line in found)
    assert main(["site_offline", str(tmp_path)]) == 1


def test_site_offline_refuses_an_empty_site(tmp_path: Path) -> None:
    assert main(["site_offline", str(tmp_path)]) == 2


# -- opened from its files (file://), not served --------------------------------------------------

SEARCH_PAGE = """<html><head><script src="{shim}"></script></head><body>
<form class="md-search__form" data-md-component="search-query"></form>
<div class="md-search" data-md-component="search"></div>
<a href="{link}">Quickstart</a></body></html>
"""


def write_search_site(site: Path, *, shim: str, link: str, inline_index: bool) -> None:
    write(site, "index.html", SEARCH_PAGE.format(shim=shim, link=link))
    write(site, "quickstart.html", SEARCH_PAGE.format(shim=shim, link="index.html"))
    write(site, "assets/javascripts/iframe-worker-shim.js", "/* the shim */")
    write(site, "search/search_index.json", '{"docs": [{"location": "", "text": "x"}]}')
    if inline_index:
        write(site, "search/search_index.js", 'var __index = {"docs": []}')


def test_site_offline_accepts_a_site_whose_search_and_links_work_from_files(tmp_path: Path) -> None:
    write_search_site(
        tmp_path,
        shim="assets/javascripts/iframe-worker-shim.js",
        link="quickstart.html#install",
        inline_index=True,
    )
    assert file_problems(tmp_path) == []
    assert main(["site_offline", str(tmp_path)]) == 0


def test_site_offline_finds_search_that_needs_a_server(tmp_path: Path) -> None:
    # Material's search from file://: no fetch of search_index.json and no Web Worker, so it needs
    # the index inlined in search/search_index.js and the iframe-worker shim from the site itself.
    write_search_site(
        tmp_path,
        shim="https://unpkg.com/iframe-worker/shim",
        link="quickstart.html",
        inline_index=False,
    )
    found = file_problems(tmp_path)
    assert any("search/search_index.js" in line for line in found)
    assert any(line.startswith("index.html") and "iframe-worker" in line for line in found)
    assert main(["site_offline", str(tmp_path)]) == 1


def test_site_offline_finds_links_to_folders_and_missing_pages(tmp_path: Path) -> None:
    # mkdocs' directory URLs: from file:// "quickstart/" opens a folder listing, not the page.
    write(
        tmp_path,
        "index.html",
        '<a href="quickstart/">Q</a> <a href="gone.html#x">G</a>'
        ' <a href="#top">top</a> <a href="mailto:a@example.com">mail</a>',
    )
    write(tmp_path, "quickstart/index.html", '<a href="../index.html">home</a>')
    # A web server's answer to a missing URL, with site-root links: no reader opens its file.
    write(tmp_path, "404.html", '<a href="/index.html">home</a>')
    found = file_problems(tmp_path)
    assert len(found) == 2, found
    assert any("quickstart/" in line and "folder" in line for line in found)
    assert any("gone.html" in line for line in found)
    assert main(["site_offline", str(tmp_path)]) == 1
