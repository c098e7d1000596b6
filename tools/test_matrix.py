"""
`make test-floors` and `make test-python`: the built wheel, installed into fresh virtual environments.

``floors``: the lowest versions the wheel's metadata allows, on the lowest Python it allows, with
uv's ``--resolution lowest-direct`` (the wheel's own requirements passed as direct ones; the packages
they pull in take their newest versions):

* ``floors-airflow2``: every requirement at its floor, Apache Airflow 2.11.0 included. Each
  installed version is checked to be exactly the declared floor, so a floor nobody can install
  (because another requirement raises it) fails here instead of being claimed.
* ``floors-airflow3``: Airflow 3.3 with the constraints it is tested with, the provider's own
  requirements (http, common-compat, requests, aiohttp, phonenumbers) as low as that Airflow allows.

``python``: the Pythons above the floor, up to the newest Airflow 3.3's constraints install on here,
with those constraints.

Each environment runs the unit tests and real DAG runs against the sandbox. pytest appends the
repository to ``sys.path`` instead of prepending it, so the tests import the installed wheel, not
the source tree. Environments live in ``.venv-matrix/`` and are removed when they pass (``--keep``
keeps them); a failing one is kept to look into.

Usage: ``python tools/test_matrix.py floors|python [--python 3.13 ...] [--keep] [-- pytest args]``
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
sys.path.insert(0, str(ROOT / "tools"))

import procs  # noqa: E402

MATRIX = ROOT / ".venv-matrix"
AIRFLOW3_CONSTRAINTS = ROOT / "constraints" / "airflow-3.txt"

# The Pythons above the floor that `make test-python` runs on, up to the newest that Airflow 3.3's
# constraints install on here (3.14, which Airflow 3.3 supports too, is not installed on this machine).
# They differ where it matters: how deep json.loads nests before RecursionError changed in 3.12 and 3.13.
PYTHONS_ABOVE_FLOOR = ("3.12", "3.13")

# Unit tests and real DAG runs (dag.test() against the sandbox), about a minute on 2 cores.
TESTS = (
    "tests/core",
    "tests/providers/test_provider_info.py",
    "tests/operators/test_voice.py",
    "tests/hooks/test_taqnyat.py",
    # A time budget, not a compatibility check: the main suite holds it; here it only measures how
    # busy the two cores are while these environments are being built.
    "--deselect=tests/core/test_parsing_fuzz.py::test_a_megabyte_parses_in_under_50_ms",
)

# Only what the tests above need, at the versions the main environment pins, so every environment
# runs the same test tools; exact pins are the same under any resolution strategy.
TEST_TOOLS = ("pytest", "pytest-timeout", "hypothesis")


def say(message: str) -> None:
    print(f"[test-matrix] {message}", flush=True)


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    say("$ " + " ".join(str(part) for part in command))
    return subprocess.run(command, check=True, **options)


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def requirements(metadata: email.message.Message) -> list[Requirement]:
    """The wheel's install requirements, extras left out."""
    found = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    return [r for r in found if r.marker is None or "extra" not in str(r.marker)]


def floor(requirement: Requirement) -> str:
    bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    if len(bounds) != 1:
        sys.exit(f"{requirement} must declare exactly one lower bound (>=): the floors job installs it")
    return bounds[0]


def pinned(constraints: Path, names: tuple[str, ...]) -> list[str]:
    """The ``name==version`` lines of ``constraints`` for ``names``."""
    pins = {}
    for line in constraints.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name = line.split("==")[0].strip().lower()
            pins[name] = line.strip()
    missing = [name for name in names if name not in pins]
    if missing:
        sys.exit(f"{constraints} pins none of {missing}")
    return [pins[name] for name in names]


