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
def _slot(value: int, shift: int, mask: int) -> int:
    """The index slot of a span's hash."""
    return ((value * _MIX) >> shift) & mask


@njit
def _extend(data: np.ndarray, source: int, i: int, cursor: int) -> tuple[int, int, int]:
    """The repeat at i of the span at source (verified equal for HASH_BYTES), extended forward to
    the end of data and back to cursor: (target, source, length); length 0 if the span differs."""
    n = len(data)
    length = 0
    while length < HASH_BYTES and data[source + length] == data[i + length]:
        length += 1
    if length < HASH_BYTES:
        return i, source, 0
    while i + length < n and data[source + length] == data[i + length]:
        length += 1
    back = 0
    while i - back > cursor and source - back > 0 and data[source - back - 1] == data[i - back - 1]:
        back += 1
    return i - back, source - back, length + back


@njit
def _seen_bytes(data: np.ndarray, own_slots: np.ndarray, start: int, end: int, shift: int, mask: int) -> int:
    """How many bytes of data[start:end] repeat earlier bytes the segment's index finds (each a
    match of at least HASH_BYTES, followed forward only). O(end - start)."""
    seen = 0
    j = start
    while j + HASH_BYTES <= end:
        own = np.int64(own_slots[_slot(_span_hash(data, j), shift, mask)]) - 1
        length = 0
        if own >= 0:
            while j + length < end and data[own + length] == data[j + length]:
                length += 1
        if length >= HASH_BYTES:
            seen += length
            j += length
        else:
            j += 1
    return seen


@njit
def _index(slots: np.ndarray, data: np.ndarray, span: int, shift: int, mask: int) -> None:
    slots[_slot(_span_hash(data, span), shift, mask)] = span + 1  # a later span displaces an earlier


@njit
def find_repeats(data: np.ndarray, start: int, min_length: int, min_length_in_segment: int, max_distance: int,
                 slot_bits: int) -> np.ndarray:
    """Greedy, left to right: the repeats in data[start:] of earlier bytes worth a copy.

    data: uint8[n] (the history, then the segment from `start`). Two indexes hold the spans of
    HASH_BYTES at offsets that are multiples of HASH_BYTES, the latest in each slot: the
    history's, and the segment's (added once the scan has passed them). At each position the
    segment's candidate is tried first: a repeat of the segment's own bytes of at least
    min_length is one its model sees, a copy only from min_length_in_segment, else left to the
    model; otherwise a repeat of the history of at least min_length is a copy, unless the
    segment's index finds a repeat of min_length_in_segment within its first HASH_BYTES (a copy
    from there) or repeats of half its bytes (left to the model). A source starts
    before its target and may overlap it (a run, or a short period, is one repeat longer than
    its distance); a distance is at most max_distance. Returns int64[n_repeats, 3]: (target,
    source, length) as offsets in data, the targets ascending and disjoint. Work:
    O(n * (min_length + HASH_BYTES)): a match shorter than min_length is extended at most that
    far, and a longer one (a copy or left to the model) is skipped, each byte extended over once.
    """
    n = len(data)
    out = np.empty(((n - start) // max(min_length, 1) + 1, 3), np.int64)
    found = 0
    shift = 64 - slot_bits
    mask = (1 << slot_bits) - 1
    history_slots = np.zeros(1 << slot_bits, np.int32)  # an indexed span's offset + 1; 0: empty
    own_slots = np.zeros(1 << slot_bits, np.int32)
    indexed = 0  # the next span to index
    while indexed + HASH_BYTES <= start:
        _index(history_slots, data, indexed, shift, mask)
        indexed += HASH_BYTES
    top = np.int64(1)  # _BASE ** HASH_BYTES modulo 2**64: the weight of the byte leaving the span
    for _ in range(HASH_BYTES):
        top = top * _BASE
    cursor = i = start  # bytes before the cursor are taken by a repeat or left as literals
    value = _span_hash(data, i) if i + HASH_BYTES <= n else np.int64(0)
    while i + HASH_BYTES <= n:
        while indexed + HASH_BYTES <= i:  # the segment's spans wholly before i
            _index(own_slots, data, indexed, shift, mask)
            indexed += HASH_BYTES
        slot = _slot(value, shift, mask)
        end = -1  # where a repeat found here ends
        own = np.int64(own_slots[slot]) - 1
        if own >= 0:
            target, source, length = _extend(data, own, i, cursor)
            if length >= min_length:
                end = target + length
                if length < min_length_in_segment or target - source > max_distance:
                    length = 0  # left to the model
        if end < 0:
            past = np.int64(history_slots[slot]) - 1
            if past >= 0:
                target, source, length = _extend(data, past, i, cursor)
                if length >= min_length:
                    end = target + length
                    if target - source > max_distance:
                        length = 0
                    # The segment may hold these bytes too: at a span its index has only a few
                    # positions on (an indexed span lies within any HASH_BYTES of a repeat of it),
                    # or in pieces. A long repeat of them is a copy from there; if they cover half
                    # of this one, the model sees enough of it to predict the rest.
                    long_own = False
                    for j in range(i + 1, min(i + HASH_BYTES, n - HASH_BYTES + 1)):
                        own = np.int64(own_slots[_slot(_span_hash(data, j), shift, mask)]) - 1
                        if own >= 0:
                            seen_target, seen_source, seen_length = _extend(data, own, j, cursor)
                            if seen_length >= min_length_in_segment and seen_target - seen_source <= max_distance:
                                target, source, length = seen_target, seen_source, seen_length
                                end = target + length
                                long_own = True
                                break
                    if not long_own and 2 * _seen_bytes(data, own_slots, i, end, shift, mask) >= end - target:
                        length = 0
        if end >= 0:
            if length:
                out[found, 0], out[found, 1], out[found, 2] = target, source, length
                found += 1
                cursor = end
            i = end
            if i + HASH_BYTES <= n:
                value = _span_hash(data, i)
            continue
        if i + HASH_BYTES < n:
            value = value * _BASE + np.int64(data[i + HASH_BYTES]) - np.int64(data[i]) * top
        i += 1
    return out[:found]
