"""deepcompress.coding: exact entropy coding over constriction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepcompress import coding
from deepcompress.coding import (
    CODERS,
    PRECISION,
    Decoder,
    Encoder,
    bytes_to_words,
    coder_frequencies,
    decode,
    encode,
    nll_bits,
    symbol_bits,
    words_to_bytes,
)

TOTAL = 1 << PRECISION


def random_rows(rng: np.random.Generator, n: int, k: int, kind: str) -> np.ndarray:
    """A (n, K) table with some zero entries and every row summing to > 0."""
    if kind == "int":
        table = rng.integers(0, 1000, size=(n, k)) * (rng.random((n, k)) < 0.8)
        table[:, rng.integers(k)] += 1
    else:
        table = rng.random((n, k)) ** 4 * (rng.random((n, k)) < 0.8)
        table[:, rng.integers(k)] += 1e-3
    return table


def brute_force_frequencies(row: list[float]) -> list[int]:
    """constriction 0.5.0's `fast_quantized_cdf`, transcribed literally (Python floats are f64)."""
    k = len(row)
    if k == 1:
        return [TOTAL]
    normalization = 0.0
    for value in row:
        normalization += value
    scale = float(TOTAL - k) / normalization
    lefts, cumulative = [], 0.0
    for slack, value in enumerate(row):
        lefts.append(int(cumulative * scale) + slack)
        cumulative += value
    lefts.append(TOTAL)
    return [right - left for left, right in zip(lefts, lefts[1:])]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("kind", ["int", "float"])
def test_round_trip_per_row_tables(coder, kind):
    rng = np.random.default_rng(1)
    for n, k in [(1, 2), (50, 3), (500, 17), (300, 256)]:
        table = random_rows(rng, n, k, kind)
        symbols = np.array([rng.choice(np.flatnonzero(row)) for row in table])
        words = encode(symbols, table, coder)
        assert words.dtype == np.uint32
        decoded = decode(words, table, coder=coder)
        assert decoded.dtype == np.int64
        np.testing.assert_array_equal(decoded, symbols)


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("kind", ["int", "float"])
def test_round_trip_shared_table(coder, kind):
    rng = np.random.default_rng(2)
    for n, k in [(1, 2), (1000, 5), (5000, 256)]:
        table = random_rows(rng, 1, k, kind)[0]
        symbols = rng.choice(np.flatnonzero(table), size=n, p=table[table > 0] / table.sum())
        words = encode(symbols, table, coder)
        np.testing.assert_array_equal(decode(words, table, n, coder), symbols)


@pytest.mark.parametrize("coder", CODERS)
def test_zero_frequency_symbol_is_still_encodable(coder):
    table = np.array([0, 5, 5])
    symbols = np.array([0, 0, 1, 2, 0])
    np.testing.assert_array_equal(decode(encode(symbols, table, coder), table, 5, coder), symbols)
    assert symbol_bits(symbols, table)[0] == pytest.approx(PRECISION)  # floored at 2**-24


@pytest.mark.parametrize("coder", CODERS)
def test_empty_input(coder):
    words = encode(np.zeros(0, dtype=np.int64), np.array([1, 2, 3]), coder)
    assert len(words) == 0
    assert decode(words, np.array([1, 2, 3]), 0, coder).shape == (0,)
    assert decode(words, np.zeros((0, 3)), coder=coder).shape == (0,)


