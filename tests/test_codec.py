"""The model/coder seam: symmetric encode/decode, exactness enforced, both kinds of model, the registry."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any, ClassVar

import numpy as np
import pytest

from deepcompress import api, codec, container, models
from deepcompress.models.base import Chunk, InexactTableError, Model, Session, draw_from_tables, table_code_bits
from deepcompress.models.histogram import HistogramModel

TEXT = b"the seam between a model and its coder, " * 40
SYMBOLS = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)


class _FloatSession(Session):
    def __init__(self, dtype: type) -> None:
        self.dtype = dtype

    def encode_block(self, symbols, lanes):
        yield symbols, Chunk.shared(np.ones(256, dtype=self.dtype), len(symbols))

    def decode_block(self, n_symbols, lanes):
        return (yield Chunk.shared(np.ones(256, dtype=self.dtype), n_symbols))


class FloatTableModel(Model):
    """Uniform over bytes, but with float tables: exact here, not necessarily on another machine."""

    name: ClassVar[str] = "float-uniform"
    alphabet_size = 256

    def __init__(self, dtype: type = np.float64) -> None:
        self.dtype = dtype

    def config(self) -> dict[str, Any]:
        return {}

    def session(self) -> Session:
        return _FloatSession(self.dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, bool])
def test_float_tables_are_refused_at_the_seam(dtype):
    model = FloatTableModel(dtype)
    message = rf"model 'float-uniform' yields frequency tables of dtype {np.dtype(dtype)}: tables must be integer"
    with pytest.raises(InexactTableError, match=message):
        codec.encode_block(model, model.session(), SYMBOLS)
    with pytest.raises(InexactTableError, match=message):
        codec.block_nll_bits(model, model.session(), SYMBOLS)
    with pytest.raises(InexactTableError, match=message):
        codec.block_symbol_bits(model, model.session(), SYMBOLS)
    with pytest.raises(InexactTableError, match=message):
        api.compress(TEXT, model)
    with pytest.raises(InexactTableError, match=message):
        model.sample(10)
    # The decoder refuses too (a stream made by an integer twin of the model).
    twin = HistogramModel(256, counts=np.ones(256, dtype=np.int64))
    record = codec.encode_block(twin, twin.session(), SYMBOLS)
    with pytest.raises(InexactTableError, match=message):
        codec.decode_block(model, model.session(), record)


def test_integer_twin_of_the_float_model_codes_the_same_bits():
    """The refusal is about dtype alone: the same numbers as integers pass."""
    twin = HistogramModel(256, counts=np.ones(256, dtype=np.int64))
    records = codec.check_inverse(twin, SYMBOLS)
    assert sum(r.nll_bits for r in records) == pytest.approx(8 * len(SYMBOLS))


# ---------------------------------------------------------------- a self-coding model


class _ToyBinarySession(Session):
    """Codes each symbol as its raw value in one uint32 word: a stand-in for a compiled coder.

    Its tables (uniform) are what it 'codes' with: log2(K) bits a symbol.
    """

    def __init__(self, alphabet_size: int) -> None:
        self.alphabet_size = alphabet_size
        self.coded = 0  # state: symbols coded so far; each word is offset by it

    def _uniform(self, count: int) -> Chunk:
        return Chunk.shared(np.ones(self.alphabet_size, dtype=np.int64), count)

    def encode_block(self, symbols, lanes):
        yield symbols, self._uniform(len(symbols))
        self.coded += len(symbols)

    def decode_block(self, n_symbols, lanes):
        symbols = yield self._uniform(n_symbols)
        self.coded += n_symbols
        return symbols

    def encode_words(self, symbols, lanes):
        words = ((symbols + self.coded) % self.alphabet_size).astype(np.uint32)
        self.coded += len(symbols)
        return words, len(symbols) * float(np.log2(self.alphabet_size))

    def decode_words(self, words, n_symbols, lanes):
        symbols = (words.astype(np.int64) - self.coded) % self.alphabet_size
        self.coded += n_symbols
        return symbols


class ToyBinaryModel(Model):
    name: ClassVar[str] = "toy-binary"
    alphabet_size = 256
    self_coder = "binary"

    def config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ToyBinaryModel:
        return cls()

    def session(self) -> Session:
        return _ToyBinarySession(self.alphabet_size)


def test_self_coding_model_goes_through_its_own_coder():
    model = ToyBinaryModel()
    records = codec.check_inverse(model, SYMBOLS, blocks=3)
    assert len(records) == 3
    # The words are the session's own (raw values offset by the state), not a table coder's.
    first = records[0]
    assert np.array_equal(first.words, SYMBOLS[: first.n_symbols].astype(np.uint32))
    assert codec.stream_coder(model, "ans") == "binary"
    with pytest.raises(ValueError, match="codes with its own 'binary' coder, not 'range'"):
        codec.decode_block(model, model.session(), first, "range")
    # Its NLL is measured through the table path, with the same numbers.
    assert codec.block_nll_bits(model, model.session(), SYMBOLS) == pytest.approx(8 * len(SYMBOLS), rel=1e-6)


def test_self_coding_stream_records_its_coder_and_the_decoder_checks_it():
    models.register("toy-binary", ToyBinaryModel)
    try:
        blob = api.compress(TEXT, ToyBinaryModel())
        header = container.read_header(io.BytesIO(blob))
        assert header.coder == "binary"
        assert api.decompress(blob) == TEXT
        forged = container.encode_header(container.StreamHeader(
            header.model, header.config, header.fingerprint, "range", header.block_size))
        with pytest.raises(api.CorruptStreamError, match="own 'binary' coder, not 'range'"):
            api.decompress(forged + blob[len(container.encode_header(header)):])
    finally:
        models.unregister("toy-binary")


def test_table_models_refuse_unknown_coders():
    model = HistogramModel(256)
    with pytest.raises(ValueError, match="unknown coder 'binary'"):
        codec.encode_block(model, model.session(), SYMBOLS, "binary")
    with pytest.raises(ValueError, match="unknown coder 'zip'"):
        codec.stream_coder(model, "zip")


def test_encode_and_decode_take_the_same_arguments():
    model = models.builtin("histogram-adaptive")
    for coder in ("range", "ans"):
        encoder, decoder = model.session(), model.session()
        record = codec.encode_block(model, encoder, SYMBOLS, coder)
        assert isinstance(record, container.BlockRecord) and record.data_crc32 == 0
        assert np.array_equal(codec.decode_block(model, decoder, record, coder), SYMBOLS)


def test_check_inverse_catches_a_decoder_that_drifts():
    class Drifting(HistogramModel):
        """Decodes the right symbols but forgets to learn from them."""

        def session(self):
            session = super().session()
            decode = session.decode_block

            def forgetful(n_symbols, lanes):
                counts = session.counts.copy()
                symbols = yield from decode(n_symbols, lanes)
                session.counts = counts
                return symbols

            session.decode_block = forgetful
            return session

    with pytest.raises(AssertionError, match="different states"):
        codec.check_inverse(Drifting(256, adaptive=True), SYMBOLS, blocks=1)


def test_bad_lane_choices_are_refused():
    model = HistogramModel(256)
    model.choose_lanes = lambda n_symbols: 0
    with pytest.raises(ValueError, match="chose 0 lanes"):
        codec.encode_block(model, model.session(), SYMBOLS)


# ---------------------------------------------------------------- shared pieces


def test_draw_from_tables_is_inverse_cdf_for_rows_and_shared_tables():
    freqs = np.array([[3, 1, 2], [0, 5, 0]])
    draws = draw_from_tables(Chunk.rows(freqs), np.random.default_rng(4))
    uniform = np.random.default_rng(4).integers(0, freqs.sum(axis=1))
    assert draws.tolist() == [int(np.searchsorted(np.cumsum(freqs[0]), uniform[0], side="right")), 1]
    shared = draw_from_tables(Chunk.shared(np.array([3, 1, 2]), 6), np.random.default_rng(0))
    assert shared.dtype == np.int64 and shared.shape == (6,) and set(shared.tolist()) <= {0, 1, 2}


def test_table_code_bits_is_minus_log2_of_the_row_probability():
    freqs = np.array([[1, 3], [2, 2], [7, 1]])
    np.testing.assert_allclose(table_code_bits(freqs, np.array([1, 0, 1])), [np.log2(4 / 3), 1.0, 3.0])


# ---------------------------------------------------------------- registry


def test_registry_is_lazy_and_names_are_unique():
    code = ("import sys, deepcompress, deepcompress.models as m; m.builtin('histogram'); "
            "print(sorted(k for k in ('torch', 'numba', 'deepcompress.models.adaptive') if k in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    with pytest.raises(ValueError, match="already registered"):
        models.register("histogram", HistogramModel)
    assert set(models.BUILTIN_MODELS) == {"adaptive", "histogram", "histogram-adaptive"}
    assert {"mlp", "record-mlp"} <= set(models.registered()) and "mlp" not in models.BUILTIN_MODELS
    with pytest.raises(ValueError, match="unknown model 'histogram-adaptive'"):
        models.from_header("histogram-adaptive", {"alphabet_size": 256, "mode": "adaptive"})
    with pytest.raises(ValueError, match="needs a model file"):
        models.model_class("mlp").for_alphabet(256)


def test_registered_loader_must_give_a_model_class():
    models.register("not-a-model", lambda: dict)
    try:
        with pytest.raises(TypeError, match="not a Model subclass"):
            models.model_class("not-a-model")
    finally:
        models.unregister("not-a-model")
