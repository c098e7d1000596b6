"""
The module paths of 0.2.0 that 0.3.0 moved into folders, still importable with a ``DeprecationWarning``.

0.3.0 put the pure core under ``taqnyat_provider.core`` and the network route beside the hooks.
Code written against 0.2.0 (``from taqnyat_provider.messages import VoiceCall``, as the 0.2.0
changelog told users to write) keeps working: importing an old path warns, naming the new home, and
gives that module itself (so ``mock.patch`` on an old path patches what the provider reads); an old
module whose names went to several homes gives a module that looks each name up in them. One finder serves every old path, so the
package's folders hold no stub files. It is removed in 1.0.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

_CORE = "taqnyat_provider.core"
_ENDPOINTS = f"{_CORE}.endpoints"
_READS = (f"{_ENDPOINTS}.status", f"{_ENDPOINTS}.account", f"{_ENDPOINTS}.sms_delete")
_SENDS = (f"{_CORE}.sending", f"{_ENDPOINTS}.voice", f"{_ENDPOINTS}.sms")

MOVED: dict[str, tuple[str, ...]] = {
    **{
        f"taqnyat_provider.{name}": (f"{_CORE}.{name}",)
        for name in (
            "audio_check",
            "connection_settings",
            "delivery",
            "dry_run",
            "error_codes",
            "lateness",
            "ledger",
            "quiet_hours",
            "recipients",
            "retry",
            "steps",
        )
    },
    "taqnyat_provider.sms": (f"{_CORE}.sms_text",),
    "taqnyat_provider.api": _READS,
    "taqnyat_provider.messages": _SENDS,
    "taqnyat_provider.sends": _SENDS,
    "taqnyat_provider.responses": (f"{_CORE}.wire", f"{_CORE}.loose_json", f"{_CORE}.sending", *_READS),
    "taqnyat_provider.network_route": ("taqnyat_provider.hooks.network_route",),
}
"""Old module path → the modules its names live in now, searched in order."""


class MovedModules:
    """A meta path finder and loader for the paths in :data:`MOVED` (``sys.meta_path``)."""

    taqnyat_moved = True  # how the package tells it is installed, across a reload of this module

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        return ModuleSpec(fullname, self) if fullname in MOVED else None  # type: ignore[arg-type]

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        homes = MOVED[module.__name__]
        # The import machinery's own frames are skipped: the warning points at the importing line.
        warnings.warn(
            f"{module.__name__} is deprecated: import from {' or '.join(homes)}",
            DeprecationWarning,
            stacklevel=2,
        )
        if len(homes) == 1:
            # The old path *is* the new module: mock.patch("taqnyat_provider.retry.X") patches what
            # the provider reads. The import system returns what sys.modules holds after exec_module.
            sys.modules[module.__name__] = importlib.import_module(homes[0])
            return
        modules = [importlib.import_module(home) for home in homes]

        def __getattr__(name: str) -> Any:
            for moved in modules:
                if name in vars(moved) or name in getattr(moved, "_MOVED", ()):
                    return getattr(moved, name)
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        public = sorted({name for moved in modules for name in vars(moved) if not name.startswith("_")})
        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = lambda: public  # type: ignore[method-assign]
        module.__all__ = public  # type: ignore[attr-defined]  # `from ... import *` as in 0.2.0