@pytest.mark.parametrize("coder", CODERS)
def test_streaming_in_chunks_equals_one_shot(coder):
    """Several encode() calls (mixed shared and per-row chunks) decode in the same chunks."""
    rng = np.random.default_rng(3)
    pieces = []
    for index in range(7):
        k = int(rng.integers(2, 40))
        n = int(rng.integers(0, 200))
        if index % 2:
            table = random_rows(rng, 1, k, "int")[0]
            symbols = rng.choice(np.flatnonzero(table), size=n)
        else:
            table = random_rows(rng, n, k, "float")
            symbols = np.array([rng.choice(np.flatnonzero(row)) for row in table], dtype=np.int64)
        pieces.append((symbols, table))

    encoder = Encoder(coder)
    for symbols, table in pieces:
        encoder.encode(symbols, table)
    expected_nll = sum(nll_bits(symbols, table) for symbols, table in pieces)
    assert encoder.nll_bits == pytest.approx(expected_nll, rel=1e-12)
    words = encoder.finish()

    decoder = Decoder(words, coder)
    for symbols, table in pieces:
        decoded = decoder.decode(table, len(symbols)) if table.ndim == 1 else decoder.decode(table)
        np.testing.assert_array_equal(decoded, symbols)

    # Chunk boundaries do not change the bitstream: one (n, K) table coded in uneven chunks
    # gives the same words as coded at once, for both coders.
    all_rows = random_rows(rng, 500, 11, "float")
    all_symbols = np.array([rng.choice(np.flatnonzero(row)) for row in all_rows])
    one_shot = encode(all_symbols, all_rows, coder)
    chunked = Encoder(coder)
    bounds = [0, 1, 37, 38, 200, 499, 500]
    for start, stop in zip(bounds, bounds[1:]):
        chunked.encode(all_symbols[start:stop], all_rows[start:stop])
    np.testing.assert_array_equal(chunked.finish(), one_shot)
    decoder = Decoder(one_shot, coder)
    decoded = [decoder.decode(all_rows[start:stop]) for start, stop in zip(bounds, bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(decoded), all_symbols)


@pytest.mark.parametrize("coder", CODERS)
def test_shared_table_equals_repeated_rows(coder):
    table = np.array([5, 1, 0, 9, 3])
    symbols = np.array([0, 3, 3, 1, 4, 0, 2, 3])
    rows = np.tile(table, (len(symbols), 1))
    np.testing.assert_array_equal(encode(symbols, table, coder), encode(symbols, rows, coder))


def test_unknown_coder():
    with pytest.raises(ValueError, match="unknown coder"):
        Encoder("huffman")
    with pytest.raises(ValueError, match="unknown coder"):
        Decoder(np.zeros(0, dtype=np.uint32), "huffman")


# ---------------------------------------------------------------- golden vectors

GOLDEN_TABLE = np.array([1, 3, 7, 21, 1000], dtype=np.int64)
GOLDEN_SYMBOLS = np.array([0, 1, 2, 3, 4, 4, 4, 3, 2, 1, 0, 4, 4, 4, 4, 2] * 4)
GOLDEN_ROWS = np.array(
    [
        [0.1, 0.2, 0.7],
        [0.5, 0.25, 0.25],
        [1e-6, 1.0, 1.0],
        [3.0, 0.0, 1.0],
        [0.3, 0.3, 0.4],
        [2.5, 1e-3, 7.25],
        [1.0, 1.0, 1.0],
        [0.01, 0.98, 0.01],
    ]
)
GOLDEN_ROW_SYMBOLS = np.array([2, 0, 0, 1, 2, 1, 1, 0])
GOLDEN_WORDS = {
    ("shared", "range"): [4080, 2926307383, 3504718711, 1311186936, 2679361172, 2698905519, 995824495, 295890826, 2420908349],
    ("shared", "ans"): [2349260810, 3804039970, 3487375227, 67120153, 1040333153, 201327343, 3724605540, 956344837, 4160759682, 55],
    ("rows", "range"): [1288490844, 3425639667, 2464180973],
    ("rows", "ans"): [700448766, 1403692317, 660208],
}
GOLDEN_ROW_FREQUENCIES = [
    [1677722, 3355443, 11744051],
    [8388607, 4194304, 4194305],
    [9, 8388603, 8388604],
    [12582910, 1, 4194305],
    [5033164, 5033165, 6710887],
    [4301409, 1721, 12474086],
    [5592405, 5592405, 5592406],
    [167773, 16441669, 167774],
]


@pytest.mark.parametrize("coder", CODERS)
def test_golden_words_shared_table(coder):
    """Pins the bitstream: a constriction upgrade that changes it must fail here."""
    words = encode(GOLDEN_SYMBOLS, GOLDEN_TABLE, coder)
    assert words.tolist() == GOLDEN_WORDS["shared", coder]
    np.testing.assert_array_equal(decode(np.array(GOLDEN_WORDS["shared", coder], dtype=np.uint32), GOLDEN_TABLE, len(GOLDEN_SYMBOLS), coder), GOLDEN_SYMBOLS)


@pytest.mark.parametrize("coder", CODERS)
def test_golden_words_float_rows(coder):
    words = encode(GOLDEN_ROW_SYMBOLS, GOLDEN_ROWS, coder)
    assert words.tolist() == GOLDEN_WORDS["rows", coder]
    np.testing.assert_array_equal(decode(np.array(GOLDEN_WORDS["rows", coder], dtype=np.uint32), GOLDEN_ROWS, coder=coder), GOLDEN_ROW_SYMBOLS)


def test_golden_frequencies():
    assert coder_frequencies(GOLDEN_ROWS).tolist() == GOLDEN_ROW_FREQUENCIES
    assert coder_frequencies(GOLDEN_TABLE).tolist() == [16257, 48772, 113800, 341398, 16256989]


# ---------------------------------------------------------------- coder_frequencies


@pytest.mark.parametrize("kind", ["int", "float"])
def test_coder_frequencies_rows_sum_to_total_and_are_positive(kind):
    rng = np.random.default_rng(4)
    for k in (2, 3, 10, 256, 5000):
        table = random_rows(rng, 20, k, kind)
        quantised = coder_frequencies(table)
        assert quantised.shape == table.shape
        assert quantised.dtype == np.int64
        assert (quantised.sum(axis=1) == TOTAL).all()
        assert quantised.min() >= 1
        np.testing.assert_array_equal(coder_frequencies(table[3]), quantised[3])


def test_coder_frequencies_match_constriction_rule():
    rng = np.random.default_rng(5)
    tables = [random_rows(rng, 10, k, kind) for k in (2, 3, 7, 100) for kind in ("int", "float")]
    tables.append(np.array([[1.0, 1e-12], [1e-12, 1.0], [1e15, 1.0], [0.1, 0.2]]))
    for table in tables:
        expected = [brute_force_frequencies(row.tolist()) for row in table.astype(np.float64)]
        assert coder_frequencies(table).tolist() == expected


def test_coder_frequencies_single_symbol():
    assert coder_frequencies(np.array([7])).tolist() == [TOTAL]
    assert coder_frequencies(np.array([[1], [3]])).tolist() == [[TOTAL], [TOTAL]]


def test_coder_frequencies_predict_payload_on_skewed_table():
    """Naive -log2(f/sum) of the rare symbol is ~39.9 bits; the coder really spends 23."""
    table = np.array([1.0, 1e-12])
    symbols = np.ones(1000, dtype=np.int64)
    assert coder_frequencies(table).tolist() == [TOTAL - 2, 2]
    naive = -len(symbols) * math.log2(1e-12 / (1 + 1e-12))
    predicted = nll_bits(symbols, table)
    assert predicted == pytest.approx(23 * len(symbols))
    assert naive - predicted > 10_000
    for coder in CODERS:
        payload = 32 * len(encode(symbols, table, coder))
        assert -32 <= payload - predicted <= 64, coder


@pytest.mark.parametrize("coder", CODERS)
def test_nll_bits_predict_payload_on_random_tables(coder):
    """Over many skewed tables coded with mostly-rare symbols, the payload is NLL + O(64) bits.

    Symbols are >= 1: constriction's ANS starts from state 0, so a trailing run of symbol 0
    (left cumulative 0) is free, and ANS payload can then be far below the NLL.
    """
    rng = np.random.default_rng(6)
    for _ in range(40):
        k = int(rng.integers(2, 40))
        n = int(rng.integers(50, 2000))
        table = rng.random((n, k)) ** 8 * (rng.random((n, k)) < 0.7)
        table[:, 0] += 1e-9
        symbols = rng.integers(1, k, size=n)
        payload = 32 * len(encode(symbols, table, coder))
        predicted = nll_bits(symbols, table)
        assert -32 <= payload - predicted <= 64


def test_ans_trailing_zero_symbols_are_free():
    """Documents a constriction quirk the NLL accounting does not model (see module tests above)."""
    table = np.array([1e-12, 1.0])
    symbols = np.zeros(1000, dtype=np.int64)
    assert nll_bits(symbols, table) == pytest.approx(24_000)
    assert len(encode(symbols, table, "ans")) == 0
    np.testing.assert_array_equal(decode(np.zeros(0, dtype=np.uint32), table, 1000, "ans"), symbols)


def test_symbol_bits_are_minus_log2_of_quantised_probability():
    rng = np.random.default_rng(7)
    table = random_rows(rng, 100, 9, "float")
    symbols = np.array([rng.choice(np.flatnonzero(row)) for row in table])
    quantised = coder_frequencies(table)
    expected = -np.log2(quantised[np.arange(100), symbols] / TOTAL)
    np.testing.assert_allclose(symbol_bits(symbols, table), expected, rtol=0, atol=1e-12)
    assert nll_bits(symbols, table) == pytest.approx(expected.sum(), rel=1e-12)
    shared = table[0]
    symbols = rng.choice(np.flatnonzero(shared), size=50)
    np.testing.assert_allclose(symbol_bits(symbols, shared), PRECISION - np.log2(coder_frequencies(shared)[symbols]))


def test_encoder_nll_bits_of_shared_chunks_batch():
    """Encoder.nll_bits batches shared tables by alphabet size: mixed sizes must still add up."""
    encoder = Encoder()
    parts = [(np.array([0, 1, 1]), np.array([1, 3])), (np.array([2, 2]), np.array([1, 1, 6])), (np.array([1]), np.array([5, 5]))]
    for symbols, table in parts:
        encoder.encode(symbols, table)
    assert encoder.nll_bits == pytest.approx(sum(nll_bits(s, t) for s, t in parts), rel=1e-12)


# ---------------------------------------------------------------- K == 1


@pytest.mark.parametrize("coder", CODERS)
def test_single_symbol_alphabet_costs_nothing(coder):
    symbols = np.zeros(1000, dtype=np.int64)
    for table in (np.array([5]), np.ones((1000, 1))):
        encoder = Encoder(coder)
        encoder.encode(symbols, table)
        assert encoder.nll_bits == 0
        words = encoder.finish()
        assert len(words) == 0
        assert nll_bits(symbols, table) == 0
        np.testing.assert_array_equal(decode(words, table, 1000, coder), symbols)
    with pytest.raises(ValueError, match="symbols must lie in"):
        encode(np.array([1]), np.array([5]), coder)


@pytest.mark.parametrize("coder", CODERS)
def test_single_symbol_chunks_between_others(coder):
    encoder = Encoder(coder)
    encoder.encode(np.array([1, 0]), np.array([1, 1]))
    encoder.encode(np.zeros(5, dtype=np.int64), np.array([1]))
    encoder.encode(np.array([2]), np.array([1, 1, 2]))
    decoder = Decoder(encoder.finish(), coder)
    assert decoder.decode(np.array([1, 1]), 2).tolist() == [1, 0]
    assert decoder.decode(np.array([1]), 5).tolist() == [0] * 5
    assert decoder.decode(np.array([1, 1, 2]), 1).tolist() == [2]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "table, message",
    [
        (np.array([1, -1, 3]), "negative"),
        (np.array([[1.0, 2.0], [-0.5, 1.0]]), "negative"),
        (np.array([1.0, np.nan]), "NaN or infinity"),
        (np.array([1.0, np.inf]), "NaN or infinity"),
        (np.array([[1.0, 1.0], [-np.inf, 1.0]]), "NaN or infinity"),
        (np.array([[1, 2], [0, 0]]), "sum"),
        (np.array([0.0, 0.0, 0.0]), "sum"),
        (np.array([1e300, 1e300]), "sum"),
        (np.array([2**53, 1], dtype=np.int64), "sum"),
        (np.array([5e-324, 1e-323]), "sum"),  # subnormal sum: scale 2**24/sum overflows
        (np.array([3e-308, 2e-308, 1e-308]), "sum"),  # normal but tiny sum: same
        (np.ones((2, 2, 2)), "1-D"),
        (np.array(3.0), "1-D"),
        (np.zeros((3, 0)), "K >= 1"),
        (np.zeros(0), "K >= 1"),
        (np.array([True, False]), "integer or float"),
        (np.array(["a", "b"]), "integer or float"),
        (np.array([1 + 1j, 2]), "integer or float"),
    ],
)
def test_invalid_tables(table, message):
    symbols = np.zeros(len(table) if table.ndim == 2 else 1, dtype=np.int64)
    with pytest.raises(ValueError, match=message):
        coder_frequencies(table)
    for coder in CODERS:
        with pytest.raises(ValueError, match=message):
            encode(symbols, table, coder)
        with pytest.raises(ValueError, match=message):
            Decoder(np.array([1, 2], dtype=np.uint32), coder).decode(table, len(symbols))
    with pytest.raises(ValueError, match=message):
        symbol_bits(symbols, table)
    with pytest.raises(ValueError, match=message):
        nll_bits(symbols, table)


