"""`lazy_module`: a module that is executed on its first attribute access (`importlib.util.LazyLoader`).

For the compiled kernels: importing them imports numba (~90 MB and a large part of a second)
and loads their cached machine code. A model needs them only once it codes a block, not to be
named, configured, fingerprinted or written into a header (`info`, empty inputs, headers).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name` (a dotted path), imported now if it already is, else on first use."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
