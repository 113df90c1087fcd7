"""Kernels built ahead of time (`deepcompress build-kernels`): the same streams as the JIT, in a
process that never imports numba; any other call falls back to the JIT.

The portability matrix (tests/test_portability.py) also runs every model on the build."""

from __future__ import annotations

import ast
import itertools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

from deepcompress import _jit

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
V2 = json.loads((GOLDEN / "v2" / "expected.json").read_text())["valid"]


def _package_imports(path: Path) -> set[str]:
    """The deepcompress modules a source imports, as paths relative to the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("deepcompress"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("deepcompress")]
        for name in names:
            relative = Path(*name.split(".")[1:])
            if (ROOT / "deepcompress" / relative).with_suffix(".py").is_file():
                found.add(relative.with_suffix(".py").as_posix())
    return found


def test_kernel_sources_cover_every_kernel_and_what_it_imports():
    """A build is named by a hash of KERNEL_SOURCES: a source left out could change under it."""
    kernel_modules = {path.relative_to(ROOT / "deepcompress").as_posix()
                      for path in (ROOT / "deepcompress").rglob("*.py") if "deepcompress._jit" in path.read_text()
                      and path.name not in ("_jit.py", "aot.py")}
    assert kernel_modules <= set(_jit.KERNEL_SOURCES)
    for source in kernel_modules:
        assert _package_imports(ROOT / "deepcompress" / source) <= set(_jit.KERNEL_SOURCES), source



def test_x86_level_is_the_highest_whose_flags_and_all_below_are_present():
    v2, v3, v4 = (added for _, added in _jit.X86_LEVELS)
    assert _jit.x86_level(set()) == ""
    assert _jit.x86_level(v2 - {"popcnt"}) == ""
    assert _jit.x86_level(v2 | {"sse2"}) == "x86-64-v2"
    assert _jit.x86_level(v2 | v3 - {"fma"}) == "x86-64-v2"
    assert _jit.x86_level(v2 | v3) == "x86-64-v3"
    assert _jit.x86_level(v2 | v3 | v4) == "x86-64-v4"
    assert _jit.x86_level(v3 | v4) == ""  # a level needs every lower one


def test_a_build_is_named_by_the_cpu_it_targets(monkeypatch):
    """A build made for x86-64-v4 is never found on a machine that only has v3 (a shared cache)."""
    keys = set()
    for level in ("", "x86-64-v3", "x86-64-v4"):
        monkeypatch.setattr(_jit, "build_cpu", lambda level=level: level)
        keys.add(_jit.kernel_key())
    assert len(keys) == 3
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").is_file() else open(os.devnull) as cpuinfo:
        flags = next((line.split(":")[1].split() for line in cpuinfo if line.startswith("flags")), [])
    monkeypatch.undo()
    assert _jit.build_cpu() == (_jit.x86_level(frozenset(flags)) if platform.machine() == "x86_64" else "")


def _values() -> list[object]:
    base = np.arange(24, dtype=np.int64)
    readonly = np.arange(6, dtype=np.uint8)
    readonly.flags.writeable = False
    unaligned = np.frombuffer(bytes(33), dtype=np.uint8)[1:].view(np.int32)
    return [base, base.reshape(4, 6), base.reshape(4, 6).T, base[::2], base.astype(np.int32),
            base.astype(np.uint32), base.astype(np.float32), base.astype(np.int16).reshape(2, 12),
            readonly, np.arange(6, dtype=np.uint8), unaligned, np.zeros(0, dtype=np.int16),
            True, np.bool_(False), 3, -(1 << 62), np.int64(5), np.int32(5), np.uint8(1), 2.5, np.float32(1)]


def test_type_key_is_equal_exactly_when_numba_types_alike():
    """The build is chosen by type_key: two values share a key only if numba compiles them alike."""
    values = _values()
    for a, b in itertools.product(values, repeat=2):
        assert (_jit.type_key(a) == _jit.type_key(b)) == (numba.typeof(a) == numba.typeof(b)), (a, b)
    assert _jit.type_key(1 << 64) is None and _jit.type_key("text") is None and _jit.type_key(None) is None



# Compiled from a string: numba caches nothing of it, so each run compiles afresh.
INLINED = """
def scaled(x, factor):
    return x * factor

def caller(x):
    return callee(x, 3)
