"""`njit`: the compiled kernels, from an ahead-of-time build when there is one, else numba's JIT.

JIT: `numba.njit(cache=True)`, with an on-disk cache when one can be written, without one
otherwise. numba refuses to decorate a `cache=True` function when neither the package folder nor
the user's cache folder ($NUMBA_CACHE_DIR, $XDG_CACHE_HOME or ~/.cache) is writable ("cannot cache
function ...: no locator available"); the models must still work there (read-only installs,
sandboxes), so they then compile in memory (slower start, same machine code, same results).

Ahead of time: importing numba and initialising its CPU target costs ~0.4 s and ~100 MB in every
process, most of a small file's compress time. `deepcompress build-kernels` (`aot.build`) compiles
the kernels the CLI and API call, for the argument types they call them with, into one extension
module in `kernel_dir()`, named by `kernel_key()` (a hash of every source the kernels are compiled
from, numpy's version, the interpreter and `build_cpu()`, the instruction set it targets). When that
build exists, `njit` returns a `Kernel`: a
call from Python runs the built function whose argument types match exactly, and falls back to
the JIT (importing numba then) for any other types. Inside another kernel numba sees a `Kernel` as
its JIT dispatcher (`_numba_type_`), so kernels call kernels either way. Both are the same numba
compilation of the same integer code, so they give the same results. $DEEPCOMPRESS_KERNELS=jit
ignores any build (the test suite sets it; `aot` uses "record" while it builds).

error_model="numpy": integer division and modulo skip Python's divide-by-zero check (~10%
faster kernels). No kernel divides by a value that can be zero (divisors are lane lengths >= 1
and constants), so results are unchanged.

nogil=True: a kernel runs without holding the GIL (no kernel touches Python objects), so
segments coded in worker threads (`api.SegmentWriter`) run in parallel. Results are unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = Path(__file__).resolve().parent
# Every source a kernel is compiled from (kernels and the constants they read), relative to the
# package. tests/test_aot.py checks that this covers each module that imports `njit` and the
# package modules those import.
KERNEL_SOURCES = (
    "_jit.py",
    "_longrange_kernels.py",
    "coding/binary.py",
    "models/_cm_kernels.py",
    "models/_cm3_kernels.py",
    "models/_cm4_kernels.py",
    "models/_network_kernels.py",
    "models/_hybrid_kernels.py",
    "models/followers.py",
    "models/exp_table.py",
)
MODE = os.environ.get("DEEPCOMPRESS_KERNELS", "auto")
if MODE not in ("auto", "jit", "record"):
    raise ImportError(f"DEEPCOMPRESS_KERNELS={MODE!r}: expected 'auto' or 'jit'")

_JIT_OPTIONS = {"error_model": "numpy", "nogil": True}


def kernel_dir() -> Path:
    """Where `aot.build` writes and `njit` looks for the build: $DEEPCOMPRESS_KERNEL_DIR, else
    deepcompress/kernels under $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get("DEEPCOMPRESS_KERNEL_DIR"):
        return Path(os.environ["DEEPCOMPRESS_KERNEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "deepcompress" / "kernels"


def kernel_key() -> str:
    """16 hex digits naming a build: any change to a kernel source, numpy, the interpreter or the
    instruction set (`build_cpu`) gives another, so a build is never run on a CPU it was not made for."""
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes() + b"\0")
    digest.update(f"{np.__version__} {sys.version} {platform.machine()} {build_cpu()}".encode())
    return digest.hexdigest()[:16]


# The x86-64 micro-architecture levels (the psABI's), each with the /proc/cpuinfo flags it adds to
# the one before. A generic x86-64 build left the hybrid's network ~20% slower than the JIT, which
# compiles for this CPU; x86-64-v4 here (AVX-512) matched the JIT, v3 gained under half of that.
X86_LEVELS = (
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})),
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)


def x86_level(flags: frozenset[str] | set[str]) -> str:
    """The highest level of X86_LEVELS whose flags (and every lower level's) are all in `flags`;
    "" (generic x86-64) below x86-64-v2."""
    level = ""
    for name, added in X86_LEVELS:
        if not added <= flags:
            break
        level = name
    return level


def build_cpu() -> str:
    """The CPU `aot` compiles for: on x86-64 Linux the highest level the first processor's
    /proc/cpuinfo flags name (the kernel lists only what the CPU and OS support), else "" (numba's
    generic CPU). Reads that processor's lines only: the file is made per processor as it is read."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return x86_level(frozenset(value.split()))
    except OSError:
        pass
    return ""


def build_paths(directory: Path, key: str) -> tuple[Path, Path]:
    """The build's extension module and its manifest (written last: a build without one is unfinished)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return directory / f"_kernels_{key}{suffix}", directory / f"_kernels_{key}.json"


