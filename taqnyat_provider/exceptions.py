"""
The provider's errors, where DAG authors import them from: ``from taqnyat_provider.exceptions import …``.

They are defined in the pure core (:mod:`taqnyat_provider.core.errors`), which raises them; this
module is their public, stable import path.
"""

from __future__ import annotations

from taqnyat_provider.core.errors import *  # noqa: F403 - the public path re-exports the whole list
from taqnyat_provider.core.errors import __all__ as __all__
