"""Encode in one process and decode in another, under what changes the compiled code.

What a decoder on another machine runs differently: numba's machine code (compiled for the
host CPU, or for `NUMBA_CPU_NAME=generic` as on a CPU without the host's extensions), the
thread count, and for the models that call torch (the MLPs) ATen's CPU kernels
(`ATEN_CPU_CAPABILITY`) and MKL's code path (`MKL_CBWR`). A decoder whose probabilities
differ in one bit derails; everything that feeds our coder is integer arithmetic, so every
environment must produce the *same bytes* when compressing and decode what any other
produced. Fresh processes, because these settings are read at import or first compilation.
Torch settings are varied only for the models that call torch; the others never import it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepcompress import modelfile, models
from deepcompress.models.adaptive import LEVELS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "samples" / "sample.txt").read_bytes()
# Text and binary, long enough for several lanes of the adaptive model (32 kB each).
DATA = SAMPLE * 20 + bytes(range(256)) * 40 + SAMPLE[::-1] * 3
GOLDEN = ROOT / "tests" / "golden"
# Models that call torch, as (name, model file, what it codes): the toy MLP, an MLP with
# follower features (numba tables too), a record model on an int16 array, and the golden hybrids
# (a prior and a byte MLP, mixed in one compiled loop: engine 2's hybrid kernel, engine 3's own).
TORCH_MODELS = ("mlp", "mlp-followers", "record-mlp", "hybrid", "hybrid3")
# Every compression level's preset, as "level-N" with N the lowest level of that preset.
LEVEL_MODELS = tuple(f"level-{min(n for n in LEVELS if LEVELS[n] == p)}" for p in sorted(set(LEVELS.values())))
# "segmented": level 1 in segments of 16 KiB, so that later segments copy from earlier ones (`longrange`);
# "prior3-primed": the golden primed prior (each process primes it, the engine over its history:
# the primed-state cache is off here).
ALL_MODELS = (*sorted(models.BUILTIN_MODELS), *LEVEL_MODELS, "segmented", "prior3-primed", *TORCH_MODELS)

# In one process: for each model, compress OUT/<model>.dcz and, if REF/<model>.dcz exists
# (made in another environment, or just now when REF is OUT), decompress it and check it.
WORKER = """
import sys
threads, work, out_dir, ref_dir, *names = sys.argv[1:]
from pathlib import Path
import numpy as np
if set(names) & {"mlp", "mlp-followers", "record-mlp", "hybrid", "hybrid3"}:
    import torch
    torch.set_num_threads(int(threads))
import deepcompress
data, records = Path(work, "data").read_bytes(), np.load(Path(work, "records.npy"))
for name in names:
    if name in deepcompress.models.BUILTIN_MODELS:
        model = name
    elif name.startswith("level-"):
        model = deepcompress.models.level_model(int(name[6:]))
    elif name == "segmented":
        model = None
    else:
        model = deepcompress.load_model(Path(work, name + ".dcm"))
    if name == "record-mlp":
        blob, decode, original = deepcompress.compress_array(records, model), deepcompress.decompress_array, records
    elif name == "segmented":
        import io
        from deepcompress import api
        segment_bytes, api.SEGMENT_BYTES, sink = api.SEGMENT_BYTES, 1 << 14, io.BytesIO()
        try:
            api.compress_stream(io.BytesIO(data), sink, level=1, block_size=4096)
        finally:
            api.SEGMENT_BYTES = segment_bytes
        blob, decode, original = sink.getvalue(), deepcompress.decompress, data
        assert api.read_info(io.BytesIO(blob)).stats.n_symbols < len(data) // 2, "no copies"
    else:
        blob, decode, original = deepcompress.compress(data, model), deepcompress.decompress, data
    Path(out_dir, name + ".dcz").write_bytes(blob)
    reference = Path(ref_dir, name + ".dcz")
    if reference.exists() and not np.array_equal(np.asarray(decode(reference.read_bytes(), model)), original):
        sys.exit(f"{name}: decoding another environment's stream gave different data")
