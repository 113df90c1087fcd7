"""The self-coding presets of `adaptive` (2-5: engine 2; 6, 7 and 9, the default 6: engine 3; 8 and
10: engine 4): a block coded in one compiled call by the binary coder."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deepcompress
from deepcompress import api, codec, container, models
from deepcompress.models import adaptive
from deepcompress.models.adaptive import DEFAULT_PRESET, AdaptiveModel

SMALL = {"hash_bits": 16, "match_bits": 16}
REPO = Path(__file__).resolve().parents[1]
CORPUS = Path("/work/shared/corpus/calgary")


def _text(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    words = [b"the", b"model", b"codes", b"every", b"bit", b"of", b"a", b"byte", b"match"]
    out = bytearray()
    while len(out) < n:
        out += words[rng.integers(len(words))] + (b". " if rng.random() < 0.1 else b" ")
    return np.frombuffer(bytes(out[:n]), np.uint8).astype(np.int64)


BLOCKS = {
    "empty": [np.zeros(0, np.int64)],
    "one": [np.array([0x9C])],
    "repeated": [np.full(5000, 97)],
    "random": [np.random.default_rng(1).integers(0, 256, 3000)],
    "text in blocks": [_text(3000), _text(1, 3), np.zeros(0, np.int64), _text(7000, 4)],
}


def test_default_is_the_self_coding_preset():
    assert DEFAULT_PRESET == 6
    assert AdaptiveModel().self_coder == "binary" and AdaptiveModel().choose_lanes(10**9) == 1
    assert AdaptiveModel(preset=1).self_coder is None
    assert AdaptiveModel(preset=1).fingerprint() != AdaptiveModel().fingerprint()
    with pytest.raises(ValueError, match="one lane"):
        AdaptiveModel(preset=2, max_lanes=4)


@pytest.mark.parametrize("preset", [2, 6, 7, 8, 10])
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_round_trip_and_same_probabilities_as_tables(name, preset):
    model = AdaptiveModel(preset, **SMALL)
    encoder, decoder, tables = model.session(), model.session(), model.session()
    for block in BLOCKS[name]:
        coded = codec.encode_block(model, encoder, block)
        assert coded.lanes == 1 and coded.words.dtype == np.uint32
        assert np.array_equal(codec.decode_block(model, decoder, coded, "binary"), block)
        # The table path (nll, surprisal) sees the very same probabilities: the exact NLL of its
        # tables (not constriction's 24-bit requantisation of them) equals what was coded.
        chosen = [np.take_along_axis(chunk.freqs, d[:, None], 1)[:, 0]
                  for d, chunk in tables.encode_block(block, 1)]
        p = np.concatenate(chosen) if chosen else np.zeros(0)
        assert coded.nll_bits == pytest.approx(float(np.sum(12 - np.log2(p))), rel=1e-12, abs=1e-9)
        assert coded.payload_bits - coded.nll_bits <= 1e-4 * coded.nll_bits + 64


@pytest.mark.parametrize("preset", [2, 6, 10])
def test_state_carries_across_blocks(preset):
    model = AdaptiveModel(preset, **SMALL)
    data = _text(6000)
    session = model.session()
    codec.encode_block(model, session, data[:3000])
    carried = codec.encode_block(model, session, data[3000:])
    fresh = codec.encode_block(model, model.session(), data[3000:])
    assert carried.payload_bits < fresh.payload_bits


def test_engine_4_variants_size_their_tables():
    from deepcompress.models import _cm4_kernels as K4
    from deepcompress.models.adaptive import PRESETS

    two_orders, one_order = K4.new_state(PRESETS[8]), K4.new_state(PRESETS[10])
    assert len(one_order["t_hash"]) * 2 == len(two_orders["t_hash"]) == 2 << PRESETS[8]["hash_bits"]
    assert len(one_order["apm"]) == 0 and len(two_orders["apm"]) == K4.APM_LEN
    data = _text(5000)
    sizes = [codec.encode_block(AdaptiveModel(p), AdaptiveModel(p).session(), data).payload_bits for p in (8, 10)]
    assert sizes[0] != sizes[1]  # two models, not one under two names


def test_wrong_coder_is_refused():
    model = AdaptiveModel(**SMALL)
    block = codec.encode_block(model, model.session(), _text(100))
    with pytest.raises(ValueError, match="binary"):
        codec.decode_block(model, model.session(), block, "range")
    with pytest.raises(ValueError, match="binary"):
        codec.encode_block(model, model.session(), _text(100), "ans")


def test_stream_records_binary_and_decoder_refuses_another_coder():
    data = bytes(_text(2000).astype(np.uint8))
    blob = deepcompress.compress(data)
    info = api.read_info(io.BytesIO(blob))
    assert info.header.coder == "binary" and info.lanes == (1,)
    assert deepcompress.decompress(blob) == data
    header = container.read_header(io.BytesIO(blob))
    rest = blob[len(container.encode_header(header)):]
    forged = container.encode_header(dataclasses.replace(header, coder="range")) + rest  # header CRC recomputed
    with pytest.raises(deepcompress.CorruptStreamError, match="own 'binary' coder, not 'range'"):
        deepcompress.decompress(forged)


def test_preset_1_still_coded_by_constriction():
    data = bytes(_text(2000).astype(np.uint8))
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, AdaptiveModel(preset=1), "range")
    blob = sink.getvalue()
    assert api.read_info(io.BytesIO(blob)).header.coder == "range"
    assert deepcompress.decompress(blob) == data


def test_sized_for_shrinks_tables_and_travels_in_the_header():
    model = AdaptiveModel()
    assert model.sized_for(None) is model and model.sized_for(1 << 30) is model
    assert AdaptiveModel(preset=1).sized_for(1).config() == {"preset": 1}
    tiny = model.sized_for(1).hyperparameters()
    assert tiny["hash_bits"] == 12 and tiny["match_bits"] == 12
    mid = model.sized_for(65536).hyperparameters()
    assert mid["hash_bits"] == 20 and mid["match_bits"] == 17  # engine 3: 12 * 1 MiB of states
    assert AdaptiveModel(preset=2).sized_for(65536).hyperparameters()["hash_bits"] == 19
    assert AdaptiveModel(preset=8).sized_for(65536).hyperparameters()["hash_bits"] == 21  # engine 4
    assert AdaptiveModel(hash_bits=14).sized_for(65536).hyperparameters()["hash_bits"] == 14
    data = bytes(_text(65536).astype(np.uint8))
    blob = deepcompress.compress(data)
    header = api.read_info(io.BytesIO(blob)).header
    assert header.config == {"preset": 6, "hash_bits": 20, "match_bits": 17}
    assert header.fingerprint is None  # the config is the whole model: the decoder rebuilds it
    assert api.StreamReader(io.BytesIO(blob)).model.fingerprint() == model.sized_for(65536).fingerprint()
    assert deepcompress.decompress(blob) == data


def test_streams_sized_by_an_earlier_slack_decode_with_the_model_named(monkeypatch):
    """Engine 3 sized its tables with 2**5 slots per byte before 2**4: such a stream records its
    sizes (and decodes from them), and a decoder handed the model finds it among its variants."""
    data = bytes(_text(40000).astype(np.uint8))
    monkeypatch.setitem(adaptive.SIZE_SLACK_BITS, 3, 5)
    blob = deepcompress.compress(data)
    assert api.read_info(io.BytesIO(blob)).header.config["hash_bits"] == 21
    monkeypatch.undo()
    assert deepcompress.compress(data) != blob
    for model in (None, "adaptive", AdaptiveModel(), models.level_model(5)):
        assert deepcompress.decompress(blob, model=model) == data
    with pytest.raises(deepcompress.ModelMismatchError):
        deepcompress.decompress(blob, model=models.level_model(9))


@pytest.mark.skipif(not (CORPUS / "paper1").exists(), reason="corpus not available")
@pytest.mark.parametrize("name", ["paper1", "obj1", "pic"])
def test_coder_overhead_on_corpus_files(name):
    data = np.frombuffer((CORPUS / name).read_bytes(), np.uint8).astype(np.int64)
    model = AdaptiveModel().sized_for(len(data))
    coded = codec.encode_block(model, model.session(), data)
    assert coded.payload_bits - coded.nll_bits <= 1e-4 * coded.nll_bits + 64
    assert np.array_equal(codec.decode_block(model, model.session(), coded), data)


_NO_CACHE_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import deepcompress
data = b"no cache can be written here " * 50
assert deepcompress.decompress(deepcompress.compress(data)) == data
print("ok")
"""