def test_tiny_but_safe_row_sums_are_accepted():
    table = np.array([3e-290, 2e-290, 1e-290])
    assert coder_frequencies(table).tolist() == brute_force_frequencies(table.tolist())
    for coder in CODERS:
        symbols = np.array([1, 2, 0])
        np.testing.assert_array_equal(decode(encode(symbols, table, coder), table, 3, coder), symbols)


@pytest.mark.parametrize(
    "symbols, message",
    [
        (np.array([0.0, 1.0]), "integers"),
        (np.array([True, False]), "integers"),
        (np.array([[0, 1]]), "1-D"),
        (np.array(1), "1-D"),
        (np.array([0, 3]), r"lie in \[0, 3\)"),
        (np.array([-1, 0]), r"lie in \[0, 3\)"),
        (np.array([2**40]), r"lie in \[0, 3\)"),
    ],
)
def test_invalid_symbols(symbols, message):
    table = np.array([1, 2, 3])
    for coder in CODERS:
        with pytest.raises(ValueError, match=message):
            encode(symbols, table, coder)
    with pytest.raises(ValueError, match=message):
        symbol_bits(symbols, table)
    with pytest.raises(ValueError, match=message):
        nll_bits(symbols, table)


def test_row_count_mismatch():
    rows = np.ones((4, 3))
    with pytest.raises(ValueError, match="4 table rows for 3 symbols"):
        encode(np.array([0, 1, 2]), rows)
    with pytest.raises(ValueError, match="4 table rows for 5 symbols"):
        symbol_bits(np.zeros(5, dtype=np.int64), rows)
    with pytest.raises(ValueError, match="table rows"):
        nll_bits(np.zeros(5, dtype=np.int64), rows)
    with pytest.raises(ValueError, match="4 table rows for 2 symbols"):
        Decoder(np.zeros(0, dtype=np.uint32)).decode(rows, 2)
    with pytest.raises(ValueError, match="needs a symbol count"):
        Decoder(np.zeros(0, dtype=np.uint32)).decode(np.ones(3))


