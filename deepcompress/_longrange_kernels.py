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
def find_repeats(data: np.ndarray, start: int, min_length: int, min_length_in_segment: int, max_distance: int,
                 slot_bits: int) -> np.ndarray:
    """Greedy, left to right: the repeats in data[start:] of at least min_length earlier bytes
    (min_length_in_segment where the source starts in the segment).

    data: uint8[n] (the history, then the segment from `start`). A repeat's source starts
    before its target and may overlap it (a run, or a short period, is one repeat longer than
    its distance); its distance (target - source) is at most max_distance. The index holds each
    span of HASH_BYTES at offsets that are multiples of HASH_BYTES, the latest in its slot, the
    segment's spans added once the scan has passed them. slot_bits: log2 of the index's slot
    count. Returns int64[n_repeats, 3]: (target, source, length) as offsets in data, the targets
    ascending and disjoint. Work: O(n * (min_length + HASH_BYTES)): a match shorter than
    min_length is extended at most that far, and a longer one (taken or not) is skipped.
    """
    n = len(data)
    out = np.empty(((n - start) // max(min_length, 1) + 1, 3), np.int64)
    found = 0
    shift = 64 - slot_bits
    mask = (1 << slot_bits) - 1
    slots = np.zeros(1 << slot_bits, np.int32)  # an indexed span's offset + 1; 0: empty
    top = np.int64(1)  # _BASE ** HASH_BYTES modulo 2**64: the weight of the byte leaving the span
    for _ in range(HASH_BYTES):
        top = top * _BASE
    indexed = 0  # the next span to index
    cursor = i = start  # bytes before the cursor are taken by a repeat or left as literals
    value = _span_hash(data, i) if i + HASH_BYTES <= n else np.int64(0)
    while i + HASH_BYTES <= n:
        while indexed + HASH_BYTES <= i:  # every span wholly before i, a later one displacing an earlier
            slots[((_span_hash(data, indexed) * _MIX) >> shift) & mask] = indexed + 1
            indexed += HASH_BYTES
        source = np.int64(slots[((value * _MIX) >> shift) & mask]) - 1
        length = 0
        if source >= 0:
            while length < HASH_BYTES and data[source + length] == data[i + length]:
                length += 1
        if length == HASH_BYTES:
            while i + length < n and data[source + length] == data[i + length]:
                length += 1
            back = 0
            while i - back > cursor and source - back > 0 and data[source - back - 1] == data[i - back - 1]:
                back += 1
            target, source, length = i - back, source - back, length + back
            if length >= min_length:
                if length >= (min_length if source < start else min_length_in_segment) and \
                        target - source <= max_distance:
                    out[found, 0], out[found, 1], out[found, 2] = target, source, length
                    found += 1
                    cursor = target + length
                # a repeat not taken is left to the model, and not scanned again: each byte is
                # extended over once, so a long repeat costs O(its length)
                i = target + length
                if i + HASH_BYTES <= n:
                    value = _span_hash(data, i)
                continue
        if i + HASH_BYTES < n:
            value = value * _BASE + np.int64(data[i + HASH_BYTES]) - np.int64(data[i]) * top
        i += 1
    return out[:found]
