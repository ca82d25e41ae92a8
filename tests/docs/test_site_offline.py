"""The checker `make test` runs on the built docs site finds what a browser would fetch remotely."""

from __future__ import annotations

from pathlib import Path

from tests.docs.site_offline import main, remote_fetches

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
