"""The compiled search for long repeats of earlier segments (`longrange.find_copies`).

Integer code only: hashes are int64 arithmetic that wraps modulo 2**64 (numba's integer
semantics), so the copies found, and the stream, are the same on every machine.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit

HASH_BYTES = 32  # a hash spans this many bytes; history is indexed every HASH_BYTES
# Any repeat of at least 2 * HASH_BYTES - 1 bytes holds an indexed span of the history, so every
# such repeat is seen (unless a later span with the same slot displaced it).
_BASE = 0x100000001B3  # the rolling hash's multiplier (odd)
_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64: spreads a hash over the slot bits


@njit
def _span_hash(data: np.ndarray, start: int) -> int:
    """sum(data[start + j] * _BASE**(HASH_BYTES - 1 - j)) modulo 2**64, as int64."""
    value = np.int64(0)
    for j in range(HASH_BYTES):
        value = value * _BASE + np.int64(data[start + j])
    return value


@njit
def find_repeats(history: np.ndarray, segment: np.ndarray, min_length: int, max_distance: int,
                 slot_bits: int) -> np.ndarray:
    """Greedy, left to right: the repeats in `segment` of at least min_length bytes of `history`.

    history, segment: uint8[n_history], uint8[n_segment] (the segment follows the history).
    A repeat's source lies entirely in history, and its distance (n_history - source + target)
    is at most max_distance. slot_bits: log2 of the index's slot count. Returns
    int64[n_repeats, 3]: (target offset in segment, source offset in history, length), the
    targets ascending and disjoint. Work: O(n_history + n_segment * (min_length + HASH_BYTES)).
    """
    n_history, n_segment = len(history), len(segment)
    out = np.empty((n_segment // max(min_length, 1) + 1, 3), np.int64)
    found = 0
    if n_history < HASH_BYTES or n_segment < HASH_BYTES:
        return out[:0]
    shift = 64 - slot_bits
    mask = (1 << slot_bits) - 1
    slots = np.zeros(1 << slot_bits, np.int32)  # an indexed span's start + 1; 0: empty
    for start in range(0, n_history - HASH_BYTES + 1, HASH_BYTES):  # a later span displaces an earlier
        slots[((_span_hash(history, start) * _MIX) >> shift) & mask] = start + 1
    top = np.int64(1)  # _BASE ** HASH_BYTES modulo 2**64: the weight of the byte leaving the span
    for _ in range(HASH_BYTES):
        top = top * _BASE
    cursor = 0  # bytes before it are taken by a repeat or left as literals
    i = 0
    value = _span_hash(segment, 0)
    while i + HASH_BYTES <= n_segment:
        source = np.int64(slots[((value * _MIX) >> shift) & mask]) - 1
        length = 0
        if source >= 0:
            while length < HASH_BYTES and history[source + length] == segment[i + length]:
                length += 1
        if length == HASH_BYTES:
            while i + length < n_segment and source + length < n_history and \
                    history[source + length] == segment[i + length]:
                length += 1
            back = 0
            while i - back > cursor and source - back > 0 and history[source - back - 1] == segment[i - back - 1]:
                back += 1
            target, source, length = i - back, source - back, length + back
            if length >= min_length and n_history - source + target <= max_distance:
                out[found, 0], out[found, 1], out[found, 2] = target, source, length
                found += 1
                cursor = i = target + length
                if i + HASH_BYTES <= n_segment:
                    value = _span_hash(segment, i)
                continue
        if i + HASH_BYTES < n_segment:
            value = value * _BASE + np.int64(segment[i + HASH_BYTES]) - np.int64(segment[i]) * top
        i += 1
    return out[:found]
