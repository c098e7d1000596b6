"""
`make test-dist`: what `make dist` built is what a user can install.

1. ``twine check --strict`` on the wheel and the sdist (the README renders as PyPI's long
   description), then ``tests/packaging`` on the files in ``dist/``: LICENSE in the wheel and the
   sdist, SPDX license metadata, project URLs, entry points, the version, only user features as
   extras (development tools are dependency groups, never published).
2. The wheel alone, in a clean venv with Airflow 3's constraints (no editable install, no dev tools),
   used as a new user would from an empty folder and a fresh AIRFLOW_HOME:

   * ``airflow providers list`` lists ``airflow-provider-taqnyat`` with the wheel's version;
   * ``airflow providers hooks`` imports the hook (a missing name in a dependency shows up here as
     "Error when importing hook!");
   * ``taqnyat-sandbox --help``, then ``taqnyat-sandbox --port 0`` serving for real, and
     ``airflow connections test`` against it: the sandbox sees one authenticated balance call, and the
     token shows up in no output.

The sandbox is stopped by its PID; the venv (``.venv-matrix/dist``) is removed when everything passed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs
from test_matrix import AIRFLOW3_CONSTRAINTS, DIST, MATRIX, ROOT, check_wheel_is_tested

PACKAGE = "airflow-provider-taqnyat"


def say(message: str) -> None:
    print(f"[test-dist] {message}", flush=True)


def airflow(venv: Path, env: dict[str, str], cwd: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(venv / "bin" / "airflow"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        sys.exit(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def main() -> None:
    wheel = procs.the_wheel(DIST)
    version = wheel.name.split("-")[1]
    say(f"checking {wheel.name} and its sdist")
    # PyPI's own checks: the metadata is valid and the long description (the README) renders.
    sdist = wheel.parent / f"{wheel.name.split('-py3')[0]}.tar.gz"
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/packaging"],
        cwd=ROOT,
        env={**os.environ, "TAQNYAT_DIST_DIR": str(wheel.parent)},
        check=True,
    )

    venv = MATRIX / "dist"
    shutil.rmtree(venv, ignore_errors=True)
    MATRIX.mkdir(exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    constraints = ["-c", str(AIRFLOW3_CONSTRAINTS)]
    subprocess.run(
        [procs.uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=base_env
    )
    subprocess.run(
        [
            procs.uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *constraints,
            str(wheel),
        ],
        check=True,
        env=base_env,
    )
    check_wheel_is_tested(venv / "bin" / "python", version)

    token = "dist-" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="taqnyat-dist-") as home:
        env = {
            **base_env,
            "PATH": f"{venv / 'bin'}{os.pathsep}{base_env.get('PATH', '')}",
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "TAQNYAT_SANDBOX_TOKEN": token,
        }

        listed = json.loads(airflow(venv, env, home, "providers", "list", "-o", "json").stdout)
        ours = [p for p in listed if p["package_name"] == PACKAGE]
        assert ours and ours[0]["version"] == version, f"{PACKAGE} {version} not in `airflow providers list`"
        say(f"airflow providers list: {ours[0]}")

        hooks = json.loads(airflow(venv, env, home, "providers", "hooks", "-o", "json").stdout)
        taqnyat = [h for h in hooks if h.get("connection_type") == "taqnyat"]
        assert taqnyat, "no taqnyat connection type in `airflow providers hooks`"
        assert taqnyat[0]["class"] == "taqnyat_provider.hooks.taqnyat.TaqnyatHook", taqnyat
        assert taqnyat[0]["hook_name"] == "Taqnyat", taqnyat
        say(f"airflow providers hooks: {taqnyat[0]}")

        help_text = subprocess.run(
            [str(venv / "bin" / "taqnyat-sandbox"), "--help"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert help_text.startswith("usage: taqnyat-sandbox"), help_text
        assert "--port" in help_text

        port_file = Path(home) / "sandbox.port"
        log = Path(home) / "sandbox.log"
        try:
            sandbox = procs.start(
                [str(venv / "bin" / "taqnyat-sandbox"), "--port", "0", "--port-file", str(port_file)],
                log,
                env,
                cwd=home,
            )
            procs.wait_until(
                "the sandbox's port file", lambda: port_file.exists() and port_file.read_text().strip(), 60
            )
            port = port_file.read_text().strip()
            say(f"taqnyat-sandbox (PID {sandbox.pid}) listening on port {port}")
            airflow(venv, env, home, "db", "migrate")
            env["AIRFLOW_CONN_TAQNYAT_DEFAULT"] = json.dumps(
                {"conn_type": "taqnyat", "host": f"http://127.0.0.1:{port}", "password": token}
            )
            tested = airflow(venv, env, home, "connections", "test", "taqnyat_default")
            assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr
            assert token not in tested.stdout + tested.stderr
            say("airflow connections test: " + " ".join(tested.stdout.split())[-160:])
        finally:
            procs.stop_all()
        console = log.read_text()
        # The CLI prints one line per request it answered, with whether the token matched.
        calls = [line for line in console.splitlines() if " -> " in line]
        assert len(calls) == 1 and "GET /account/balance" in calls[0] and "auth=ok" in calls[0], console
        assert token not in console

    shutil.rmtree(venv, ignore_errors=True)
    say(f"{wheel.name}: installs, registers, serves; dist checks passed")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    say(f"done in {time.monotonic() - started:.0f} s")
