"""Long-range copies: what a segment repeats of the segments before it, taken out before it is modelled.

A stream longer than a segment (`api.SEGMENT_BYTES`) is coded as members that each start from a
fresh model, so a segment cannot predict what it repeats of an earlier one (a second copy of a
file costs as much as the first). Before a segment after the first is coded, `find_copies` finds
its repeats of at least MIN_COPY_BYTES of earlier input (within `container.MAX_COPY_DISTANCE`:
the segments before it; its own bytes before the repeat only from MIN_COPY_BYTES_IN_SEGMENT, a
shorter repeat of them being left to the model, which sees them); the member codes the rest (its
literals) and lists the copies in its header (`container.copies_extra`).
Decoding stays parallel: members decode their literals independently, and `CopyResolver` puts
the copies back in order, from the output it keeps (the last MAX_COPY_DISTANCE bytes).
"""

from __future__ import annotations

import zlib

import numpy as np

from deepcompress import container
from deepcompress.errors import CorruptStreamError

# Shorter repeats stay literals: a copy costs ~8 header bytes and breaks the model's context
# where it is cut out. Measured on the second segment of benchmarks/threads.py's input (distinct
# files): its 13 repeats of 64-255 bytes of the first segment cost 169 bytes more as copies
# than as literals.
MIN_COPY_BYTES = 256
# A repeat of the segment's own bytes (its index finds them, even where the history holds them
# too: records sharing a block of the history are then one copy, not one each) is one the model
# sees: its match model codes a long one at
# ~0.005 bits a byte (book1 x10 with an edit per copy as one member: 206,165 bytes, book1 alone
# 201,552), so a copy (~12 bytes with the context break) pays only beyond ~18 KB. The same
# segment's 127 repeats of 256 B-16 KiB cost 507 bytes more as copies than as literals.
MIN_COPY_BYTES_IN_SEGMENT = 1 << 14


def find_copies(history: bytes | bytearray, segment: bytes) -> tuple[container.CopyList, bytes]:
    """The copies in `segment` of earlier input (`history`, the input just before it, or the
    segment before the copy) and the literals left.

    Returns ([(literals before the copy since the previous one, distance, length)], literals):
    the copy list `container.copies_extra` writes, and the segment's other bytes in order.
    Only the last MAX_COPY_DISTANCE - len(segment) bytes of history are searched.
    """
    # imported here: numba (or a build) is loaded only once a stream is segmented
    from deepcompress._longrange_kernels import find_repeats

    reach = max(container.MAX_COPY_DISTANCE - len(segment), 0)
    with memoryview(history) as view:  # released at once: the caller's bytearray may grow after
        data = np.frombuffer(b"".join((view[max(len(history) - reach, 0):], segment)), np.uint8)
    start = min(len(history), reach)
    # 4-8 slots per indexed span: a span displaced by a later one in its slot (~10%) costs only
    # repeats too short to hold another span (a longer one is found from its next span).
    slot_bits = max(12, (len(data) // 8).bit_length())
    repeats = find_repeats(data, start, MIN_COPY_BYTES, MIN_COPY_BYTES_IN_SEGMENT, container.MAX_COPY_DISTANCE,
                           slot_bits)
    copies, pieces, at, copied = [], [], start, 0
    for target, source, length in repeats.tolist():
        copied += length
        if copied > container.MAX_COPY_DISTANCE:  # a member's bound (only a segment over 2^24 bytes reaches it)
            break
        copies.append((target - at, target - source, length))
        pieces.append(data[at:target].tobytes())
        at = target + length
    pieces.append(data[at:].tobytes())
    return copies, b"".join(pieces)


class CopyResolver:
    """Rebuilds members' output from their literals and copies, member after member, in order.

    Keeps the last MAX_COPY_DISTANCE bytes of output (every member's blocks and copies, not an
    array's .npy header; up to twice that between trims) as the source of later copies. Per
    member: `begin(copies)`, `feed` each block of literals, then `end`; each returns output bytes.
    """

    def __init__(self) -> None:
        self._history = bytearray()
        self.begin(None)

    def begin(self, copies: tuple[container.CopyList, int] | None) -> None:
        """A member starts: its copies and output CRC-32 (`container.decode_copies`; None: no copies)."""
        self._copies, self._crc32 = copies if copies is not None else ([], None)
        self._next = 0  # the next copy to place
        self._until = self._copies[0][0] if self._copies else 0  # literals still to come before it
        self._running = 0  # CRC-32 of the member's output so far (checked when crc32 is set)

    def feed(self, literals: bytes) -> bytes:
        """The output for the next block of literals: them, with the copies that fall among them."""
        if self._next == len(self._copies):
            return self._emit(literals)
        out, at = [], 0
        while self._next < len(self._copies) and self._until <= len(literals) - at:
            out.append(self._emit(literals[at:at + self._until]))
            at += self._until
            out.append(self._copy())
        if self._next < len(self._copies):
            self._until -= len(literals) - at
        out.append(self._emit(literals[at:]))
        return b"".join(out)

    def end(self) -> bytes:
        """The member's last copies (after all its literals); CorruptStreamError if a copy
        lies beyond its literals or its output's CRC-32 differs from the header's."""
        out = []
        while self._next < len(self._copies):
            if self._until:
                raise CorruptStreamError("a copy lies beyond the member's literals")
            out.append(self._copy())
        if self._crc32 is not None and self._running != self._crc32:
            raise CorruptStreamError("checksum mismatch in the member's output with its copies")
        self.begin(None)
        return b"".join(out)

    def _copy(self) -> bytes:
        _, distance, length = self._copies[self._next]
        history = self._history
        if distance > len(history):
            raise CorruptStreamError(
                f"a copy reaches {distance} bytes back, before the output kept ({len(history)} bytes): decode "
                "the stream from its first member (a Decompressor after another: previous=)")
        start = len(history) - distance
        if length <= distance:
            piece = bytes(history[start:start + length])
        else:  # the copy overlaps itself: the last `distance` bytes, repeated
            piece = (bytes(history[start:]) * (length // distance + 1))[:length]
        self._next += 1
        if self._next < len(self._copies):
            self._until = self._copies[self._next][0]
        return self._emit(piece)

    def _emit(self, piece: bytes) -> bytes:
        if self._crc32 is not None:
            self._running = zlib.crc32(piece, self._running)
        history = self._history
        history += piece
        if len(history) > 2 * container.MAX_COPY_DISTANCE:  # trimmed now and then: amortised O(1) a byte
            del history[:-container.MAX_COPY_DISTANCE]
        return piece
