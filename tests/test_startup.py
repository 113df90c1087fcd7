"""Instant start: nothing heavy (numba and the compiled kernels, torch) is imported before a
block is coded that needs it. Run in a fresh interpreter: this one has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# concurrent.futures: ~8 ms, only for threads > 1.
HEAVY = ("numba", "torch", "matplotlib", "deepcompress.cli", "concurrent.futures")

_PROBE = """
import io, json, sys
import deepcompress
from deepcompress import api
{body}
print(json.dumps([name for name in {heavy!r} if name in sys.modules]))
"""


def heavy_modules_after(root, body: str) -> list[str]:
    """The heavy modules imported (executed) after running `body` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = _PROBE.format(body=body, heavy=HEAVY + ("deepcompress.models._cm_kernels",))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                            cwd=root)
    return json.loads(result.stdout.splitlines()[-1])


def test_import_loads_nothing_heavy(root):
    assert heavy_modules_after(root, "") == []


def test_empty_input_and_headers_need_no_kernels(root):
    body = """
blob = deepcompress.compress(b"")
assert deepcompress.decompress(blob) == b""
with deepcompress.open(io.BytesIO(blob)) as f:
    assert f.read() == b""
info = api.read_info(io.BytesIO(deepcompress.compress(b"", level=9)))
assert info.hyperparameters["hash_bits"] > 0
deepcompress.decompress(deepcompress.compress(b"abc", "histogram-adaptive"))
"""
    assert heavy_modules_after(root, body) == []


def test_coding_with_the_adaptive_model_loads_its_kernels(root):
    body = 'assert deepcompress.decompress(deepcompress.compress(b"abcdef")) == b"abcdef"'
    assert heavy_modules_after(root, body) == ["numba", "deepcompress.models._cm_kernels"]


def test_a_tiny_input_is_stored_without_loading_kernels(root):
    """api.STORED_TAIL_BYTES: a last block too short for coding to win is stored without a session,
    and the decoder replays a stored block only when another block follows it."""
    body = """
for data in (b"a", b"abcde"):
    blob = deepcompress.compress(data)
    assert deepcompress.decompress(blob) == data and len(blob) <= 26 + len(data)
    assert api.read_info(io.BytesIO(blob)).stats.nll_bits == 8 * len(data)  # stored: its raw size
    with deepcompress.open(io.BytesIO(blob)) as f:
        assert f.read() == data
assert deepcompress.decompress(deepcompress.compress(b"a") + deepcompress.compress(b"b")) == b"ab"
"""
    assert heavy_modules_after(root, body) == []


@pytest.mark.parametrize("name", ["hybrid_tiny", "hybrid3_tiny"])
def test_a_hybrid_codes_without_importing_torch(root, name):
    """A hybrid's network feeds a compiled kernel only: loading the model file and coding with it
    build no torch tensors (a process per small file would spend ~1.5 s importing torch)."""
    body = f"""
model = api.load_model("tests/golden/{name}.dcm")
blob = open("tests/golden/{name}.dcz", "rb").read()
data = deepcompress.decompress(blob, model=model)
sys.path.append("scripts")
from dcz_layout import as_version_3
assert deepcompress.compress(data, model) == as_version_3(blob)
"""
    assert heavy_modules_after(root, body) == ["numba", "deepcompress.models._cm_kernels"]
