"""Encode in one process and decode in another, under different numeric environments.

Float kernels change with thread count, ATen's CPU capability and MKL's code path, and a
decoder whose probabilities differ in one bit derails. Everything that feeds our coder is
integer arithmetic, so every environment must produce the *same bytes* when compressing and
decode what any other produced. Fresh processes, because these settings are read at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepcompress import models

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "samples" / "sample.txt").read_bytes()
# Text and binary, long enough for several lanes of the adaptive model (32 kB each).
DATA = SAMPLE * 20 + bytes(range(256)) * 40 + SAMPLE[::-1] * 3

# In one process: for each model, compress DATA to OUT/<model>.dcz and, if REF/<model>.dcz
# exists (made in another environment), decompress it and check it reproduces DATA.
WORKER = """
import sys, torch
threads, data_path, out_dir, ref_dir, *names = sys.argv[1:]
torch.set_num_threads(int(threads))
from pathlib import Path
import deepcompress
data = Path(data_path).read_bytes()
for name in names:
    Path(out_dir, name + ".dcz").write_bytes(deepcompress.compress(data, name))
    reference = Path(ref_dir, name + ".dcz")
    if reference.exists() and deepcompress.decompress(reference.read_bytes()) != data:
        sys.exit(f"{name}: decoding another environment's stream gave different data")
"""


def _cpu_has(flag: str) -> bool:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return False
    return any(flag in line.split() for line in lines if line.startswith("flags"))


# threads, ATEN_CPU_CAPABILITY, MKL_CBWR: each setting flips between the reference and some other.
AVX2 = "avx2" if _cpu_has("avx2") else None
REFERENCE = (1, "default", None)
ENVIRONMENTS = {
    "2 threads": (2, "default", None),
    "avx2 kernels": (1, AVX2, None),
    "MKL_CBWR=COMPATIBLE": (1, "default", "COMPATIBLE"),
    "all flipped": (2, AVX2, "COMPATIBLE"),
}


def _run(settings: tuple, out: Path, ref: Path, data: Path) -> None:
    threads, capability, mkl_cbwr = settings
    env = {key: value for key, value in os.environ.items() if key not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if capability is not None:
        env["ATEN_CPU_CAPABILITY"] = capability
    if mkl_cbwr is not None:
        env["MKL_CBWR"] = mkl_cbwr
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-c", WORKER, str(threads), str(data), str(out), str(ref), *sorted(models.BUILTIN_MODELS)]
    result = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("portability")
    (work / "data").write_bytes(DATA)
    _run(REFERENCE, work / "reference", work / "none", work / "data")
    return work


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_same_stream_and_cross_decoding(reference, environment):
    out = reference / environment.replace(" ", "_")
    _run(ENVIRONMENTS[environment], out, reference / "reference", reference / "data")
    for name in models.BUILTIN_MODELS:
        assert (out / f"{name}.dcz").read_bytes() == (reference / "reference" / f"{name}.dcz").read_bytes(), name
    # and the reference environment decodes what this one wrote
    _run(REFERENCE, reference / "check", out, reference / "data")