"""


def test_a_kernel_object_marked_inline_is_inlined_into_its_caller():
    """Where kernels are `Kernel` objects (a build used or recorded), `inline=True` still inlines
    (engine 4's variants rely on it): the callee is never compiled on its own; without it, it is."""
    for inline in (True, False):
        namespace: dict = {}
        exec(compile(INLINED, "<kernels>", "exec"), namespace)  # noqa: S102
        callee = namespace["callee"] = _jit.Kernel(namespace["scaled"], inline=inline)
        assert _jit.Kernel(namespace["caller"]).dispatcher(7) == 21
        assert bool(callee.dispatcher.signatures) is not inline, inline


# In a process with the build: code every level and the golden prior, decode the golden streams
# of each level's preset; numba must stay unimported. Then an engine-2 stream (not built) falls back.
WORKER = """
import json, sys
from pathlib import Path
import deepcompress
from deepcompress import _jit
golden, out = Path(sys.argv[1]), Path(sys.argv[2])
assert _jit._BUILD is not None, "no build found"
data = (golden.parent.parent / "samples" / "sample.txt").read_bytes()
for level in range(1, 10):
    (out / f"level{level}.dcz").write_bytes(deepcompress.compress(data, level=level))
prior = deepcompress.load_model(golden / "prior3_tiny.dcm")
(out / "prior.dcz").write_bytes(deepcompress.compress(data, prior))
decoded = {name: deepcompress.decompress((golden / "v2" / name).read_bytes()) for name in sys.argv[3:]}
decoded["prior3_tiny.dcz"] = deepcompress.decompress((golden / "prior3_tiny.dcz").read_bytes(), prior)
assert "numba" not in sys.modules, "a built kernel imported numba"
decoded["sample_cm.dcz"] = deepcompress.decompress((golden / "v2" / "sample_cm.dcz").read_bytes())
assert "numba" in sys.modules
for name, data in decoded.items():
    (out / ("decoded-" + name)).write_bytes(data)
"""
BUILT_GOLDENS = ("sample_cm6.dcz", "sample_cm7.dcz", "sample_cm8.dcz", "sample_cm9.dcz", "sample_cm10.dcz")


def test_built_kernels_give_the_jits_streams_without_numba(built_kernels, tmp_path):
    import hashlib

    import deepcompress

    env = {**os.environ, "DEEPCOMPRESS_KERNELS": "auto", "DEEPCOMPRESS_KERNEL_DIR": str(built_kernels),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", WORKER, str(GOLDEN), str(tmp_path), *BUILT_GOLDENS],
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    data = (ROOT / "samples" / "sample.txt").read_bytes()
    for level in range(1, 10):
        assert (tmp_path / f"level{level}.dcz").read_bytes() == deepcompress.compress(data, level=level), level
    prior = deepcompress.load_model(GOLDEN / "prior3_tiny.dcm")
    assert (tmp_path / "prior.dcz").read_bytes() == deepcompress.compress(data, prior)
    for name in (*BUILT_GOLDENS, "sample_cm.dcz"):
        entry = next(entry for entry in V2.values() if entry["file"] == name)
        assert hashlib.sha256((tmp_path / f"decoded-{name}").read_bytes()).hexdigest() == entry["output_sha256"]
    assert (tmp_path / "decoded-prior3_tiny.dcz").read_bytes() == deepcompress.decompress(
        (GOLDEN / "prior3_tiny.dcz").read_bytes(), prior)


def test_an_unfinished_or_other_build_is_not_used(built_kernels, tmp_path):
    module, manifest = _jit.build_paths(built_kernels, _jit.kernel_key())
    assert module.is_file() and manifest.is_file()
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / module.name).write_bytes(module.read_bytes())  # no manifest yet
    other = tmp_path / "other"
    other.mkdir()
    (other / module.name.replace(_jit.kernel_key(), "0" * 16)).write_bytes(module.read_bytes())
    (other / manifest.name.replace(_jit.kernel_key(), "0" * 16)).write_text(manifest.read_text())
    probe = "import sys; from deepcompress import _jit; print(_jit._BUILD is None)"
    for directory in (unfinished, other, built_kernels):
        env = {**os.environ, "DEEPCOMPRESS_KERNELS": "auto", "DEEPCOMPRESS_KERNEL_DIR": str(directory),
               "PYTHONPATH": str(ROOT)}
        found = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120,
                               check=False)
        assert found.stdout.strip() == str(directory != built_kernels), (directory, found.stderr)


def test_build_kernels_reports_an_unusable_folder_in_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "deepcompress", "build-kernels", "--dir", str(blocked / "sub")],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("deepcompress: build-kernels: ")


def test_an_unknown_kernel_mode_is_refused():
    env = {**os.environ, "DEEPCOMPRESS_KERNELS": "bogus", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", "import deepcompress._jit"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 0 and "DEEPCOMPRESS_KERNELS='bogus'" in result.stderr