@pytest.mark.parametrize("coder", CODERS)
def test_fortran_ordered_and_strided_inputs(coder):
    """constriction misreads non-C-ordered tables; `coding` must copy them to C order."""
    rng = np.random.default_rng(8)
    table_c = random_rows(rng, 200, 7, "float")
    table_f = np.asfortranarray(table_c)
    assert not table_f.flags.c_contiguous
    symbols = np.array([rng.choice(np.flatnonzero(row)) for row in table_c])
    words = encode(symbols, table_f, coder)
    np.testing.assert_array_equal(words, encode(symbols, table_c, coder))
    np.testing.assert_array_equal(decode(words, table_f, coder=coder), symbols)
    np.testing.assert_array_equal(decode(words, table_c, coder=coder), symbols)
    assert nll_bits(symbols, table_f) == nll_bits(symbols, table_c)
    np.testing.assert_array_equal(coder_frequencies(table_f), coder_frequencies(table_c))
    # Strided views of tables, symbols and words.
    wide = np.repeat(table_c, 2, axis=1)[:, ::2]
    assert not wide.flags.c_contiguous
    long_symbols = np.repeat(symbols, 2)[::2]
    np.testing.assert_array_equal(encode(long_symbols, wide, coder), words)
    strided_words = np.repeat(words, 2)[::2]
    np.testing.assert_array_equal(decode(strided_words, wide, coder=coder), symbols)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int64, np.uint64])
