"""Adaptive follower statistics: what followed each recent context earlier in the stream.

For every order n in `orders`, a hash table maps the last n symbols to the symbol that
followed them the last time and a confidence (how often in a row that guess was right,
0..3). Looked up before a symbol is coded, each order gives one integer *feature*

    follower * 4 + confidence   in [0, 4K),   or 4K when the context was not seen,

which the MLP embeds like a context symbol: the network learns how far to trust it.
All arithmetic is integer (numba, wrapping uint64 hashes), so encoder and decoder build
identical tables. With lanes, one step looks up every active lane before it updates the
tables with their symbols in lane order; the encoder replays exactly that order.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit

CONFIDENCE_LEVELS = 4
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_TAG_BITS = 16
# Slot layout (int32): tag (1..2**16, 0 = empty) << 11 | follower (9 bits) << 2 | confidence.
_MAX_ALPHABET = 1 << 9


def feature_alphabet(alphabet_size: int) -> int:
    """Number of distinct feature values: 4K guesses plus 'unseen'."""
    return CONFIDENCE_LEVELS * alphabet_size + 1


class FollowerTables:
    """Per-stream tables. windows: int64[N, k] (oldest first); every order must be <= k."""

    def __init__(self, orders: tuple[int, ...], alphabet_size: int, table_bits: int) -> None:
        if alphabet_size > _MAX_ALPHABET:
            raise ValueError(f"follower tables support alphabets up to {_MAX_ALPHABET}")
        if list(orders) != sorted(set(orders)) or not orders or orders[0] < 1:
            raise ValueError(f"orders must be ascending and positive, got {orders}")
        self.orders = np.asarray(orders, dtype=np.int64)
        self.alphabet_size = alphabet_size
        self.table_bits = table_bits
        self.slots = np.zeros((len(orders), 1 << table_bits), dtype=np.int32)

    def features(self, windows: np.ndarray, symbols: np.ndarray, step_sizes: np.ndarray) -> np.ndarray:
        """Features of each row, then learn its symbol; rows come in steps of `step_sizes`
        (all rows of a step are looked up before any is learned). -> int64[N, len(orders)]."""
        out = np.empty((len(windows), len(self.orders)), dtype=np.int64)
        _features(self.slots, self.orders, self.table_bits, self.alphabet_size,
                  np.ascontiguousarray(windows, dtype=np.int64), np.asarray(symbols, dtype=np.int64),
                  np.asarray(step_sizes, dtype=np.int64), out)
        return out

    def lookup(self, windows: np.ndarray) -> np.ndarray:
        """Features of each row without learning: int64[N, len(orders)]."""
        return self.features(windows, np.full(len(windows), -1), np.array([len(windows)]))

    def learn(self, windows: np.ndarray, symbols: np.ndarray) -> None:
        """Record that `symbols[i]` followed `windows[i]`, in row order."""
        self.features(windows, symbols, np.array([len(windows)]))


@njit
def _hashes(window, orders, out):
    """Hash of the last n symbols for each n in (ascending) orders, built newest symbol first."""
    k = window.shape[0]
    h = np.uint64(0)
    o = 0
    for length in range(1, orders[-1] + 1):
        h = (h ^ np.uint64(window[k - length] + 1)) * _HASH_MULTIPLIER
        h ^= h >> np.uint64(29)
        if length == orders[o]:
            out[o] = h
            o += 1


@njit
def _features(slots, orders, table_bits, alphabet_size, windows, symbols, step_sizes, out):
    unseen = CONFIDENCE_LEVELS * alphabet_size
    n_orders = orders.shape[0]
    hashes = np.empty((windows.shape[0], n_orders), dtype=np.uint64)
    index_shift = np.uint64(64 - table_bits)
    tag_mask = np.uint64((1 << _TAG_BITS) - 1)
    start = 0
    for size in step_sizes:
        for row in range(start, start + size):
            _hashes(windows[row], orders, hashes[row])
            for o in range(n_orders):
                h = hashes[row, o]
                entry = slots[o, h >> index_shift]
                tag = np.int64((h >> np.uint64(32)) & tag_mask) + 1
                out[row, o] = (entry & 0x7FF) if (entry >> 11) == tag else unseen
        for row in range(start, start + size):
            symbol = symbols[row]
            if symbol < 0:
                continue
            for o in range(n_orders):
                h = hashes[row, o]
                index = h >> index_shift
                tag = np.int64((h >> np.uint64(32)) & tag_mask) + 1
                entry = slots[o, index]
                confidence = 0
                if (entry >> 11) == tag and ((entry >> 2) & 0x1FF) == symbol:
                    confidence = min((entry & 3) + 1, CONFIDENCE_LEVELS - 1)
                slots[o, index] = (tag << 11) | (symbol << 2) | confidence
        start += size
