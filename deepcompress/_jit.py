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
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def njit(function: Callable[..., Any]) -> Callable[..., Any]:
    """`numba.njit(cache=True, nogil=True)`, or without the cache where no cache location is usable."""
    try:
        return numba.njit(cache=True, error_model="numpy", nogil=True)(function)
    except RuntimeError as error:
        if "no locator available" not in str(error):
            raise
        return numba.njit(error_model="numpy", nogil=True)(function)


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """`prefetch(array, index)` in a kernel: hint the CPU to load the cache line of array[index]
    (LLVM's prefetch: read, high locality). A hint only: it changes no value, so it cannot change
    a result; index must lie inside the array (no wraparound)."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, ary, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0i8")
        builder.call(hint, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0), ir.Constant(i32, 3),
                            ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen
