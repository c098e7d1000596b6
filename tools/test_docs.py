"""
`make test-docs`: the README and the docs run as written.

A code block is runnable when a marker comment stands right before it, in README.md::

    <!-- runnable -->
    ```bash
    ...
    ```

and in the docs' reStructuredText (a comment, so Sphinx shows nothing)::

    .. runnable

    .. code-block:: bash

       ...

``runnable file=PATH`` writes the block to ``PATH`` (relative to the reader's working folder, ``~``
is their home) instead of running it; a ``bash`` block runs, a ``python`` block runs with the venv's
``python``. The blocks of one document run in order, in one ``bash -euo pipefail`` script (so an
``export`` in one block holds for the next), as a new user would run them:

* in a fresh venv (``.venv-matrix/docs``) that has Apache Airflow with ``constraints/airflow-3.txt``
  and nothing else; the README's ``pip install airflow-provider-taqnyat`` installs the wheel from
  ``dist/`` (the package is not on PyPI before a release), with the same constraints;
* with an empty ``HOME`` (so ``AIRFLOW_HOME`` is the default ``~/airflow``) and an empty working
  folder, shared by the documents in order (README first);
* a background job a block starts (``taqnyat-sandbox &``) is stopped by its PID when the script ends;
  before that the script saves what the sandbox received, for the tests to read.

Then ``tests/docs/test_runnable_docs.py`` checks what each document's run did. Usage:
``python tools/test_docs.py [--keep]``; the venv is removed when everything passed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import procs  # noqa: E402

DOCUMENTS = ("README.md", "docs/testing.rst")
"""The documents whose runnable blocks run, in this order (later ones reuse the earlier's setup)."""
VERBATIM = {"docs/quickstart.rst": "README.md"}
"""Documents whose runnable blocks are, word for word, the first blocks of another that runs: they
are checked to be (tests/docs), not run twice."""
VENV = ROOT / ".venv-matrix" / "docs"
CONSTRAINTS = ROOT / "constraints" / "airflow-3.txt"
SANDBOX_PORT = 8475  # the sandbox's default port: tests/docs checks it is taqnyat-sandbox's default
REQUESTS_FILE = "sandbox-requests-{name}.json"

_MD_MARKER = re.compile(r"<!--\s*runnable(?P<options>[^>]*?)\s*-->")
_MD_FENCE = re.compile(r"```(?P<lang>\w+)\s*$")
_RST_MARKER = re.compile(r"\.\. runnable(?P<options>(?:\s.*)?)$")
_RST_BLOCK = re.compile(r"\.\. code-block:: (?P<lang>\w+)\s*$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # 1-based line of the marker
    lang: str
    code: str
    file: str | None = None  # write the code here instead of running it

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def _options(text: str, where: str) -> str | None:
    file = None
    for option in shlex.split(text):
        name, _, value = option.partition("=")
        if name != "file" or not value:
            raise ValueError(f"{where}: unknown runnable option {option!r} (only file=PATH)")
        file = value
    return file


def _markdown_blocks(name: str, lines: list[str]) -> list[Block]:
    blocks = []
    for index, line in enumerate(lines):
        marker = _MD_MARKER.fullmatch(line.strip())
        if not marker:
            continue
        where = f"{name}:{index + 1}"
        fence = _MD_FENCE.fullmatch(lines[index + 1].strip()) if index + 1 < len(lines) else None
        if not fence:
            raise ValueError(f"{where}: a runnable marker must stand right before a ``` fence")
        end = lines.index("```", index + 2)
        code = "\n".join(lines[index + 2 : end]) + "\n"
        blocks.append(Block(name, index + 1, fence["lang"], code, _options(marker["options"], where)))
    return blocks


def _rst_blocks(name: str, lines: list[str]) -> list[Block]:
    blocks = []
    for index, line in enumerate(lines):
        marker = _RST_MARKER.fullmatch(line)
        if not marker:
            continue
        where = f"{name}:{index + 1}"
        following = index + 1
        while following < len(lines) and not lines[following].strip():
            following += 1
        directive = _RST_BLOCK.fullmatch(lines[following]) if following < len(lines) else None
        if not directive:
            raise ValueError(f"{where}: a runnable marker must stand right before a code-block")
        body = []
        for text in lines[following + 1 :]:
            if text.strip() and not text.startswith("   "):
                break
            body.append(text[3:])
        code = "\n".join(body).strip("\n") + "\n"
        blocks.append(Block(name, index + 1, directive["lang"], code, _options(marker["options"], where)))
    return blocks


def runnable_blocks(document: str) -> list[Block]:
    """The runnable blocks of ``document`` (a path relative to the repository), in order."""
    lines = (ROOT / document).read_text().splitlines()
    blocks = _markdown_blocks(document, lines) if document.endswith(".md") else _rst_blocks(document, lines)
    for block in blocks:
        if block.lang not in ("bash", "python"):
            raise ValueError(f"{block.where}: runnable blocks are bash or python, not {block.lang}")
    return blocks


def script(document: str, blocks: list[Block]) -> str:
    """One bash script that runs ``blocks`` in order, as a reader would type them."""
    name = Path(document).stem
    parts = [
        "set -euo pipefail",
        # Background jobs a block started (the sandbox) stop by their PIDs when the script ends.
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
        # The package is not on PyPI before a release: `pip install airflow-provider-taqnyat` installs
        # the wheel from dist/ instead; every install takes Airflow's constraints, as the docs advise.
        'pip() { if [ "$*" = "install airflow-provider-taqnyat" ]; then set -- install "$TAQNYAT_WHEEL"; fi;'
        ' "$TAQNYAT_UV" pip "$1" --quiet --python "$(command -v python)" -c "$TAQNYAT_CONSTRAINTS" "${@:2}"; }',
    ]
    for block in blocks:
        parts.append(f"echo '==> {block.where}'")
        if block.file:
            target = block.file.replace("~", "$HOME", 1) if block.file.startswith("~") else block.file
            parts.append(f'mkdir -p "$(dirname "{target}")"')
            parts.append(f"cat > \"{target}\" <<'TAQNYAT_DOCS_EOF'\n{block.code}TAQNYAT_DOCS_EOF")
        elif block.lang == "python":
            parts.append(f"python - <<'TAQNYAT_DOCS_EOF'\n{block.code}TAQNYAT_DOCS_EOF")
        else:
            parts.append(block.code.rstrip("\n"))
    # What the sandbox received, while it still runs (the trap stops it right after).
    # Its admin API takes the sandbox's token: the page's TAQNYAT_SANDBOX_TOKEN, or the default.
    dump = (
        "import os, sys, urllib.request as u; r = u.Request("
        f"'http://127.0.0.1:{SANDBOX_PORT}/_sandbox/requests', headers={{'Authorization': 'Bearer ' + "
        "os.environ.get('TAQNYAT_SANDBOX_TOKEN', 'sandbox-token')}); "
        "sys.stdout.write(u.urlopen(r, timeout=10).read().decode())"
    )
    parts.append(f'"$TAQNYAT_HOST_PYTHON" -c "{dump}" > "{REQUESTS_FILE.format(name=name)}" || true')
    return "\n".join(parts) + "\n"


@dataclass
class Run:
    document: str
    returncode: int
    output: str
    requests: list[dict] | None  # what the sandbox received, when the document ran one
    seconds: float


def say(message: str) -> None:
    print(f"[test-docs] {message}", flush=True)


def _clean_env() -> dict[str, str]:
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AIRFLOW_HOME")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AIRFLOW")}


