"""The binary arithmetic coder (`deepcompress.coding.binary`): golden words, round trips, overhead."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepcompress.coding import binary


def _nll(bits: np.ndarray, probs: np.ndarray) -> float:
    bits, probs = np.asarray(bits), np.asarray(probs)
    return float(-np.log2(np.where(bits == 1, probs, 4096 - probs) / 4096).sum())


# (bits, p1 per bit) -> the exact words; pins the coder's arithmetic, termination and word order.
GOLDEN = [
    ([], [], []),
    ([1], [2048], [0xFFFFFF00]),
    ([1, 0, 1, 1, 0, 0, 0, 1, 1, 1], [2048, 100, 4000, 1, 4095, 3000, 2, 77, 2048, 1234],
     [0x0B9F2703, 0xFFFFFF62]),
    ([0] * 40, [1] * 40, [0xFFFFFF02]),
    ([1] * 40, [1] * 40, [0] * 15 + [0xFFFFFF00]),
    ([1] * 1000, [4095] * 1000, [0xFFFFFF00]),
]


@pytest.mark.parametrize("bits, probs, words", GOLDEN)
def test_golden_words(bits, probs, words):
    coded = binary.encode(np.array(bits, dtype=np.int64), np.array(probs, dtype=np.int64))
    assert coded.dtype == np.uint32
    assert coded.tolist() == words
    assert binary.decode(coded, np.array(probs, dtype=np.int64)).tolist() == bits


def test_first_split_by_hand():
    """x2 - x1 = 2**32 - 1 and p1 = 2048 split at 0x7FFFFFFF; bit 1 keeps [0, 0x7FFFFFFF], so the
    termination byte is x1 >> 24 = 0, padded with 0xFF into one little-endian word."""
    assert binary.encode(np.array([1]), np.array([2048])).tolist() == [0xFFFFFF00]
    assert binary.words_to_bytes(np.array([0xFFFFFF00], dtype=np.uint32)).tolist() == [0, 255, 255, 255]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([1, 2, 3, 2048, 4093, 4094, 4095])
                          | st.integers(1, 4095)), max_size=3000))
def test_round_trip_any_probabilities(pairs):
    bits = np.array([b for b, _ in pairs], dtype=np.int64)
    probs = np.array([p for _, p in pairs], dtype=np.int64)
    words = binary.encode(bits, probs)
    assert np.array_equal(binary.decode(words, probs), bits)
    assert 32 * len(words) <= _nll(bits, probs) * (1 + 1e-4) + 64 + 0.001 * len(bits)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 1), st.sampled_from([1, 4095, 2048]), st.integers(1, 20000))
def test_long_runs_of_one_bit(bit, p, n):
    bits = np.full(n, bit, dtype=np.int64)
    probs = np.full(n, p, dtype=np.int64)
    words = binary.encode(bits, probs)
    assert np.array_equal(binary.decode(words, probs), bits)
    assert 32 * len(words) <= _nll(bits, probs) * (1 + 1e-4) + 64


def test_calibrated_overhead_is_tiny():
    rng = np.random.default_rng(5)
    probs = rng.integers(1, 4096, 200_000)
    bits = (rng.integers(0, 4096, len(probs)) < probs).astype(np.int64)
    words = binary.encode(bits, probs)
    assert np.array_equal(binary.decode(words, probs), bits)
    assert 32 * len(words) - _nll(bits, probs) <= 1e-4 * _nll(bits, probs) + 64


def test_empty_input_is_no_words_and_decodes_nothing():
    assert len(binary.encode(np.zeros(0), np.zeros(0))) == 0
    assert len(binary.decode(np.zeros(0, dtype=np.uint32), np.zeros(0))) == 0


def test_bytes_past_the_end_read_as_padding():
    """Trailing 0xFF bytes (the word padding, and any real ones) may be cut: the decoder reads
    every byte past the end as 0xFF."""
    probs = np.array([300, 3000, 17, 4000, 2048] * 20)
    bits = np.array([0, 1, 0, 1, 1] * 20)
    words = binary.encode(bits, probs)
    data = binary.words_to_bytes(words)
    trimmed = data
    while len(trimmed) and trimmed[-1] == 255:
        trimmed = trimmed[:-1]
    assert np.array_equal(binary._decode(np.ascontiguousarray(trimmed), probs), bits)
    one = binary.words_to_bytes(binary.encode(np.array([1, 0, 1]), np.array([2048, 9, 4000])))
    assert one.tolist()[1:] == [255, 255, 255]
    assert binary._decode(one[:1].copy(), np.array([2048, 9, 4000])).tolist() == [1, 0, 1]


@pytest.mark.parametrize("probs", [[0], [4096], [-1], [[1]]])
def test_out_of_range_probabilities_are_refused(probs):
    with pytest.raises(ValueError):
        binary.encode(np.zeros(np.size(probs), dtype=np.int64).reshape(np.shape(probs)), np.array(probs))


def test_bits_must_be_binary():
    with pytest.raises(ValueError):
        binary.encode(np.array([2]), np.array([100]))
