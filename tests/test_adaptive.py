"""Round trips of the `adaptive` model's engine 2 (presets 1-5) through constriction's range coder,
in lanes (engine 3, the default's, codes itself: tests/test_adaptive_binary.py)."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import constriction
import numpy as np
import pytest

from deepcompress.models import _cm_kernels as K
from deepcompress.models.adaptive import AdaptiveModel

FAMILY = constriction.stream.model.Categorical(perfect=False)
SMALL = {"hash_bits": 16, "match_bits": 16}  # small tables keep the tests fast
REPO = Path(__file__).resolve().parents[1]


def _text(n: int) -> bytes:
    rng = np.random.default_rng(7)
    words = [b"the", b"model", b"codes", b"every", b"bit", b"of", b"a", b"byte", b"lanes", b"match"]
    out = bytearray()
    while len(out) < n:
        out += words[rng.integers(len(words))] + (b". " if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def _encode(model, blocks, lanes):
    """Encode blocks of one stream: (compressed words, tables, decisions)."""
    session = model.session()
    encoder = constriction.stream.queue.RangeEncoder()
    tables, decisions = [], []
    for block, s in zip(blocks, lanes):
        for dec, chunk in session.encode_block(np.frombuffer(block, np.uint8).astype(np.int64), s):
            assert chunk.freqs.dtype == np.int64 and chunk.freqs.shape == (chunk.count, 2)
            assert (chunk.freqs >= 1).all() and (chunk.freqs.sum(1) == 4096).all()
            encoder.encode(dec.astype(np.int32), FAMILY, chunk.freqs.astype(np.float64))
            tables.append(chunk.freqs)
            decisions.append(dec)
    return encoder.get_compressed(), tables, decisions


def _decode(model, words, sizes, lanes):
    session = model.session()
    decoder = constriction.stream.queue.RangeDecoder(words)
    tables, blocks = [], []
    for n, s in zip(sizes, lanes):
        steps = session.decode_block(n, s)
        try:
            chunk = next(steps)
            while True:
                tables.append(chunk.freqs)
                chunk = steps.send(decoder.decode(FAMILY, chunk.freqs.astype(np.float64)))
        except StopIteration as stop:
            blocks.append(stop.value)
    return blocks, tables


def _roundtrip(blocks, lanes, model=None):
    model = model or AdaptiveModel(2, **SMALL)
    words, enc_tables, _ = _encode(model, blocks, lanes)
    out, dec_tables = _decode(model, words, [len(b) for b in blocks], lanes)
    for block, got in zip(blocks, out):
        assert got.dtype == np.int64
        assert bytes(got.astype(np.uint8)) == block
    cat = (lambda ts: np.concatenate(ts) if ts else np.zeros((0, 2), np.int64))
    assert np.array_equal(cat(enc_tables), cat(dec_tables))
    return words


CASES = {
    "empty": b"",
    "one": b"\x9c",
    "repeated": b"a" * 5000,
    "random": np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
    "text": _text(8000),
    "records": bytes(range(7)) * 300 + b"\xff\x00" * 500,
}


@pytest.mark.parametrize("lanes", [1, 3, 64])
@pytest.mark.parametrize("name", list(CASES))
def test_roundtrip(name, lanes):
    _roundtrip([CASES[name]], [lanes])


def test_blocks_carry_state():
    """A stream of several blocks with different lane counts; later blocks learn from earlier ones."""
    text = _text(12000)
    blocks = [text[:5000], b"", text[5000:5001], text[5001:]]
    words = _roundtrip(blocks, [4, 2, 1, 5])
    alone = _roundtrip([text[5001:]], [5])
    assert len(words) < len(alone) + 5000 // 8  # the first 5000 bytes help the last block


def test_learns():
    text = _text(20000)
    words = _roundtrip([text], [2])
    assert 32 * len(words) < 2.5 * len(text)


def test_default_config_and_lanes():
    model = AdaptiveModel()
    assert model.name == "adaptive"
    assert model.choose_lanes(0) == 1 and model.choose_lanes(1) == 1
    assert model.choose_lanes(10**9) == model.hyperparameters()["max_lanes"]
    assert AdaptiveModel(**SMALL).fingerprint() != model.fingerprint()
    _roundtrip([_text(3000)], [3])
    with pytest.raises(ValueError):
        AdaptiveModel(bogus=1)


def test_squash_table():
    for i, v in enumerate(K._SQUASH_POINTS):
        assert abs(v - 4096 / (1 + math.exp(-(i - 16) / 2))) <= 0.5 + 1e-9 or v in (1, 4095)
    assert K.STRETCH[2048] == 0 or abs(int(K.STRETCH[2048])) <= 1
    assert np.all(np.diff(K.STRETCH) >= 0)


def test_decode_rejects_wrong_count():
    steps = AdaptiveModel(2, **SMALL).session().decode_block(10, 2)
    chunk = next(steps)
    with pytest.raises(ValueError):
        steps.send(np.zeros(chunk.count + 1, dtype=np.int64))


_DIGEST_SCRIPT = """
import hashlib, sys, numpy as np
sys.path[:0] = [{repo!r}, {repo!r} + "/tests"]
from test_adaptive import _encode, _text, SMALL
from deepcompress.models.adaptive import AdaptiveModel
words, _, _ = _encode(AdaptiveModel(2, **SMALL), [_text(6000), bytes(range(256)) * 4], [3, 2])
print(hashlib.sha256(words.tobytes()).hexdigest())
"""


def test_fresh_process_determinism():
    words, _, _ = _encode(AdaptiveModel(2, **SMALL), [_text(6000), bytes(range(256)) * 4], [3, 2])
    here = hashlib.sha256(words.tobytes()).hexdigest()
    out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT.format(repo=str(REPO))],
                         capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == here


def test_registry_and_codec():
    from deepcompress import codec, models

    model = models.builtin("adaptive")
    assert models.from_header("adaptive", model.config()).fingerprint() == model.fingerprint()
    with pytest.raises(ValueError):
        models.builtin("adaptive", 300)
    with pytest.raises(ValueError):
        models.from_header("adaptive", {"bogus": 1})
    small = AdaptiveModel(**SMALL)
    data = np.frombuffer(_text(5000), np.uint8).astype(np.int64)
    block = codec.encode_block(small, small.session(), data)
    assert np.array_equal(codec.decode_block(small, small.session(), block), data)
    bits = codec.block_symbol_bits(small, small.session(), data)
    assert abs(bits.sum() - block.nll_bits) < 1e-6 * block.nll_bits


def test_check_inverse_across_blocks_and_lanes():
    from deepcompress import codec

    data = np.frombuffer(_text(9000), np.uint8).astype(np.int64)
    lanes = AdaptiveModel(preset=1, **{**SMALL, "lane_bytes": 1500})  # the table path, in lanes
    assert [r.lanes for r in codec.check_inverse(lanes, data, blocks=3)] == [2, 2, 2]
    self_coded = AdaptiveModel(**SMALL)  # the default preset codes itself, in one lane
    assert self_coded.self_coder == "binary"
    assert [r.lanes for r in codec.check_inverse(self_coded, data, blocks=3)] == [1, 1, 1]