def test_models_work_where_no_numba_cache_can_be_written(tmp_path):
    """Neither the package folder nor $HOME can hold numba's cache: compile without one."""
    package = tmp_path / "pkg"
    shutil.copytree(REPO / "deepcompress", package / "deepcompress",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for folder in (package / "deepcompress").rglob("*"):
        if folder.is_dir():
            (folder / "__pycache__").write_text("a file where numba wants a folder")
    (package / "deepcompress" / "__pycache__").write_text("a file where numba wants a folder")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(HOME=str(blocked), XDG_CACHE_HOME=str(blocked / "cache"), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", _NO_CACHE_SCRIPT, str(package)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_kernel_configuration_keys_are_the_presets():
    from deepcompress.models import _cm3_kernels as K3
    from deepcompress.models import _cm4_kernels as K4
    from deepcompress.models import _cm_kernels as K
    from deepcompress.models.adaptive import ENGINES, PRESETS

    assert set(ENGINES) == set(PRESETS)
    for number, preset in PRESETS.items():
        keys = {2: K, 3: K3, 4: K4}[ENGINES[number]].CFG_KEYS
        assert set(keys) | {"lane_bytes", "max_lanes"} == set(preset)
    assert len(set(K.CFG_KEYS)) == K.CFG_LEN


@pytest.mark.parametrize("rate", [1, 2, 6, 7, 15])
def test_apm_entries_stay_16_bit(rate):
    """Engines 3 and 4 hold APM entries as uint16: from every 16-bit value, at every weight,
    `_apm_update` (its Python source, vectorised) stays within [0, 2**16) for either bit."""
    from deepcompress.models import _cm3_kernels, _cm4_kernels

    update = getattr(_cm3_kernels._apm_update, "py_func", _cm3_kernels._apm_update)
    t = np.repeat(np.arange(1 << 16, dtype=np.int64), 128)
    w = np.tile(np.arange(128, dtype=np.int64), 1 << 16)
    for y in (0, 1):
        apm = np.stack([t, t])  # rows: the points i and i + 1, moved with weights 128 - w and w
        update(apm, 0, w, y, rate)
        assert 0 <= apm.min() and apm.max() < 1 << 16
    for kernels in (_cm3_kernels, _cm4_kernels):
        assert kernels.new_state({"hash_bits": 8, "match_bits": 8, "variant": 0})["apm"].dtype == np.uint16
