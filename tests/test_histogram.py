"""deepcompress.models.histogram: static, adaptive and trained order-0 models."""

from __future__ import annotations

import io

import numpy as np
import pytest

import deepcompress
from deepcompress import coding, models
from deepcompress.models import HistogramModel
from deepcompress.models.histogram import (
    ADAPT_FRACTION,
    MAX_CHUNK,
    MIN_CHUNK,
    PRIOR_SCALE,
    adaptive_chunks,
    pack_counts,
    unpack_counts,
)

TEXT = b"It was the best of times, it was the worst of times, it was the age of wisdom.\n" * 40


def entropy_bits(data: bytes) -> float:
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / counts.sum())).sum())


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("coder", coding.CODERS)
@pytest.mark.parametrize("model", ["histogram", "histogram-adaptive"])
def test_builtin_round_trip(model, coder):
    for data in (TEXT, bytes(range(256)) * 3, b"\x00", b""):
        blob = deepcompress.compress(data, model=model, coder=coder)
        assert deepcompress.decompress(blob) == data


@pytest.mark.parametrize("coder", coding.CODERS)
def test_trained_round_trip(coder):
    training = np.frombuffer(TEXT, dtype=np.uint8)
    model = HistogramModel.fit(training)
    assert model.mode == "trained"
    data = b"the worst of wisdom, the age of times; unseen bytes \xff\x00\x80"
    blob = deepcompress.compress(data, model=model, coder=coder)
    assert deepcompress.decompress(blob, model=model) == data
    # A model rebuilt from the same counts has the same fingerprint and decodes too.
    assert deepcompress.decompress(blob, model=HistogramModel(256, counts=model.counts.copy())) == data


def test_static_costs_entropy_of_each_block():
    """Static coding spends exactly n*H0 (up to 24-bit quantisation) plus the stored table."""
    stats = deepcompress.api.compress_stream(io.BytesIO(TEXT), io.BytesIO(), "histogram")
    h0 = entropy_bits(TEXT)
    assert h0 <= stats.nll_bits <= h0 * 1.0001 + 1
    # The table is stored as side info: pack_counts of the block's counts.
    table = pack_counts(np.bincount(np.frombuffer(TEXT, dtype=np.uint8), minlength=256))
    blob = deepcompress.compress(TEXT, model="histogram")
    assert table in blob


def test_adaptive_nll_matches_sequential_kt_like_estimate():
    """Adaptive NLL equals the sum over chunks of -log2((16*count+1)/(16*seen+K)) at frozen counts."""
    data = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)
    counts = np.zeros(256, dtype=np.int64)
    expected = 0.0
    for start, stop in adaptive_chunks(len(data)):
        freqs = PRIOR_SCALE * counts + 1
        expected += coding.nll_bits(data[start:stop], freqs)
        counts += np.bincount(data[start:stop], minlength=256)
    assert deepcompress.nll_bits(TEXT, "histogram-adaptive") == pytest.approx(expected, rel=1e-12)
    # ...and it is not the static cost: adaptive pays for learning.
    assert expected > entropy_bits(TEXT)


def test_trained_model_nll_is_cross_entropy():
    model = HistogramModel.fit(np.frombuffer(TEXT, dtype=np.uint8))
    data = b"wisdom of the age"
    quantised = coding.coder_frequencies(model.counts)
    expected = sum(24 - np.log2(quantised[byte]) for byte in data)
    assert deepcompress.nll_bits(data, model) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- model identity


def test_modes_configs_and_fingerprints():
    static, adaptive = HistogramModel(256), HistogramModel(256, adaptive=True)
    trained = HistogramModel.fit(np.arange(256))
    assert (static.mode, adaptive.mode, trained.mode) == ("static", "adaptive", "trained")
    assert static.config() == {"alphabet_size": 256, "mode": "static"}
    assert adaptive.config() == {"alphabet_size": 256, "mode": "adaptive"}
    fingerprints = {m.fingerprint() for m in (static, adaptive, trained, HistogramModel(16))}
    assert len(fingerprints) == 4
    assert all(len(f) == 32 and int(f, 16) >= 0 for f in fingerprints)
    assert static.fingerprint() == models.builtin("histogram").fingerprint()
    other = HistogramModel(256, counts=trained.counts + np.eye(256, dtype=np.int64)[0])
    assert other.fingerprint() != trained.fingerprint()
    assert static.parameter_bytes() == b""
    assert trained.parameter_bytes() == trained.counts.astype("<i8").tobytes()