"""


def _cpu_has(flag: str) -> bool:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return False
    return any(flag in line.split() for line in lines if line.startswith("flags"))


AVX2 = "avx2" if _cpu_has("avx2") else None
# name -> (environment variables, thread count, models). The reference: host CPU, 1 thread, defaults.
REFERENCE = ({}, 1, ALL_MODELS)
ENVIRONMENTS = {
    "numba generic CPU": ({"NUMBA_CPU_NAME": "generic"}, 1, ALL_MODELS),
    "2 threads": ({}, 2, ALL_MODELS),
    "ATen avx2 kernels": ({"ATEN_CPU_CAPABILITY": AVX2}, 1, TORCH_MODELS),
    "MKL_CBWR=COMPATIBLE": ({"MKL_CBWR": "COMPATIBLE"}, 1, TORCH_MODELS),
}
ALL_FLIPPED = ({"NUMBA_CPU_NAME": "generic", "ATEN_CPU_CAPABILITY": AVX2, "MKL_CBWR": "COMPATIBLE"}, 2, ALL_MODELS)
VARIED = ("NUMBA_CPU_NAME", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _run(settings: tuple, work: Path, out: Path, ref: Path) -> None:
    variables, threads, names = settings
    env = {key: value for key, value in os.environ.items() if key not in VARIED}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({key: value for key, value in variables.items() if value is not None})
    env.update({key: str(threads) for key in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    env["DEEPCOMPRESS_PRIMED_CACHE"] = "off"  # every environment primes the primed prior itself
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-c", WORKER, str(threads), str(work), str(out), str(ref), *names]
    result = subprocess.run(command, check=False, env=env, capture_output=True, timeout=900)
    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Streams of every model made in the reference environment, which also decodes them."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import fuzz_decoder  # its seeded MLP with follower features

    work = tmp_path_factory.mktemp("portability")
    (work / "data").write_bytes(DATA)
    np.save(work / "records.npy", np.random.default_rng(0).integers(0, 5, size=(200, 3)).astype(np.int16))
    (work / "mlp.dcm").write_bytes((GOLDEN / "mlp_toy_k1.dcm").read_bytes())
    (work / "record-mlp.dcm").write_bytes((GOLDEN / "records_k5_d3.dcm").read_bytes())
    (work / "hybrid.dcm").write_bytes((GOLDEN / "hybrid_tiny.dcm").read_bytes())
    (work / "hybrid3.dcm").write_bytes((GOLDEN / "hybrid3_tiny.dcm").read_bytes())
    (work / "prior3-primed.dcm").write_bytes((GOLDEN / "prior3_primed_tiny.dcm").read_bytes())
    modelfile.save_model(fuzz_decoder.trained_mlp(), work / "mlp-followers.dcm")
    _run(REFERENCE, work, work / "reference", work / "reference")
    return work


def _check(reference: Path, name: str, settings: tuple) -> None:
    out = reference / name.replace(" ", "_")
    # this environment decodes the reference's streams ...
    _run(settings, reference, out, reference / "reference")
    # ... and writes the same bytes, which the reference environment decoded above
    for model in settings[2]:
        assert (out / f"{model}.dcz").read_bytes() == (reference / "reference" / f"{model}.dcz").read_bytes(), model


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_same_stream_and_cross_decoding(reference, environment):
    variables = ENVIRONMENTS[environment][0]
    if any(value is None for value in variables.values()):
        pytest.skip(f"{environment}: this CPU lacks the instruction set")
    _check(reference, environment, ENVIRONMENTS[environment])


def test_kernels_built_ahead_of_time(reference, built_kernels):
    """`deepcompress build-kernels`: the built kernels (and the JIT, for what was not built) write
    the reference's streams and decode them."""
    settings = ({"DEEPCOMPRESS_KERNELS": "auto", "DEEPCOMPRESS_KERNEL_DIR": str(built_kernels)}, 1, ALL_MODELS)
    _check(reference, "built kernels", settings)


@pytest.mark.slow
def test_every_setting_flipped_at_once(reference):
    settings = ({k: v for k, v in ALL_FLIPPED[0].items() if v is not None}, *ALL_FLIPPED[1:])
    _check(reference, "all flipped", settings)
