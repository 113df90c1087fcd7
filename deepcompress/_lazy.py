"""`LazyModule`: a stand-in for a module that imports it on first attribute access.

For the compiled kernels: importing them imports numba (~90 MB and a large part of a second)
and loads their cached machine code. A model needs them only once it codes a block, not to be
named, configured, fingerprinted or written into a header (`info`, empty inputs, headers).
Thread-safe: `importlib.import_module` runs a module once, the others wait for it (unlike
`importlib.util.LazyLoader` before Python 3.12, whose module is visible half-executed).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """`LazyModule("package.module")`: attribute access imports the module and reads from it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:  # only called for what the stand-in lacks
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r} ({'loaded' if self._module else 'not loaded'})>"