def test_from_header_rebuilds_builtins():
    for name in models.BUILTIN_MODELS:
        model = models.builtin(name)
        rebuilt = models.from_header(model.name, model.config())
        assert rebuilt.fingerprint() == model.fingerprint()
    assert models.from_header("histogram", {"alphabet_size": 256, "mode": "trained"}) is None
    for name, config in [
        ("histogram", {"alphabet_size": 256, "mode": "bogus"}),
        ("histogram", {"alphabet_size": 0, "mode": "static"}),
        ("histogram", {"alphabet_size": 2**24 + 1, "mode": "static"}),
        ("histogram", {"alphabet_size": "256", "mode": "static"}),
        ("histogram", {"mode": "static"}),
        ("transformer", {}),
    ]:
        with pytest.raises(ValueError):
            models.from_header(name, config)
    with pytest.raises(ValueError, match="unknown model"):
        models.builtin("gzip")


def test_constructor_validation():
    with pytest.raises(ValueError):
        HistogramModel(0)
    with pytest.raises(ValueError):
        HistogramModel(4, counts=np.array([1, 2, 3]))  # wrong length
    with pytest.raises(ValueError):
        HistogramModel(3, counts=np.array([1, 0, 3]))  # a zero count
    with pytest.raises(ValueError):
        HistogramModel(3, adaptive=True, counts=np.array([1, 1, 3]))
    with pytest.raises(ValueError):
        HistogramModel(256).probs()
    with pytest.raises(ValueError):
        HistogramModel(256, adaptive=True).sample(3)


# ---------------------------------------------------------------- fit


def test_fit_gives_ml_counts_plus_one():
    symbols = np.array([0, 0, 0, 2, 2, 4])
    model = HistogramModel.fit(symbols, alphabet_size=6)
    assert model.counts.tolist() == [4, 1, 3, 1, 2, 1]
    assert model.counts.dtype == np.int64
    np.testing.assert_allclose(model.probs(), np.array([4, 1, 3, 1, 2, 1]) / 12)
    empty = HistogramModel.fit(np.zeros(0, dtype=np.int64), alphabet_size=3)
    assert empty.counts.tolist() == [1, 1, 1]
    data = np.frombuffer(TEXT, dtype=np.uint8)
    np.testing.assert_array_equal(HistogramModel.fit(data).counts, np.bincount(data, minlength=256) + 1)


# ---------------------------------------------------------------- sample


def test_sample_has_the_model_distribution():
    counts = np.array([1, 50, 200, 5, 744])
    model = HistogramModel(5, counts=counts)
    n = 200_000
    sample = model.sample(n, seed=123)
    assert sample.dtype == np.int64 and sample.shape == (n,)
    assert sample.min() >= 0 and sample.max() < 5
    observed = np.bincount(sample, minlength=5)
    expected = n * counts / counts.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 20.5  # 4 degrees of freedom: P(chi2 > 20.5) ~ 0.0004
    assert observed[0] > 0  # the rarest symbol (p = 0.001) does occur


def test_sample_reaches_every_symbol_exactly_by_inverse_cdf():
    """Inverse CDF over integer counts: u in [0, total) maps to symbol i for counts[i] values of u."""
    counts = np.array([3, 1, 2])
    model = HistogramModel(3, counts=counts)
    uniform = np.random.default_rng(9).integers(0, 6, size=20)
    expected = np.searchsorted(np.cumsum(counts), uniform, side="right")
    np.testing.assert_array_equal(model.sample(20, seed=9), expected)
    # Symbol with count 1 between others: u = 3 -> symbol 1, u in {0,1,2} -> 0, {4,5} -> 2.
    assert [int(np.searchsorted(np.cumsum(counts), u, side="right")) for u in range(6)] == [0, 0, 0, 1, 2, 2]


def test_sample_is_deterministic_per_seed():
    model = HistogramModel.fit(np.frombuffer(TEXT, dtype=np.uint8))
    np.testing.assert_array_equal(model.sample(1000, seed=5), model.sample(1000, seed=5))
    assert not np.array_equal(model.sample(1000, seed=5), model.sample(1000, seed=6))
    assert model.sample(0).shape == (0,)


# ---------------------------------------------------------------- pack_counts / unpack_counts


@pytest.mark.parametrize(
    "counts",
    [
        np.zeros(256, dtype=np.int64),
        np.eye(256, dtype=np.int64)[0],
        np.eye(256, dtype=np.int64)[255] * 7,
        np.arange(256, dtype=np.int64) ** 3,
        np.array([2**62 - 1, 0, 1], dtype=np.int64),
        np.array([5], dtype=np.int64),
    ],
)
def test_pack_unpack_round_trip(counts):
    packed = pack_counts(counts)
    np.testing.assert_array_equal(unpack_counts(packed, len(counts)), counts)