def test_symbol_and_table_dtypes(dtype):
    table = np.array([3, 1, 4, 1, 5], dtype=dtype)
    symbols = np.array([4, 0, 2, 2, 1], dtype=dtype)
    for coder in CODERS:
        np.testing.assert_array_equal(decode(encode(symbols, table, coder), table, 5, coder), symbols.astype(np.int64))


def test_float32_table_matches_its_float64_value():
    table32 = np.array([0.1, 0.7, 0.2], dtype=np.float32)
    np.testing.assert_array_equal(coder_frequencies(table32), coder_frequencies(table32.astype(np.float64)))


# ---------------------------------------------------------------- invalid compressed data


def test_invalid_range_data_raises_value_error():
    """constriction's range decoder raises AssertionError on invalid words; coding maps it."""
    rng = np.random.default_rng(22)
    table = rng.integers(0, 50, size=3)
    table[0] += 1
    words = rng.integers(0, 2**32, size=8, dtype=np.uint64).astype(np.uint32)
    with pytest.raises(ValueError, match="invalid compressed data"):
        decode(words, table, 400)


def test_random_words_never_raise_anything_but_value_error():
    rng = np.random.default_rng(9)
    failures = 0
    for trial in range(200):
        k = int(rng.integers(2, 300))
        shape = (k,) if trial % 2 else (400, k)
        table = rng.integers(0, 50, size=shape)
        table[..., 0] += 1
        words = rng.integers(0, 2**32, size=int(rng.integers(0, 10)), dtype=np.uint64).astype(np.uint32)
        for coder in CODERS:
            try:
                decoded = decode(words, table, 400, coder)
            except ValueError:
                failures += 1
                continue
            assert decoded.shape == (400,)
            assert decoded.min() >= 0 and decoded.max() < k
    assert failures > 0  # the range decoder does detect some invalid data


