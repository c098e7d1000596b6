"""
The README's quickstart and the docs' runnable blocks, run as written in a fresh venv against the
sandbox (``make test-docs`` builds the venv and runs this; see ``tools/test_docs.py``).

Without ``TAQNYAT_DOCS_VENV`` (the main suite) only the extraction is checked: that the blocks the
README and the docs promise are marked, so an edit that drops a marker does not silently shrink
what `make test-docs` runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("test_docs_tool", ROOT / "tools" / "test_docs.py")
assert _spec and _spec.loader
docs_tool = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = docs_tool  # its dataclasses look their module up
_spec.loader.exec_module(docs_tool)

RUNS_IN_FRESH_VENV = pytest.mark.skipif(
    not os.environ.get("TAQNYAT_DOCS_VENV"), reason="needs the fresh venv `make test-docs` builds"
)


def test_the_readme_quickstart_is_marked_runnable():
    blocks = docs_tool.runnable_blocks("README.md")
    code = "".join(block.code for block in blocks)
    # install, the sandbox and the connection, the DAG and its run, the fixture example and pytest
    assert "pip install airflow-provider-taqnyat" in code
    assert "taqnyat-sandbox &" in code
    assert "AIRFLOW_CONN_TAQNYAT_DEFAULT=" in code
    assert "airflow dags test morning_calls" in code
    assert [b.file for b in blocks if b.file] == ["~/airflow/dags/morning_calls.py", "test_morning_calls.py"]
    assert "def test_my_dag_calls_the_rota(taqnyat_sandbox):" in code


def test_the_quickstart_page_is_the_readme_quickstart_word_for_word():
    """So running the README's blocks runs the quickstart page's too."""
    for page, source in docs_tool.VERBATIM.items():
        blocks = [(b.lang, b.file, b.code) for b in docs_tool.runnable_blocks(page)]
        ran = [(b.lang, b.file, b.code) for b in docs_tool.runnable_blocks(source)]
        assert len(blocks) >= 3
        assert blocks == ran[: len(blocks)]


def test_every_document_has_runnable_blocks_and_markers_are_well_formed():
    for document in docs_tool.DOCUMENTS:
        assert docs_tool.runnable_blocks(document), document
    # No marker elsewhere is left out of the run: every document with one is in DOCUMENTS.
    marked = {
        str(path.relative_to(ROOT))
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]
        if "runnable" in path.read_text() and docs_tool.runnable_blocks(str(path.relative_to(ROOT)))
    }
    assert marked == {*docs_tool.DOCUMENTS, *docs_tool.VERBATIM}


def test_a_marker_without_a_block_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(docs_tool, "ROOT", tmp_path)
    (tmp_path / "a.md").write_text("<!-- runnable -->\nsome text\n")
    with pytest.raises(ValueError, match=r"a.md:1: a runnable marker must stand right before"):
        docs_tool.runnable_blocks("a.md")
    (tmp_path / "b.rst").write_text(".. runnable wait=5\n\n.. code-block:: bash\n\n   true\n")
    with pytest.raises(ValueError, match="unknown runnable option 'wait=5'"):
        docs_tool.runnable_blocks("b.rst")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    venv = Path(os.environ["TAQNYAT_DOCS_VENV"])
    return docs_tool.run_documents(venv, tmp_path_factory.mktemp("reader"))


def _succeeded(run) -> None:
    assert run.returncode == 0, f"{run.document} failed as written:\n{run.output[-6000:]}"


@RUNS_IN_FRESH_VENV
def test_the_readme_runs_as_written(runs):
    run = runs["README.md"]
    _succeeded(run)
    assert "airflow-provider-taqnyat" in run.output  # `airflow providers list | grep taqnyat`
    assert "Connection success!" in run.output
    received = [(r["method"], r["path"], r["status"]) for r in run.requests]
    assert received[:1] == [("GET", "/account/balance", 200)]  # the connection test
    [call] = [r for r in run.requests if r["path"] == "/voiceSend.php/"]
    assert call["status"] == 201
    assert call["body"]["recipients"] == ["966500000000", "966512345678"]
    assert call["body"]["callerId"] == "966500000001"
    assert ("GET", "/system/status/", 200) in received  # the sensor asked first
    # The fixture example ran both its tests against its own sandbox (not the one above, which
    # still has the one call of `airflow dags test`).
    assert "2 passed" in run.output
    assert len([r for r in run.requests if r["path"] == "/voiceSend.php/"]) == 1
    # Airflow found the DAG where the README said to save it, and the sandbox got no other token.
    assert all(r["auth"] in ("ok", "missing") for r in run.requests)


@RUNS_IN_FRESH_VENV
def test_the_testing_page_runs_as_written(runs):
    run = runs["docs/testing.rst"]
    _succeeded(run)
    assert "Connection success!" in run.output
    # Its sandbox took the token from TAQNYAT_SANDBOX_TOKEN, and the connection used the same one.
    assert [(r["path"], r["auth"]) for r in run.requests] == [("/account/balance", "ok")]
