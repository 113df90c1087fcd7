"""Test setup: test this checkout's package, and locate the shared corpus."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The tests (and the processes they start) run numba's JIT even where `deepcompress build-kernels`
# has built the kernels; tests/test_aot.py builds them into a temporary folder and tests that.
os.environ["DEEPCOMPRESS_KERNELS"] = "jit"
# Primed priors' states (`models.primed_cache`) go to a folder of this test process, shared with
# the processes it starts, never the user's cache; the tests of the cache choose their own.
os.environ["DEEPCOMPRESS_PRIMED_CACHE"] = tempfile.mkdtemp(prefix="deepcompress-primed-")
atexit.register(shutil.rmtree, os.environ["DEEPCOMPRESS_PRIMED_CACHE"], ignore_errors=True)
# The package may also be installed (editable) from another checkout: test this one.
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "scripts"))  # dcz_layout: tests parse and forge streams with it
for _name in [name for name in sys.modules if name == "deepcompress" or name.startswith("deepcompress.")]:
    del sys.modules[_name]

import deepcompress  # noqa: E402

if Path(deepcompress.__file__).resolve().parent != ROOT / "deepcompress":
    raise RuntimeError(f"testing {deepcompress.__file__}, not the package of {ROOT}")

# ../shared/corpus relative to the repository root (never copied into the repo).
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "canterbury").is_dir() or not (CORPUS / "calgary").is_dir():
        pytest.skip(f"benchmark corpus not found at {CORPUS} (expected calgary/ and canterbury/)")
    return CORPUS


@pytest.fixture(scope="session")
def built_kernels(tmp_path_factory) -> Path:
    """A folder holding this checkout's kernels built ahead of time (`aot.build`, ~15 s)."""
    import sysconfig

    from deepcompress import aot

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None or not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        pytest.skip(f"building kernels needs a C compiler ({compiler}) and the Python headers (Python.h): not found")
    directory = tmp_path_factory.mktemp("kernels")
    aot.build(directory)
    return directory