def type_key(value: Any) -> str | None:
    """What selects a built variant: numba's type of `value` as a string (the same for two values
    exactly when numba types them alike), or None for a value no build is made for."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return (f"{value.dtype.str}/{value.ndim}{layout}"
                f"{'' if flags.writeable else 'r'}{'' if flags.aligned else 'u'}")
    if isinstance(value, (bool, np.bool_)):
        return "|b1"
    if isinstance(value, int):
        return "<i8" if -(1 << 63) <= value < 1 << 63 else None
    if isinstance(value, float):
        return "<f8"
    if isinstance(value, np.generic) and value.dtype.kind in "iuf":
        return value.dtype.str
    return None


def _jit(function: Callable[..., Any], inline: bool = False) -> Any:
    import numba

    options = {**_JIT_OPTIONS, "inline": "always" if inline else "never"}
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError as error:
        if "no locator available" not in str(error):
            raise
        return numba.njit(**options)(function)


class _Build:
    """The extension module `aot.build` made (imported on first use) and its manifest:
    {qualified kernel name: [[exported name, [type_key of each argument]], ...]}."""

    def __init__(self, module_path: Path, manifest: dict[str, list[list[Any]]]) -> None:
        self._path = module_path
        self._manifest = manifest
        self._module: Any = None

    def variants(self, name: str) -> dict[tuple[str, ...], Callable[..., Any]]:
        entries = self._manifest.get(name, [])
        if not entries:
            return {}
        if self._module is None:
            spec = importlib.util.spec_from_file_location(self._path.name.split(".")[0], self._path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return {tuple(keys): getattr(self._module, exported) for exported, keys in entries}


def _find_build() -> _Build | None:
    if MODE != "auto":
        return None
    try:
        module_path, manifest_path = build_paths(kernel_dir(), kernel_key())
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    return _Build(module_path, manifest["kernels"]) if module_path.is_file() else None


_BUILD = _find_build()
# Kernels are `Kernel` objects (and numba is imported only when needed) where a build is used or recorded.
_KERNEL_OBJECTS = _BUILD is not None or MODE == "record"
_LOCK = threading.RLock()


class Kernel:
    """A kernel that runs its ahead-of-time build where the argument types match one, else
    numba's JIT. `calls` (in "record" mode only): (type keys, arguments' numba types) of each
    distinct call from Python, for `aot.build`."""

    def __init__(self, function: Callable[..., Any], inline: bool = False) -> None:
        self.py_func = function
        self.inline = inline
        self.name = f"{function.__module__}.{function.__qualname__}"
        self.__name__ = function.__name__
        self.__qualname__ = function.__qualname__
        self.__module__ = function.__module__
        self.__doc__ = function.__doc__
        self._dispatcher: Any = None
        self._variants: dict[tuple[str, ...], Callable[..., Any]] | None = None
        self.calls: dict[tuple[str, ...], tuple[Any, ...]] = {}

    @property
    def dispatcher(self) -> Any:
        """numba's JIT dispatcher of the function (made, importing numba, on first use)."""
        if self._dispatcher is None:
            with _LOCK:
                if self._dispatcher is None:
                    self._dispatcher = _jit(self.py_func, self.inline)
        return self._dispatcher

    @property
    def targetoptions(self) -> dict[str, Any]:
        """The dispatcher's jit options: numba's inlining pass reads `inline` here (and calls
        `py_func`), so a Kernel called from a kernel is inlined as its dispatcher would be."""
        return self.dispatcher.targetoptions

    @property
    def _numba_type_(self) -> Any:  # how numba types a Kernel called from another kernel
        from numba import types

        return types.Dispatcher(self.dispatcher)

    def __call__(self, *args: Any) -> Any:
        if MODE == "record":
            return self._record(args)
        variants = self._variants
        if variants is None:
            with _LOCK:
                if self._variants is None:
                    self._variants = _BUILD.variants(self.name) if _BUILD is not None else {}
            variants = self._variants
        native = variants.get(tuple(map(type_key, args))) if variants else None
        if native is None:
            return self.dispatcher(*args)
        return native(*args)

    def _record(self, args: tuple[Any, ...]) -> Any:
        keys = tuple(map(type_key, args))
        if None not in keys and keys not in self.calls:
            import numba

            self.calls[keys] = tuple(numba.typeof(value) for value in args)
        return self.dispatcher(*args)


KERNELS: list[Kernel] = []


def kernel_origin() -> str:
    """Where this process's kernels come from, for benchmark reports."""
    return "built ahead of time" if _BUILD is not None else "numba JIT"


def njit(function: Callable[..., Any] | None = None, *, inline: bool = False) -> Any:
    """The kernel of `function`: numba's JIT dispatcher, or a `Kernel` when a build exists (or
    while `aot` records the calls to build). `@njit(inline=True)`: numba inlines the kernel into
    every kernel that calls it, so arguments the caller passes as constants specialise its code
    (loops of constant length unrolled, branches on them removed); it is not called from Python."""
    if function is None:
        return lambda undecorated: njit(undecorated, inline=inline)
    if not _KERNEL_OBJECTS:
        return _jit(function, inline)
    kernel = Kernel(function, inline)
    KERNELS.append(kernel)
    return kernel


def _prefetch_intrinsic() -> Any:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
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

    return prefetch


class _LazyIntrinsic:
    """`prefetch` where numba may never be imported: numba types it as the intrinsic, made on first use."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._intrinsic: Any = None

    @property
    def _numba_type_(self) -> Any:
        from numba.core.registry import cpu_target

        with _LOCK:
            if self._intrinsic is None:
                self._intrinsic = self._make()
                # the intrinsic registers its typing template globally; the context sees it once refreshed
                cpu_target.typing_context.refresh()
        return cpu_target.typing_context.resolve_value_type(self._intrinsic)


# `prefetch(array, index)` in a kernel: hint the CPU to load the cache line of array[index]
# (LLVM's prefetch: read, high locality). A hint only: it changes no value, so it cannot change
# a result; index must lie inside the array (no wraparound).
prefetch: Any = _LazyIntrinsic(_prefetch_intrinsic) if _KERNEL_OBJECTS else _prefetch_intrinsic()
