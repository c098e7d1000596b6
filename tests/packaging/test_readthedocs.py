"""
Read the Docs builds what `make docs` builds: the same Sphinx command and the same installs,
read from ``.readthedocs.yaml`` and the Makefile, and that command run here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def config() -> dict:
    return yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())


def make_docs_sphinx() -> list[str]:
    """The arguments `make docs` gives Sphinx (after ``python -m sphinx``)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^docs: .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no docs target in the Makefile"
    [line] = [line for line in recipe[1].splitlines() if "-m sphinx" in line]
    return shlex.split(line.split("-m sphinx", 1)[1])


def rtd_sphinx() -> list[str]:
    [command] = [c for c in config()["build"]["commands"] if "-m sphinx" in c]
    assert command.startswith("python -m sphinx ")
    return shlex.split(command.split("-m sphinx", 1)[1])


def test_read_the_docs_runs_the_sphinx_command_make_docs_runs():
    ours, theirs = make_docs_sphinx(), rtd_sphinx()
    # The same options, source folder and builder; only the output folder is Read the Docs' own.
    assert ours[:-1] == theirs[:-1]
    assert "-W" in ours and "--keep-going" in ours
    assert ours[-1] == "docs/_build/html"
    assert theirs[-1] == "$READTHEDOCS_OUTPUT/html"


def test_read_the_docs_installs_the_docs_group_with_the_makefiles_constraints():
    config_ = config()
    assert config_["version"] == 2
    install = [c for c in config_["build"]["commands"] if " install " in c and "-e ." in c]
    assert install == ["python -m pip install --quiet -c constraints/airflow-3.txt -e . --group docs"]
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert {"sphinx", "myst-parser"} <= set(groups["docs"])
    makefile = (ROOT / "Makefile").read_text()
    assert "CONSTRAINTS ?= constraints/airflow-3.txt" in makefile
    assert "$(call make_venv,$(VENV),$(CONSTRAINTS),dev docs)" in makefile  # `make docs` uses .venv
    # The lowest supported Python, as the Makefile prefers.
    assert config_["build"]["tools"]["python"] == "3.11"
    assert "python3.11" in makefile


def test_the_read_the_docs_sphinx_command_builds_the_docs(tmp_path):
    pytest.importorskip("sphinx")  # the docs group: .venv has it, the Airflow 2 venv does not
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        *(a.replace("$READTHEDOCS_OUTPUT", str(out)) for a in rtd_sphinx()),
    ]
    # A scratch copy of docs/: the build writes docs/_generated, which `make docs` may be using.
    subprocess.run(["cp", "-r", str(ROOT / "docs"), str(tmp_path / "docs")], check=True)
    for name in ("example_dags", "tests", "README.md", "taqnyat_provider"):
        os.symlink(ROOT / name, tmp_path / name)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "html" / "index.html").exists()
    assert (out / "html" / "go-live.html").exists()
