"""deepcompress.api: compress/decompress, streams, stats and model resolution."""

from __future__ import annotations

import dataclasses
import io
import zlib
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepcompress
from deepcompress import api, container
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
    TruncatedStreamError,
)
from deepcompress.models import HistogramModel

MODELS = ["histogram", "histogram-adaptive"]
CODERS = ["range", "ans"]


def adversarial_inputs() -> dict[str, bytes]:
    rng = np.random.default_rng(11)
    skewed = rng.choice(256, size=50_000, p=np.r_[0.97, np.full(255, 0.03 / 255)]).astype(np.uint8).tobytes()
    return {
        "empty": b"",
        "one_byte": b"\x7f",
        "one_zero_byte": b"\x00",
        "repeated_100k": b"a" * 100_000,
        "repeated_zero_100k": bytes(100_000),
        "all_256": bytes(range(256)),
        "all_256_twice_reversed": bytes(range(256)) + bytes(range(255, -1, -1)),
        "random_100k": rng.bytes(100_000),
        "skewed": skewed,
    }


INPUTS = adversarial_inputs()


def same_stats(read: api.Stats, written: api.Stats, n_blocks: int) -> bool:
    """A reader's Stats equal the writer's but for the NLL, which streams store to 1/8 bit per block."""
    return (read == dataclasses.replace(written, nll_bits=read.nll_bits)
            and abs(read.nll_bits - written.nll_bits) <= n_blocks / 16 + 1e-9)


def compress_with_stats(data: bytes, model="histogram-adaptive", coder="range", block_size=api.DEFAULT_BLOCK_SIZE):
    sink = io.BytesIO()
    stats = api.compress_stream(io.BytesIO(data), sink, model, coder, block_size)
    return sink.getvalue(), stats