def build_venv() -> Path:
    """A fresh venv with Airflow as its constraints pin it, and not the provider."""
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(exist_ok=True)
    env = _clean_env()
    subprocess.run(
        [procs.uv(), "venv", "--quiet", "--python", sys.executable, str(VENV)], check=True, env=env
    )
    airflow = next(
        line.strip() for line in CONSTRAINTS.read_text().splitlines() if line.startswith("apache-airflow==")
    )
    python = str(VENV / "bin" / "python")
    subprocess.run(
        [procs.uv(), "pip", "install", "--quiet", "--python", python, "-c", str(CONSTRAINTS), airflow],
        check=True,
        env=env,
    )
    return VENV


def run_documents(venv: Path, workdir: Path, documents: tuple[str, ...] = DOCUMENTS) -> dict[str, Run]:
    """Run each document's blocks in ``workdir`` (its ``home`` the reader's HOME); return what happened."""
    home = workdir / "home"
    project = workdir / "project"
    home.mkdir(parents=True, exist_ok=True)
    project.mkdir(exist_ok=True)
    uv_cache = subprocess.run([procs.uv(), "cache", "dir"], capture_output=True, text=True, check=True).stdout
    env = {
        **_clean_env(),
        "HOME": str(home),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "UV_CACHE_DIR": uv_cache.strip(),  # the same cache the other installs use, not a new one
        "TAQNYAT_UV": procs.uv(),
        "TAQNYAT_WHEEL": str(procs.the_wheel(ROOT / "dist")),
        "TAQNYAT_CONSTRAINTS": str(CONSTRAINTS),
        "TAQNYAT_HOST_PYTHON": sys.executable,
    }
    env.pop("TAQNYAT_SANDBOX_TOKEN", None)
    runs = {}
    for document in documents:
        text = script(document, runnable_blocks(document))
        (workdir / f"{Path(document).stem}.sh").write_text(text)
        started = time.monotonic()
        process = subprocess.Popen(
            ["bash", "-c", text],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: on a timeout, stopped by that group's id
        )
        try:
            output, _ = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
            output += "\n[test-docs] timed out after 300 s"
        saved = project / REQUESTS_FILE.format(name=Path(document).stem)
        snapshot = json.loads(saved.read_text()) if saved.exists() and saved.read_text().strip() else None
        requests = None if snapshot is None else snapshot["requests"]
        runs[document] = Run(document, process.returncode, output, requests, time.monotonic() - started)
        say(f"{document}: exit {process.returncode} in {runs[document].seconds:.0f} s")
    return runs


def main() -> None:
    keep = "--keep" in sys.argv[1:]
    started = time.monotonic()
    say(f"a fresh venv in {VENV.relative_to(ROOT)} with Airflow from {CONSTRAINTS.relative_to(ROOT)}")
    venv = build_venv()
    say(f"venv ready in {time.monotonic() - started:.0f} s")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/docs"],
        cwd=ROOT,
        env={**os.environ, "TAQNYAT_DOCS_VENV": str(venv)},
    )
    if result.returncode != 0:
        sys.exit(f"the docs did not run as written; the venv stays in {VENV} to look into")
    if not keep:
        shutil.rmtree(VENV, ignore_errors=True)
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
