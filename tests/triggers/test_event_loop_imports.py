"""
The async path's imports stay off the event loop: the modules a triggerer or a callback imports on
its loop load no HTTP library, and the hook loads its stack in a worker thread on first use.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

HEAVY = ("aiohttp", "requests", "phonenumbers", "airflow.providers.http.hooks.http")


def loaded_by(statement: str) -> list[str]:
    """Which of HEAVY ``statement`` loads, in a fresh interpreter that has what a triggerer has."""
    code = (
        "import contextlib, json, sys, airflow.triggers.base\n"
        "with contextlib.suppress(ImportError):\n    import airflow.sdk\n"  # Airflow 3
        f"before = {{name for name in {list(HEAVY)!r} if name in sys.modules}}\n"
        f"{statement}\n"
        f"print(json.dumps(sorted(n for n in {list(HEAVY)!r} if n in sys.modules and n not in before)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "taqnyat_provider.triggers.status",
        "taqnyat_provider.hooks.taqnyat_async",
        "taqnyat_provider.hooks.transport",
        "taqnyat_provider.hooks.off_loop",
    ],
)
def test_importing_the_async_path_loads_no_http_library(module):
    assert loaded_by(f"import {module}") == []


def test_the_hook_loads_its_stack_in_a_worker_thread_once(monkeypatch):
    from taqnyat_provider.hooks import off_loop, taqnyat_async

    threads = []
    monkeypatch.setattr(taqnyat_async, "_stack_loaded", False)
    monkeypatch.setattr(off_loop, "imported", lambda name: None)
    monkeypatch.setattr(
        off_loop, "_import_all", lambda names, optional: threads.append(threading.get_ident())
    )

    async def twice():
        await taqnyat_async.load_async_stack()
        await taqnyat_async.load_async_stack()
        return threading.get_ident()

    loop_thread = asyncio.run(twice())
    assert len(threads) == 1 and threads[0] != loop_thread


def test_the_trigger_imports_the_hook_module_in_a_worker_thread(tmp_path, monkeypatch):
    from taqnyat_provider.hooks.off_loop import import_off_the_loop
    from taqnyat_provider.triggers import status

    # A module of its own, so that nothing else shares what this test imports.
    (tmp_path / "taqnyat_bench_probe.py").write_text(
        "import threading\nIMPORTED_ON = threading.get_ident()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "taqnyat_bench_probe", raising=False)

    async def first_use():
        module = await import_off_the_loop("taqnyat_bench_probe")
        again = await import_off_the_loop("taqnyat_bench_probe")
        return module, again, threading.get_ident()

    module, again, loop_thread = asyncio.run(first_use())
    assert module is again
    assert loop_thread != module.IMPORTED_ON
    assert status.HOOK_MODULE == "taqnyat_provider.hooks.taqnyat_async"
