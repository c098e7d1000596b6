"""
What a release would publish: the wheel and the sdist, built as `make dist` builds them.

They are built into a temporary folder, or read from ``$TAQNYAT_DIST_DIR`` (`make test-dist` points
it at ``dist/``, so the very files `make dist` made are the ones checked).
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import taqnyat_provider

ROOT = Path(__file__).resolve().parents[2]
VERSION = taqnyat_provider.__version__
PROJECT = "airflow_provider_taqnyat"
LICENSE = (ROOT / "LICENSE").read_bytes()


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("TAQNYAT_DIST_DIR"):
        return Path(os.environ["TAQNYAT_DIST_DIR"]).resolve()
    out = tmp_path_factory.mktemp("dist")
    # As `make dist`: the sdist first, then the wheel built from the unpacked sdist.
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="module")
def wheel(dist_dir: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(dist_dir / f"{PROJECT}-{VERSION}-py3-none-any.whl")


@pytest.fixture(scope="module")
def sdist(dist_dir: Path) -> tarfile.TarFile:
    return tarfile.open(dist_dir / f"{PROJECT}-{VERSION}.tar.gz")


@pytest.fixture(scope="module")
def metadata(wheel: zipfile.ZipFile) -> Message:
    return email.parser.Parser().parsestr(wheel.read(f"{PROJECT}-{VERSION}.dist-info/METADATA").decode())


def test_only_the_source_version_is_built(dist_dir: Path, metadata: Message) -> None:
    assert sorted(p.name for p in dist_dir.glob(f"{PROJECT}-*")) == [
        f"{PROJECT}-{VERSION}-py3-none-any.whl",
        f"{PROJECT}-{VERSION}.tar.gz",
    ]
    assert metadata["Version"] == VERSION
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"], "the version is written once, in taqnyat_provider"


def test_license_file_in_the_wheel_and_the_sdist(wheel: zipfile.ZipFile, sdist: tarfile.TarFile) -> None:
    assert wheel.read(f"{PROJECT}-{VERSION}.dist-info/licenses/LICENSE") == LICENSE
    member = sdist.extractfile(f"{PROJECT}-{VERSION}/LICENSE")
    assert member is not None
    assert member.read() == LICENSE
    assert LICENSE.lstrip().startswith(b"Apache License\n")
    assert b"Version 2.0, January 2004" in LICENSE


def test_license_metadata_is_spdx(metadata: Message) -> None:
    assert tuple(int(part) for part in metadata["Metadata-Version"].split(".")) >= (2, 4)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    # The legacy field and the license classifiers are deprecated once License-Expression is set.
    assert metadata["License"] is None
    assert not [c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]


def test_project_urls(metadata: Message) -> None:
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL") or [])
    assert sorted(urls) == ["Changelog", "Documentation", "Homepage", "Issues", "Source"]
    assert all(url.startswith("https://") for url in urls.values())


def test_python_classifiers_are_the_tested_pythons(metadata: Message) -> None:
    """From the floor (`make test-floors`) to the newest `make test-python` runs: no more, no less."""
    spec = importlib.util.spec_from_file_location("test_matrix", ROOT / "tools" / "test_matrix.py")
    assert spec and spec.loader
    matrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(matrix)
    lowest = metadata["Requires-Python"].removeprefix(">=")
    tested = {lowest, *matrix.PYTHONS_ABOVE_FLOOR}
    minors = sorted(int(v.split(".")[1]) for v in tested)
    assert minors == list(range(minors[0], minors[-1] + 1)), f"a Python between is not tested: {tested}"
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in metadata.get_all("Classifier") or []
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert classified == tested


def test_every_requirement_has_one_floor_for_the_floors_job(metadata: Message) -> None:
    required = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    runtime = [r for r in required if r.marker is None]
    assert {r.name for r in runtime} >= {
        "apache-airflow",
        "apache-airflow-providers-common-compat",
        "apache-airflow-providers-http",
        "requests",
        "aiohttp",
        "phonenumbers",
    }
    for requirement in runtime:
        assert [s.operator for s in requirement.specifier] == [">="], requirement


def test_entry_points(wheel: zipfile.ZipFile) -> None:
    entry_points = wheel.read(f"{PROJECT}-{VERSION}.dist-info/entry_points.txt").decode()
    assert "provider_info = taqnyat_provider.get_provider_info:get_provider_info" in entry_points
    assert "taqnyat-sandbox = taqnyat_provider.sandbox.__main__:main" in entry_points
    assert "taqnyat_sandbox = taqnyat_provider.testing" in entry_points


def test_wheel_holds_the_package_only(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert {n.split("/")[0] for n in names} == {"taqnyat_provider", f"{PROJECT}-{VERSION}.dist-info"}
    assert "taqnyat_provider/py.typed" in names
    sources = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "taqnyat_provider").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= set(names), sources - set(names)


def test_sdist_builds_everything_again(sdist: tarfile.TarFile) -> None:
    names = {n.removeprefix(f"{PROJECT}-{VERSION}/") for n in sdist.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "PKG-INFO", "taqnyat_provider/__init__.py"} <= names
    assert "taqnyat_provider/py.typed" in names


def test_only_user_features_are_extras(metadata: Message) -> None:
    """Development tools are dependency groups (PEP 735), which a wheel never publishes."""
    assert metadata.get_all("Provides-Extra") == ["celery"]
    extra_requirements = [Requirement(r) for r in metadata.get_all("Requires-Dist") or [] if "extra ==" in r]
    assert sorted(r.name for r in extra_requirements) == ["apache-airflow-providers-celery", "redis"]
    for tool in ("pytest", "ruff", "mypy", "playwright", "psycopg2-binary", "sphinx", "matplotlib", "twine"):
        assert not [r for r in metadata.get_all("Requires-Dist") or [] if Requirement(r).name == tool], tool


def test_development_status_and_the_long_description(metadata: Message) -> None:
    assert "Development Status :: 4 - Beta" in (metadata.get_all("Classifier") or [])
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert description.strip() == (ROOT / "README.md").read_text().strip()