def test_pack_counts_is_sparse():
    counts = np.zeros(256, dtype=np.int64)
    counts[[10, 200]] = [3, 1000]
    # 2 entries; gap 10, count 3; gap 189, count 1000 (two-byte varints for 189 and 1000)
    assert pack_counts(counts) == bytes([2, 10, 3, 0xBD, 0x01, 0xE8, 0x07])
    assert pack_counts(np.zeros(256, dtype=np.int64)) == b"\x00"


def test_pack_unpack_random():
    rng = np.random.default_rng(10)
    for _ in range(50):
        k = int(rng.integers(1, 600))
        counts = rng.integers(0, 10**int(rng.integers(1, 15)), size=k) * (rng.random(k) < 0.5)
        np.testing.assert_array_equal(unpack_counts(pack_counts(counts), k), counts)


@pytest.mark.parametrize(
    "data, alphabet_size",
    [
        (b"", 256),  # no length
        (b"\x01", 256),  # one entry announced, none present
        (b"\x01\x00", 256),  # entry without a count
        (b"\x01\x00\x80", 256),  # truncated varint
        (b"\x01\x00\x00", 256),  # zero count
        (b"\x01\xff\x01\x05", 256),  # gap 255 -> index 255: fine for 256 ...
        (b"\x02\x00\x05\xff\x01\x05", 256),  # ... but index 256 is out of range
        (b"\x03\x00\x01\x00\x01\x00\x01", 2),  # more entries than the alphabet
        (b"\x01\x00\x05\x00", 256),  # trailing byte
        (b"\x01\x00" + b"\xff" * 9 + b"\x7f", 256),  # count >= 2**62
        (b"\x01\x00" + b"\x80" * 10 + b"\x01", 256),  # overlong varint
        (b"\x81\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 256),  # huge entry count
    ],
)
def test_unpack_counts_rejects_malformed(data, alphabet_size):
    if data == b"\x01\xff\x01\x05":
        assert unpack_counts(data, alphabet_size)[255] == 5
        return
    with pytest.raises(ValueError):
        unpack_counts(data, alphabet_size)


# ---------------------------------------------------------------- adaptive chunks


@pytest.mark.parametrize("already_seen", [0, 1, 15, 16 * ADAPT_FRACTION, 5_000_000])
def test_adaptive_chunks_tile_exactly(already_seen):
    for n in [0, 1, 15, 16, 17, 1000, 16_385, 100_000, 1_234_567]:
        ranges = adaptive_chunks(n, already_seen)
        if n == 0:
            assert ranges == []
            continue
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(stop > start for start, stop in ranges)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        sizes = [stop - start for start, stop in ranges]
        assert max(sizes) <= MAX_CHUNK
        for (start, stop), size in zip(ranges[:-1], sizes[:-1]):  # every chunk but the last is full size
            assert size == min(max(MIN_CHUNK, (already_seen + start) // ADAPT_FRACTION), MAX_CHUNK)


def test_adaptive_chunks_grow_with_data_seen():
    assert adaptive_chunks(48) == [(0, 16), (16, 32), (32, 48)]
    assert adaptive_chunks(40, already_seen=10**9) == [(0, 40)]
    sizes = [stop - start for start, stop in adaptive_chunks(2_000_000)]
    assert sizes[0] == MIN_CHUNK and sizes[-2] == MAX_CHUNK
    assert sizes[:-1] == sorted(sizes[:-1])


def test_adaptive_state_carries_across_blocks():
    """A session codes blocks in order; decoding must see the same counts as encoding."""
    from deepcompress import codec

    model = HistogramModel(256, adaptive=True)
    data = np.frombuffer(TEXT, dtype=np.uint8).astype(np.int64)
    blocks = [data[:100], data[100:1000], data[1000:]]
    encoder_session = model.session()
    encoded = [codec.encode_block(model, encoder_session, block) for block in blocks]
    decoder_session = model.session()
    for block, coded in zip(blocks, encoded):
        np.testing.assert_array_equal(codec.decode_block(model, decoder_session, coded), block)
    # The later blocks benefit from what the earlier ones taught the model.
    fresh = codec.encode_block(model, model.session(), blocks[2])
    assert encoded[2].nll_bits < fresh.nll_bits


def test_static_side_info_round_trips_through_session():
    model = HistogramModel(256)
    session = model.session()
    symbols = np.frombuffer(b"abracadabra", dtype=np.uint8).astype(np.int64)
    side = session.block_side_info(symbols)
    assert unpack_counts(side, 256).tolist() == np.bincount(symbols, minlength=256).tolist()
    with pytest.raises(ValueError):
        model.session().load_side_info(side + b"\x00")
    with pytest.raises(ValueError):
        HistogramModel(256, adaptive=True).session().load_side_info(b"\x01")
