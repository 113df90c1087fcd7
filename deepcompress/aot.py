"""`build`: compile the kernels ahead of time (`deepcompress build-kernels`), so that a process
codes without importing numba (see `_jit`).

A build runs in a child process with DEEPCOMPRESS_KERNELS=record: it codes a small sample with
every level (alone and from a trained prior, bytes and arrays) through the public API, which
records each kernel called from Python with the numba types of its arguments; then numba's AOT
compiler (`numba.pycc`) compiles those kernels, for exactly those types, into one extension
module. Kernels or types the sample does not reach (engine-2 streams of 0.1.0, hybrids, the MLP)
keep running on the JIT. Needs a C compiler and Python's headers (pycc builds its helpers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from deepcompress import _jit
from deepcompress.errors import DeepCompressError

SAMPLE_BYTES = 48 << 10


class KernelBuildError(DeepCompressError):
    """The kernels could not be built ahead of time (they still run on the JIT)."""


def build(directory: Path | None = None, timeout: float = 1800.0) -> Path:
    """Build the kernels into `directory` (default `_jit.kernel_dir()`) and return the module's
    path. Replaces a build of other sources there; the previous one stays usable until the new
    one is complete. Raises KernelBuildError with the child's last error line."""
    directory = Path(directory) if directory is not None else _jit.kernel_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # the child builds this package, wherever it was imported from
    search_path = os.pathsep.join([str(_jit.PACKAGE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    # the sample's primed priors are nobody's: they stay out of the user's cache
    environment = {**os.environ, "DEEPCOMPRESS_KERNELS": "record", "DEEPCOMPRESS_PRIMED_CACHE": "off",
                   "PYTHONPATH": search_path}
    code = f"from deepcompress import aot; aot._record_and_compile({str(directory)!r})"
    try:
        done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise KernelBuildError(f"building the kernels took over {timeout:.0f} s") from error
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise KernelBuildError("building the kernels failed: " + (lines[-1] if lines else f"exit {done.returncode}"))
    return _jit.build_paths(directory, _jit.kernel_key())[0]


def _warm_up() -> None:
    """Code a sample the ways the CLI and API do, so that every kernel they call records its types."""
    import numpy as np

    from deepcompress import api, longrange
    from deepcompress.models import adaptive, prior

    sources = sorted(_jit.PACKAGE.rglob("*.py"))
    text = b"".join(path.read_bytes() for path in sources)[:SAMPLE_BYTES]
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    for data in (text + noise, b"x"):
        # the lowest level of each preset (a later, lower level overwrites its preset's entry)
        for level in sorted({preset: level for level, preset in sorted(adaptive.LEVELS.items(), reverse=True)}.values()):
            blob = api.compress(data, level=level)
            assert api.decompress(blob) == data
    files = [text[i: i + 2000] for i in range(0, len(text), 2000)]
    for prime_bytes in (None, 0):  # primed sessions start with no history to index; unprimed ones index it
        trained = prior.train_prior(files[:-1], size=prior.MIN_BUDGET + 40_000, prime_bytes=prime_bytes)
        assert api.decompress(api.compress(files[-1], trained), trained) == files[-1]
    sample = text[:20_000]
    copies, _ = longrange.find_copies(sample, sample[5_000:] + noise)  # as a segment after the first calls it
    assert copies
    array = np.arange(-3000, 3000, 3, dtype=np.int16).reshape(-1, 4)
    assert np.array_equal(api.decompress_array(api.compress_array(array)), array)


def _use_nogil_flags() -> None:
    """pycc compiles with numba's default flags: the GIL held during a call (threads would then
    code one at a time) and Python's division checks. Give it the JIT's (`_jit._JIT_OPTIONS`)."""
    import numba.pycc.compiler as pycc_compiler

    class Flags(pycc_compiler.Flags):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True
            self.error_model = "numpy"

    pycc_compiler.Flags = Flags


def _record_and_compile(directory: str) -> None:
    """In the child: warm up, then compile what was recorded into `directory` (see `build`)."""
    if _jit.MODE != "record":
        raise RuntimeError("run with DEEPCOMPRESS_KERNELS=record")
    _warm_up()
    from numba.pycc import CC

    _use_nogil_flags()
    key = _jit.kernel_key()
    target = Path(directory)
    module_path, manifest_path = _jit.build_paths(target, key)
    name = module_path.name.split(".")[0]
    manifest: dict[str, list[list[Any]]] = {}
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        cc = CC(name)
        cc.output_dir = scratch
        cc.verbose = False
        cc.target_cpu = _jit.build_cpu()  # "": numba's generic CPU
        for kernel in _jit.KERNELS:
            for keys, argument_types in kernel.calls.items():
                signature = kernel.dispatcher.overloads[argument_types].signature
                exported = f"k{sum(map(len, manifest.values()))}"
                cc.export(exported, signature)(kernel.py_func)
                manifest.setdefault(kernel.name, []).append([exported, list(keys)])
        if not manifest:
            raise RuntimeError("the warm-up called no kernel")
        cc.compile()
        (built,) = Path(scratch).glob(name + ".*")
        os.replace(built, module_path)
    partial = manifest_path.with_suffix(".tmp")
    partial.write_text(json.dumps({"key": key, "kernels": manifest}, indent=1))
    os.replace(partial, manifest_path)
    for old in target.glob("_kernels_*"):
        if not old.name.startswith(name):
            old.unlink()