# ---------------------------------------------------------------- round trips


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), model=st.sampled_from(MODELS), coder=st.sampled_from(CODERS))
def test_property_round_trip(data, model, coder):
    blob = deepcompress.compress(data, model=model, coder=coder)
    assert deepcompress.decompress(blob) == data


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=2000), block_size=st.integers(1, 700), model=st.sampled_from(MODELS))
def test_property_multi_block_round_trip(data, block_size, model):
    blob, stats = compress_with_stats(data, model, block_size=block_size)
    sink = io.BytesIO()
    back = api.decompress_stream(io.BytesIO(blob), sink)
    assert sink.getvalue() == data
    assert same_stats(back, stats, -(-len(data) // block_size))
    assert api.read_info(io.BytesIO(blob)).n_blocks == -(-len(data) // block_size)


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", list(INPUTS))
def test_adversarial_round_trip(name, model, coder):
    data = INPUTS[name]
    blob, stats = compress_with_stats(data, model, coder)
    assert deepcompress.decompress(blob) == data
    assert stats.original_bytes == stats.n_symbols == len(data)
    assert stats.compressed_bytes == len(blob)
    assert stats.payload_bits % 32 == 0 or stats.payload_bits == 8 * len(data)  # coder words, or stored


def test_default_model_is_the_adaptive_mixer():
    blob = deepcompress.compress(b"abc")
    assert api.read_info(io.BytesIO(blob)).header.model == "adaptive"
    assert deepcompress.DEFAULT_MODEL == "adaptive"


def test_compression_actually_compresses():
    assert len(deepcompress.compress(INPUTS["repeated_100k"])) < 300
    assert len(deepcompress.compress(INPUTS["repeated_100k"], "histogram")) < 300
    skewed_blob = deepcompress.compress(INPUTS["skewed"])
    assert len(skewed_blob) < 0.07 * len(INPUTS["skewed"])  # H0 ~ 0.43 bits/byte
    # Random bytes: the adaptive histogram pays little for learning nothing.
    assert len(deepcompress.compress(INPUTS["random_100k"])) < 100_000 * 1.003 + 200


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("block_size", [1, 7, 1000, 4096])
def test_multi_block_streams(block_size, coder):
    data = (INPUTS["skewed"][:5000] + INPUTS["all_256"]) * 2
    if block_size < 100:
        data = data[:700] + INPUTS["all_256"]
    for model in MODELS:
        blob, stats = compress_with_stats(data, model, coder, block_size)
        info = api.read_info(io.BytesIO(blob))
        assert info.n_blocks == -(-len(data) // block_size)
        assert info.header.block_size == block_size
        assert deepcompress.decompress(blob) == data
        assert same_stats(info.stats, stats, info.n_blocks)


def test_adaptive_state_carries_over_blocks():
    """Adaptive counts are per stream, not per block: small blocks cost (almost) no more NLL.

    If each block restarted from empty counts, 1000-byte blocks of this data would cost far
    more (every block pays the learning cost again).
    """
    data = INPUTS["skewed"]
    _, one_block = compress_with_stats(data, "histogram-adaptive")
    _, many_blocks = compress_with_stats(data, "histogram-adaptive", block_size=1000)
    restarted = sum(
        compress_with_stats(data[start : start + 1000], "histogram-adaptive")[1].nll_bits
        for start in range(0, len(data), 1000)
    )
    assert many_blocks.nll_bits < one_block.nll_bits * 1.01
    assert restarted > one_block.nll_bits * 1.1


def test_static_blocks_store_their_own_tables():
    data = b"a" * 500 + b"b" * 500
    _, one = compress_with_stats(data, "histogram")
    _, two = compress_with_stats(data, "histogram", block_size=500)
    assert one.nll_bits == pytest.approx(1000, rel=1e-4)  # H0 = 1 bit per byte (24-bit quantised)
    assert two.nll_bits < 0.05  # each block is constant: only the 2**-24 floors of unused bytes cost


# ---------------------------------------------------------------- code lengths


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", ["one_byte", "all_256", "random_100k", "skewed", "repeated_100k"])
def test_symbol_bits_sum_to_stats_nll(name, model):
    data = INPUTS[name]
    _, stats = compress_with_stats(data, model)
    bits = deepcompress.symbol_bits(data, model)
    assert bits.shape == (len(data),)
    assert (bits >= 0).all()
    if len(data) <= api.STORED_TAIL_BYTES:  # stored without running the model: Stats count its raw size
        assert stats.nll_bits == 8 * len(data)
        return
    assert bits.sum() == pytest.approx(stats.nll_bits, rel=1e-9, abs=1e-6)
    assert deepcompress.nll_bits(data, model) == pytest.approx(stats.nll_bits, rel=1e-9, abs=1e-6)


def test_symbol_bits_with_blocks_match_multi_block_stream():
    data = INPUTS["skewed"][:10_000]
    for model in MODELS:
        _, stats = compress_with_stats(data, model, block_size=999)
        assert api.symbol_bits(data, model, block_size=999).sum() == pytest.approx(stats.nll_bits, rel=1e-9)


def test_symbol_bits_empty():
    assert deepcompress.symbol_bits(b"").shape == (0,)
    assert deepcompress.nll_bits(b"") == 0


def test_symbol_bits_of_static_histogram_are_per_symbol():
    bits = deepcompress.symbol_bits(b"aaab", "histogram")
    np.testing.assert_allclose(bits, [-np.log2(0.75)] * 3 + [2.0], rtol=1e-4)
    assert bits[0] == bits[1] == bits[2]


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", list(INPUTS))
def test_payload_close_to_nll(name, model, coder):
    data = INPUTS[name]
    _, stats = compress_with_stats(data, model, coder)
    assert stats.payload_bits - stats.nll_bits <= 1e-4 * stats.nll_bits + 128


@pytest.mark.parametrize("name", ["all_256", "random_100k", "skewed"])
def test_stats_properties(name):
    data = INPUTS[name]
    blob, stats = compress_with_stats(data)
    assert stats.header_bytes == len(blob) - stats.payload_bits // 8
    assert 0 < stats.header_bytes < 300
    assert stats.bits_per_byte == pytest.approx(8 * len(blob) / len(data))
    assert stats.nll_bits_per_byte == pytest.approx(stats.nll_bits / len(data))
    assert stats.overhead == pytest.approx((8 * len(blob) - stats.nll_bits) / stats.nll_bits)
    stored = stats.payload_bits == 8 * len(data)  # the model would spend more than 8 bits/byte
    assert stats.overhead > 0 if not stored else len(blob) <= len(data) * 1.0001 + 32


def test_stats_of_empty_stream():
    blob, stats = compress_with_stats(b"")
    assert (stats.original_bytes, stats.n_symbols, stats.nll_bits, stats.payload_bits) == (0, 0, 0, 0)
    assert stats.bits_per_byte == stats.nll_bits_per_byte == stats.overhead == 0
    assert stats.compressed_bytes == len(blob) == stats.header_bytes


# ---------------------------------------------------------------- read_info / decompress_stream


def test_read_info_fields():
    data = INPUTS["skewed"][:3000]
    blob, stats = compress_with_stats(data, "histogram", "ans", block_size=1000)
    info = api.read_info(io.BytesIO(blob))
    assert info.header.model == "histogram"
    assert info.header.config == {"alphabet_size": 256, "mode": "static"}
    assert info.header.fingerprint is None  # a built-in's config is the whole model
    assert api.StreamReader(io.BytesIO(blob)).model.fingerprint() == HistogramModel(256).fingerprint()
    assert info.header.coder == "ans"
    assert info.header.block_size == 1000
    assert info.header.kind == "bytes"
    assert info.n_blocks == 3
    assert info.lanes == (1, 1, 1)
    assert same_stats(info.stats, stats, 3)


def test_read_info_of_empty_stream():
    blob, stats = compress_with_stats(b"")
    info = api.read_info(io.BytesIO(blob))
    assert info.n_blocks == 0 and info.lanes == ()
    assert info.stats == stats


def test_decompress_stream_without_sink_only_verifies():
    data = INPUTS["all_256"]
    blob, stats = compress_with_stats(data)
    checked = api.decompress_stream(io.BytesIO(blob), None)
    assert same_stats(checked, stats, 1)


def test_compress_stream_reads_short_reads():
    """Pipes return short reads: blocks must still be block_size long."""

    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def readable(self):
            return True

        def read(self, size=-1):
            step = 3 if size is None or size < 0 else min(3, size)
            piece, self.data = self.data[:step], self.data[step:]
            return piece

    data = INPUTS["all_256"] * 4
    sink = io.BytesIO()
    api.compress_stream(Trickle(data), sink, block_size=100)
    assert api.read_info(io.BytesIO(sink.getvalue())).n_blocks == 11
    assert deepcompress.decompress(sink.getvalue()) == data


def test_compress_argument_errors():
    with pytest.raises(ValueError, match="block_size"):
        api.compress_stream(io.BytesIO(b"x"), io.BytesIO(), block_size=0)
    with pytest.raises(ValueError, match="block_size"):
        api.compress_stream(io.BytesIO(b"x"), io.BytesIO(), block_size=container.MAX_BLOCK_SYMBOLS + 1)
    with pytest.raises(ValueError, match="symbols"):
        deepcompress.compress(b"x", model=HistogramModel(16))
    with pytest.raises(ValueError, match="unknown coder"):
        deepcompress.compress(b"x", coder="huffman")


def test_load_model():
    model = HistogramModel(256)
    assert deepcompress.load_model(model) is model
    assert deepcompress.load_model("histogram").mode == "static"
    assert deepcompress.load_model("histogram-adaptive").mode == "adaptive"
    with pytest.raises(ModelFileError, match="no such model file"):
        deepcompress.load_model("no-such-model")


def test_load_model_file_refuses_a_non_model(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00")
    with pytest.raises(ModelFileError, match="not a deepcompress model file"):
        deepcompress.load_model(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        deepcompress.load_model(tmp_path / "missing.dcm")


def test_trained_histogram_model_file_round_trip(tmp_path):
    from deepcompress import modelfile

    model = HistogramModel.fit(np.frombuffer(b"model files keep the counts" * 50, np.uint8))
    modelfile.save_model(model, tmp_path / "h.dcm")
    loaded = deepcompress.load_model(tmp_path / "h.dcm")
    assert loaded.fingerprint() == model.fingerprint()
    data = b"the counts are the model"
    assert deepcompress.decompress(deepcompress.compress(data, tmp_path / "h.dcm"), tmp_path / "h.dcm") == data


# ---------------------------------------------------------------- model mismatch


def test_trained_stream_needs_its_model():
    rng = np.random.default_rng(12)
    model_a = HistogramModel.fit(rng.integers(0, 256, size=1000))
    model_b = HistogramModel.fit(rng.integers(0, 256, size=1000))
    assert model_a.fingerprint() != model_b.fingerprint()
    data = b"some data coded with model a"
    blob = deepcompress.compress(data, model=model_a)
    assert deepcompress.decompress(blob, model=model_a) == data
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(blob, model=model_b)
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(blob)
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(blob, model="histogram")


def test_builtin_stream_rejects_other_model():
    blob = deepcompress.compress(b"hello", model="histogram")
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(blob, model="histogram-adaptive")
    assert deepcompress.decompress(blob, model="histogram") == b"hello"


# ---------------------------------------------------------------- forged streams


def forge(blob: bytes, edit) -> bytes:
    """Re-encode a stream after `edit(header, records, trailer)` changed its parts (CRCs recomputed)."""
    source = container.MemberSource(io.BytesIO(blob))
    header = container.read_header(source)
    records = []
    while isinstance(record := container.read_block(source, header), container.BlockRecord):
        records.append(record)
    header, records, trailer = edit(header, records, record)
    return container.encode_member(header, records, trailer.data_crc32)


def test_forged_payload_with_valid_crc_is_corrupt_not_a_crash():
    """Damaged words whose payload CRC was recomputed must still end in a DeepCompressError.

    constriction's range decoder raises AssertionError on some invalid data.
    """
    data = b"hello, deepcompress\n" * 200 + bytes(range(256))  # compressible: no block is stored
    rng = np.random.default_rng(13)
    for model in MODELS:
        for coder in CODERS:
            blob = deepcompress.compress(data, model=model, coder=coder)
            for _ in range(60):

                def flip(header, records, trailer):
                    record = records[0]
                    assert not record.stored
                    words = record.words.copy()
                    words[rng.integers(len(words))] ^= np.uint32(1 << int(rng.integers(32)))
                    return header, [container.BlockRecord(record.n_symbols, record.lanes, record.side_info, words, record.nll_bits, record.data_crc32)], trailer

                with pytest.raises(DeepCompressError):
                    deepcompress.decompress(forge(blob, flip))


def test_forged_side_info_is_corrupt():
    blob = deepcompress.compress(b"abcabcabd", model="histogram")
    cases = [b"", b"\x01", b"\x00", b"\x01\x00\x00", b"\x01\xff\x05\x01", b"\x01\x61\x09\x00"]
    for side in cases:

        def edit(header, records, trailer, side=side):
            r = records[0]
            return header, [container.BlockRecord(r.n_symbols, r.lanes, side, r.words, r.nll_bits, r.data_crc32)], trailer

        with pytest.raises(CorruptStreamError):
            deepcompress.decompress(forge(blob, edit))


def test_forged_header_models_are_rejected():
    blob = deepcompress.compress(b"abc" * 100, "histogram-adaptive")

    def with_header(**changes):
        def edit(header, records, trailer):
            fields = {**header.__dict__, **changes}
            return container.StreamHeader(**fields), records, trailer

        return forge(blob, edit)

    with pytest.raises(CorruptStreamError, match="cannot rebuild"):
        deepcompress.decompress(with_header(model="transformer", model_id=0))
    with pytest.raises(CorruptStreamError, match="unknown model id 99"):
        deepcompress.decompress(with_header(model_id=99))
    with pytest.raises(CorruptStreamError, match="cannot rebuild"):
        deepcompress.decompress(with_header(config={"alphabet_size": 256, "mode": "psychic"}))
    with pytest.raises(CorruptStreamError):  # another model's config: its decoding fails the checks
        deepcompress.decompress(with_header(config={"alphabet_size": 256, "mode": "static"}))
    with pytest.raises(CorruptStreamError, match="unknown coder"):
        deepcompress.decompress(with_header(coder="huffman"))
    with pytest.raises(CorruptStreamError, match="cannot rebuild"):  # a config must rebuild its model
        deepcompress.decompress(with_header(config={"alphabet_size": 256, "mode": "trained"}))
    with pytest.raises(ModelMismatchError, match="needs the model file"):  # a fingerprint names a model file
        deepcompress.decompress(with_header(config={}, fingerprint="ab" * 8))
    huge = HistogramModel(2**24 - 2, adaptive=True)
    # A consistent header for a model over 2**24 - 2 symbols: must be refused before decoding
    # (decoding would build a 16M-entry table per 16 symbols).
    with pytest.raises(CorruptStreamError, match="symbols"):
        deepcompress.decompress(with_header(config=huge.config()))
    small = HistogramModel(2, adaptive=True)
    with pytest.raises(CorruptStreamError, match="symbols"):
        deepcompress.decompress(with_header(config=small.config()))


def test_forged_end_record_is_corrupt():
    """The end record holds the CRC-32 of the whole original: any other value, or damage to the end, is caught.
    A member of one coded block ends short (its block's data CRC is the member's); a full end
    holding the right CRC is also read there."""
    data = b"abc" * 100
    one_block = deepcompress.compress(data)
    assert one_block[-1:] == b"\x01"
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, block_size=120)
    blocks = sink.getvalue()
    assert blocks[-5:] == b"\x00" + zlib.crc32(data).to_bytes(4, "little")
    for blob in (one_block, blocks):
        for trailer in [container.Trailer(data_crc32=zlib.crc32(data) ^ 1), container.Trailer(data_crc32=0)]:
            with pytest.raises(CorruptStreamError, match="end record"):
                deepcompress.decompress(forge(blob, lambda h, r, t, trailer=trailer: (h, r, trailer)))
        right = container.Trailer(data_crc32=zlib.crc32(data))
        assert deepcompress.decompress(forge(blob, lambda h, r, t: (h, r, right))) == data
    with pytest.raises(CorruptStreamError, match="short end record"):
        deepcompress.decompress(forge(blocks, lambda h, r, t: (h, r, container.Trailer(of_one_block=True))))
    for blob, end_bytes in ((one_block, 1), (blocks, 5)):
        for position in range(len(blob) - end_bytes, len(blob)):
            for bit in range(8):
                damaged = bytearray(blob)
                damaged[position] ^= 1 << bit
                with pytest.raises((CorruptStreamError, TruncatedStreamError)):
                    deepcompress.decompress(bytes(damaged))


def test_forged_block_data_crc_is_corrupt():
    blob = deepcompress.compress(b"abc" * 100)

    def edit(header, records, trailer):
        r = records[0]
        return header, [container.BlockRecord(r.n_symbols, r.lanes, r.side_info, r.words, r.nll_bits, r.data_crc32 ^ 1)], trailer

    with pytest.raises(CorruptStreamError, match="checksum mismatch in the block"):
        deepcompress.decompress(forge(blob, edit))


def test_dropped_or_reordered_blocks_are_corrupt():
    """Blocks edited out or swapped (their own CRCs intact) fail the end record's data CRC."""

    def keeping_end(blob, edit):
        return forge(blob, edit)

    data = bytes(range(256)) * 4
    blob, _ = compress_with_stats(data, "histogram", block_size=256)
    with pytest.raises(CorruptStreamError, match="end record"):
        deepcompress.decompress(keeping_end(blob, lambda h, r, t: (h, r[:-1], t)))
    blob, _ = compress_with_stats(data + b"x" * 100, "histogram-adaptive", block_size=256)
    with pytest.raises(CorruptStreamError):
        deepcompress.decompress(keeping_end(blob, lambda h, r, t: (h, [r[-1]] + r[1:-1] + [r[0]], t)))
    assert deepcompress.decompress(keeping_end(blob, lambda h, r, t: (h, r, t))) == data + b"x" * 100


def test_unknown_coder_is_refused_before_anything_is_written():
    sink = io.BytesIO()
    with pytest.raises(ValueError, match="unknown coder"):
        api.compress_stream(io.BytesIO(b"data"), sink, "histogram", coder="huffman")
    assert sink.getvalue() == b""


def test_nll_bits_of_an_array_counts_elements_not_bytes():
    array = np.random.default_rng(3).integers(0, 5, size=(40, 8)).astype(np.int64)
    assert deepcompress.nll_bits(array, "histogram-adaptive") == pytest.approx(
        deepcompress.symbol_bits(array, "histogram-adaptive").sum(), rel=1e-9
    )


# ---------------------------------------------------------------- incremental pieces


def test_stream_writer_and_reader_are_the_pieces_of_the_stream_functions():
    data = adversarial_inputs()["skewed"][:5000]
    model = api.load_model("histogram-adaptive")
    sink = io.BytesIO()
    writer = api.StreamWriter(sink, model, "ans", block_size=2000)
    records = [writer.push(data[start:start + 2000]) for start in range(0, len(data), 2000)]
    stats = writer.finish()
    expected = io.BytesIO()
    assert stats == api.compress_stream(io.BytesIO(data), expected, "histogram-adaptive", "ans", 2000)
    assert sink.getvalue() == expected.getvalue()
    assert [r.n_symbols for r in records] == [2000, 2000, 1000]
    assert [r.data_crc32 for r in records] == [zlib.crc32(data[i:i + 2000]) for i in range(0, 5000, 2000)]
    reader = api.StreamReader(io.BytesIO(sink.getvalue()))
    assert reader.stats is None and reader.header.coder == "ans"
    assert list(reader.blocks()) == [data[:2000], data[2000:4000], data[4000:]]
    assert reader.stats == api.decompress_stream(io.BytesIO(sink.getvalue()), None)
    for bad in (b"", bytes(2001)):
        with pytest.raises(ValueError, match="a block holds 1 to 2000 whole 1-byte elements"):
            api.StreamWriter(io.BytesIO(), model, block_size=2000).push(bad)


class SizeRecordingHistogram(HistogramModel):
    """A histogram that records what it was sized for (the adaptive model shrinks its tables)."""

    asked: ClassVar[list] = []

    def sized_for(self, n_symbols):
        SizeRecordingHistogram.asked.append(n_symbols)
        return self


@pytest.mark.parametrize(("size", "block_size", "asked"), [(300, 1000, 300), (0, 1000, 0), (3000, 1000, None)])
def test_the_model_is_sized_for_the_input_when_its_length_is_known(size, block_size, asked):
    SizeRecordingHistogram.asked = []
    data = bytes(range(256)) * 12
    blob = io.BytesIO()
    api.compress_stream(io.BytesIO(data[:size]), blob, SizeRecordingHistogram(256, adaptive=True), block_size=block_size)
    assert SizeRecordingHistogram.asked == [asked]
    assert api.decompress(blob.getvalue()) == data[:size]


def test_a_caller_that_knows_the_size_passes_it_to_the_writer():
    SizeRecordingHistogram.asked = []
    writer = api.StreamWriter(io.BytesIO(), SizeRecordingHistogram(256, adaptive=True), n_symbols=12345)
    writer.push(bytes(100))                                  # not the last block: the size came from the caller
    assert SizeRecordingHistogram.asked == [12345]


def test_a_built_in_model_named_for_a_stream_sized_to_its_input_decodes_it():
    data = b"small inputs get small tables, " * 10
    blob = deepcompress.compress(data)  # the adaptive model sized for 310 bytes (header overrides)
    assert deepcompress.decompress(blob, "adaptive") == data
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(blob, "histogram")
