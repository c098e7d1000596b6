"""
The README is the PyPI long description: its links must work there, and what it asks a user to
do must be something a user of the package can do (``make`` targets need a clone: they belong
under "Development", which says so).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
URLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
DOCS = URLS["Documentation"].rstrip("/") + "/en/latest/"
SOURCE = URLS["Source"].rstrip("/") + "/"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_link_is_absolute():
    links = LINK.findall(README)
    assert len(links) > 20
    relative = [link for link in links if not link.startswith("https://")]
    assert relative == []


def test_docs_links_name_pages_that_exist():
    pages = [link.removeprefix(DOCS) for link in LINK.findall(README) if link.startswith(DOCS)]
    assert {"go-live.html", "oncall.html", "security.html", "scale.html"} <= set(pages)
    for page in pages:
        if page:
            stem = page.removesuffix(".html")
            assert (ROOT / "docs" / f"{stem}.rst").exists() or (ROOT / "docs" / f"{stem}.md").exists(), page


def test_source_links_name_files_that_exist():
    for link in LINK.findall(README):
        if link.startswith(SOURCE):
            path = re.sub(r"^(tree|blob)/main/", "", link.removeprefix(SOURCE))
            assert (ROOT / path).exists(), link


def test_make_targets_only_under_development():
    before, development = README.split("\n## Development\n", 1)
    assert not re.search(r"\bmake [a-z]", before), "a `make` step above Development: dead on PyPI"
    assert development.lstrip().startswith(f"From a clone of [the repository]({SOURCE.rstrip('/')})")


def test_the_development_list_names_every_test_target():
    makefile = (ROOT / "Makefile").read_text()
    [test_line] = [line for line in makefile.splitlines() if line.startswith("test:")]
    development = README.split("\n## Development\n", 1)[1]
    for target in test_line.split(":", 1)[1].split():
        if target.startswith("test-") or target in ("docs", "bench-short"):
            assert f"`make {target}`" in development or f"make {target}" in development, target