def find_python(version: str) -> str:
    """An interpreter for ``version`` (``3.13``): on PATH, from pyenv's versions, or the system's."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}"))
    )[::-1]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        # A pyenv shim exists for every installed version but runs only the ones selected: ask it.
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    sys.exit(f"no Python {version} found (PATH, pyenv, /usr/bin): install it, or choose others with --python")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.pop("AIRFLOW_HOME", None)
    return env


def installed_versions(python: Path, names: list[str]) -> dict[str, str]:
    code = "import sys, importlib.metadata as m\nfor n in sys.argv[1:]: print(n, m.version(n))"
    out = subprocess.run([python, "-c", code, *names], check=True, capture_output=True, text=True).stdout
    return dict(line.split() for line in out.splitlines())


def check_wheel_is_tested(python: Path, wheel_version: str) -> None:
    """The provider the tests will import is the installed wheel, not the source tree."""
    code = (
        "import importlib.metadata as m, taqnyat_provider as t\n"
        "print(t.__file__); print(t.__version__); print(m.version('airflow-provider-taqnyat'))"
    )
    with tempfile.TemporaryDirectory() as elsewhere:
        out = subprocess.run(
            [python, "-c", code], check=True, capture_output=True, text=True, cwd=elsewhere, env=clean_env()
        ).stdout.split()
    location, module_version, dist_version = out
    assert "site-packages" in location, f"taqnyat_provider imported from {location}, not the wheel"
    assert module_version == dist_version == wheel_version, (module_version, dist_version, wheel_version)


class Environment:
    def __init__(self, name: str, python_version: str) -> None:
        self.name = name
        self.path = MATRIX / name
        self.interpreter = find_python(python_version)
        self.python_version = python_version

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def create(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(exist_ok=True)
        run([procs.uv(), "venv", "--quiet", "--python", self.interpreter, str(self.path)], env=clean_env())

    def install(self, args: list[str]) -> None:
        run([procs.uv(), "pip", "install", "--quiet", "--python", str(self.python), *args], env=clean_env())

    def pytest(self, extra: list[str]) -> None:
        env = clean_env()
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        run(
            [
                str(self.path / "bin" / "pytest"),
                "-p",
                "no:cacheprovider",
                "-q",
                "--import-mode=append",
                *extra,
            ],
            cwd=ROOT,
            env=env,
        )


KEEP = False  # --keep


def passed(env: Environment, done: list[Environment]) -> None:
    """Remove a passing environment at once (a failing one stays to be looked into)."""
    done.append(env)
    if not KEEP:
        shutil.rmtree(env.path, ignore_errors=True)


def floors(wheel: Path, metadata: email.message.Message, pytest_args: list[str]) -> list[Environment]:
    reqs = requirements(metadata)
    floors_by_name = {r.name.lower(): floor(r) for r in reqs}
    lowest_python = str(metadata["Requires-Python"]).removeprefix(">=")
    tools = pinned(AIRFLOW3_CONSTRAINTS, TEST_TOOLS)
    done: list[Environment] = []

    # Everything at its floor. The requirements are passed as direct ones: uv's lowest-direct treats a
    # wheel's own requirements as transitive and would otherwise take their newest versions.
    env = Environment("floors-airflow2", lowest_python)
    env.create()
    env.install(["--resolution", "lowest-direct", str(wheel), *(str(r) for r in reqs), *tools])
    got = installed_versions(env.python, list(floors_by_name))
    say(f"{env.name}: " + ", ".join(f"{n}=={v} (floor {floors_by_name[n]})" for n, v in got.items()))
    above = {n: v for n, v in got.items() if v != floors_by_name[n]}
    assert not above, f"installed above the declared floor, so the floor is not tested: {above}"
    check_wheel_is_tested(env.python, metadata["Version"])
    env.pytest([*TESTS, *pytest_args])
    passed(env, done)

    # Airflow 3.3 as tested (its constraints), the provider's requirements as low as it lets them be.
    airflow_pin = pinned(AIRFLOW3_CONSTRAINTS, ("apache-airflow",))[0]
    env = Environment("floors-airflow3", lowest_python)
    env.create()
    constraints = env.path / "constraints-without-provider-requirements.txt"
    constraints.write_text(
        "".join(
            line + "\n"
            for line in AIRFLOW3_CONSTRAINTS.read_text().splitlines()
            if line.split("==")[0].strip().lower() not in floors_by_name
        )
    )
    provider_reqs = [str(r) for r in reqs if r.name.lower() != "apache-airflow"]
    env.install(
        [
            "--resolution",
            "lowest-direct",
            "-c",
            str(constraints),
            str(wheel),
            airflow_pin,
            *provider_reqs,
            *tools,
        ]
    )
    got = installed_versions(env.python, list(floors_by_name))
    say(f"{env.name}: " + ", ".join(f"{n}=={v} (floor {floors_by_name[n]})" for n, v in got.items()))
    assert got["apache-airflow"] == airflow_pin.split("==")[1], got
    check_wheel_is_tested(env.python, metadata["Version"])
    env.pytest([*TESTS, *pytest_args])
    passed(env, done)
    return done


def newest(
    wheel: Path, metadata: email.message.Message, versions: list[str], pytest_args: list[str]
) -> list[Environment]:
    done: list[Environment] = []
    for version in versions:
        env = Environment(f"python{version}", version)
        env.create()
        env.install(["-c", str(AIRFLOW3_CONSTRAINTS), str(wheel), *pinned(AIRFLOW3_CONSTRAINTS, TEST_TOOLS)])
        check_wheel_is_tested(env.python, metadata["Version"])
        env.pytest([*TESTS, *pytest_args])
        passed(env, done)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("job", choices=["floors", "python"])
    parser.add_argument("--python", action="append", help="for `python`: a version such as 3.13 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the environments after they pass")
    argv = sys.argv[1:]
    # Everything after `--` goes to pytest as it is.
    ours, pytest_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = parser.parse_args(ours)
    args.pytest_args = pytest_args

    global KEEP
    KEEP = args.keep
    wheel = procs.the_wheel(DIST)
    metadata = wheel_metadata(wheel)
    started = time.monotonic()
    if args.job == "floors":
        done = floors(wheel, metadata, args.pytest_args)
    else:
        done = newest(wheel, metadata, args.python or list(PYTHONS_ABOVE_FLOOR), args.pytest_args)
    if not args.keep:
        with contextlib.suppress(OSError):
            MATRIX.rmdir()
    say(f"{args.job}: {', '.join(e.name for e in done)} passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
