"""
One version: ``taqnyat_provider.__version__`` is the newest version the changelog calls released,
and everything that shows a version reads it (pyproject's dynamic version, the provider info).

The changelog's top section may be ``X.Y.Z (unreleased)``, the work after that release; it must be
newer than the released one, and no section below it may be unreleased.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.version import Version

import taqnyat_provider
from taqnyat_provider.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^(\d+\.\d+\.\d+)( \(unreleased\))?\n-+$", re.MULTILINE)


def changelog_sections() -> list[tuple[str, bool]]:
    """(version, released) for each section, newest first."""
    text = (ROOT / "docs" / "changelog.rst").read_text()
    return [(match[1], not match[2]) for match in SECTION.finditer(text)]


def test_the_version_is_the_newest_released_one_in_the_changelog():
    sections = changelog_sections()
    released = [version for version, done in sections if done]
    assert released, sections
    assert taqnyat_provider.__version__ == released[0]


def test_only_the_top_section_may_be_unreleased_and_it_is_newer():
    sections = changelog_sections()
    unreleased = [version for version, done in sections if not done]
    assert [v for v, _ in sections[: len(unreleased)]] == unreleased, "unreleased sections go on top"
    assert len(unreleased) <= 1
    versions = [Version(v) for v, _ in sections]
    assert versions == sorted(versions, reverse=True), "newest first, no version twice"
    assert len(set(versions)) == len(versions)


def test_every_version_shown_reads_the_one_in_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "taqnyat_provider.__version__"}
    assert get_provider_info()["versions"] == [taqnyat_provider.__version__]
    # Written once: no other file of the package spells it.
    spelled = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "taqnyat_provider").rglob("*.py")
        if f'"{taqnyat_provider.__version__}"' in path.read_text() and path.name != "__init__.py"
    ]
    assert spelled == []