def test_ans_rejects_trailing_zero_word():
    with pytest.raises(ValueError, match="invalid ANS data"):
        Decoder(np.array([5, 0], dtype=np.uint32), "ans")


# ---------------------------------------------------------------- words <-> bytes


def test_words_to_bytes_is_little_endian():
    words = np.array([0x04030201, 0xDDCCBBAA, 0, 0xFFFFFFFF], dtype=np.uint32)
    data = words_to_bytes(words)
    assert data == bytes([1, 2, 3, 4, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 0, 0, 255, 255, 255, 255])
    assert words_to_bytes(words.astype(">u4")) == data
    back = bytes_to_words(data)
    assert back.dtype == np.uint32
    assert back.tolist() == words.tolist()
    assert words_to_bytes(np.zeros(0, dtype=np.uint32)) == b""
    assert bytes_to_words(b"").tolist() == []


def test_bytes_to_words_rejects_partial_words():
    for size in (1, 2, 3, 5):
        with pytest.raises(ValueError, match="multiple of 4"):
            bytes_to_words(bytes(size))


def test_bytes_to_words_is_writable_copy():
    data = bytearray(b"\x01\x00\x00\x00")
    words = bytes_to_words(bytes(data))
    words[0] = 7  # a read-only view of the bytes would raise here
    assert words.tolist() == [7]


# ---------------------------------------------------------------- property test


@st.composite
def coding_problems(draw):
    k = draw(st.integers(1, 12))
    n = draw(st.integers(0, 40))
    per_row = draw(st.booleans())
    use_float = draw(st.booleans())
    shape = (n, k) if per_row else (k,)
    if use_float:
        elements = st.floats(0, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    else:
        elements = st.integers(0, 2**31 - 1)
    flat = draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))
    table = np.array(flat, dtype=np.float64 if use_float else np.int64).reshape(shape)
    if table.size:
        table[..., draw(st.integers(0, k - 1))] += 1  # every row sums to >= 1
    symbols = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    return symbols, table


@settings(max_examples=150, deadline=None)
@given(problem=coding_problems(), coder=st.sampled_from(CODERS))
def test_property_round_trip_and_nll(problem, coder):
    symbols, table = problem
    words = encode(symbols, table, coder)
    count = len(symbols) if table.ndim == 1 else None
    np.testing.assert_array_equal(decode(words, table, count, coder), symbols)
    np.testing.assert_array_equal(decode(bytes_to_words(words_to_bytes(words)), table, count, coder), symbols)
    quantised = coder_frequencies(table)
    assert (quantised.sum(axis=-1) == TOTAL).all() and (quantised >= 1).all()
    bits = symbol_bits(symbols, table)
    assert (bits >= 0).all() and (bits <= PRECISION).all()
    payload = 32 * len(words)
    nll = nll_bits(symbols, table)
    assert payload <= nll + 64
    if coder == "range" or (len(symbols) and symbols[-1] != 0):
        assert payload >= nll - 32
