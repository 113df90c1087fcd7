"""`njit`: numba's compiler with an on-disk cache when one can be written, without one otherwise.

numba refuses to decorate a `cache=True` function when neither the package folder nor the
user's cache folder ($NUMBA_CACHE_DIR, $XDG_CACHE_HOME or ~/.cache) is writable ("cannot cache
function ...: no locator available"). The models must still work there (read-only installs,
sandboxes), so every kernel is decorated through this helper: it tries the cache and falls back
to compiling in memory (slower start, same machine code, same results).

error_model="numpy": integer division and modulo skip Python's divide-by-zero check (~10%
faster kernels). No kernel divides by a value that can be zero (divisors are lane lengths >= 1
and constants), so results are unchanged.

nogil=True: a kernel runs without holding the GIL (no kernel touches Python objects), so
segments coded in worker threads (`api.SegmentWriter`) run in parallel. Results are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba


def njit(function: Callable[..., Any]) -> Callable[..., Any]:
    """`numba.njit(cache=True, nogil=True)`, or without the cache where no cache location is usable."""
    try:
        return numba.njit(cache=True, error_model="numpy", nogil=True)(function)
    except RuntimeError as error:
        if "no locator available" not in str(error):
            raise
        return numba.njit(error_model="numpy", nogil=True)(function)
