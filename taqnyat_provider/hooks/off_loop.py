"""
Importing modules in a worker thread while an event loop goes on serving everyone else.

The triggerer imports a trigger's module on its event loop, and ``async_notify`` runs on a loop
that others share: a first import of the hook stack there (some 0.25 s) would hold every other
trigger. Both the status trigger and the async hook load what they need through :func:`import_off_the_loop`.
Light on purpose: it imports only the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import Iterable
from types import ModuleType


def imported(name: str) -> ModuleType | None:
    """The module when it is imported and done initializing (another thread may be importing it)."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return None if module is None or getattr(spec, "_initializing", False) else module


def _import_all(names: Iterable[str], optional: Iterable[str]) -> None:
    for name in names:
        importlib.import_module(name)
    for name in optional:
        with contextlib.suppress(ImportError):  # absent on this Airflow: nothing to preload
            importlib.import_module(name)


async def import_off_the_loop(*names: str, optional: Iterable[str] = ()) -> ModuleType:
    """
    Import ``names`` in a worker thread unless they all are already, ``optional`` with them where
    it exists; return the first. Once they are loaded this is a dictionary lookup.
    """
    if not all(imported(name) for name in names):
        await asyncio.to_thread(_import_all, names, tuple(optional))
    return importlib.import_module(names[0])  # loaded by now: a lookup in sys.modules
