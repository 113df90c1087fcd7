"""Long-range copies: what a segment repeats of the segments before it, taken out before it is modelled.

A stream longer than a segment (`api.SEGMENT_BYTES`) is coded as members that each start from a
fresh model, so a segment cannot predict what it repeats of an earlier one (a second copy of a
file costs as much as the first). Before a segment is coded, `find_copies` finds its repeats of
at least MIN_COPY_BYTES of the input before it (within `container.MAX_COPY_DISTANCE`); the
member codes the rest (its literals) and lists the copies in its header (`container.copies_extra`).
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
# files): its 13 repeats of 64-255 bytes cost 169 bytes more as copies than as literals.
MIN_COPY_BYTES = 256


def find_copies(history: bytes, segment: bytes) -> tuple[container.CopyList, bytes]:
    """The copies of `segment` from `history` (the input just before it) and the literals left.

    Returns ([(literals before the copy since the previous one, distance, length)], literals):
    the copy list `container.copies_extra` writes, and the segment's other bytes in order.
    Only the last MAX_COPY_DISTANCE - len(segment) bytes of history can be a source.
    """
    # imported here: numba (or a build) is loaded only once a stream is segmented
    from deepcompress._longrange_kernels import find_repeats

    reach = max(container.MAX_COPY_DISTANCE - len(segment), 0)
    history = history[len(history) - reach:] if len(history) > reach else history
    # 4-8 slots per indexed span: a span displaced by a later one in its slot (~10%) costs only
    # repeats too short to hold another span (a longer one is found from its next span).
    slot_bits = max(12, (len(history) // 8).bit_length())
    repeats = find_repeats(np.frombuffer(history, np.uint8), np.frombuffer(segment, np.uint8), MIN_COPY_BYTES,
                           container.MAX_COPY_DISTANCE, slot_bits)
    copies, pieces, at = [], [], 0
    for target, source, length in repeats.tolist():
        copies.append((target - at, len(history) - source + target, length))
        pieces.append(segment[at:target])
        at = target + length
    pieces.append(segment[at:])
    return copies, b"".join(pieces)


class CopyResolver:
    """Rebuilds members' output from their literals and copies, member after member, in order.

    Keeps the last MAX_COPY_DISTANCE bytes of output (every member's, copies or not) as the
    source of later copies. Per member: `begin(copies, crc32)` (no copies: None), `feed` each
    block of literals, then `end`; each returns output bytes.
    """

    def __init__(self) -> None:
        self._history = bytearray()
        self._copies: container.CopyList = []
        self._next = 0  # the next copy
        self._until = 0  # literals left before it
        self._crc32: int | None = None
        self._running = 0  # CRC-32 of the member's output so far

    def begin(self, copies: container.CopyList | None, crc32: int | None = None) -> None:
        """A member starts: its copy list (`container.decode_copies`) and its output's CRC-32."""
        self._copies, self._crc32, self._next, self._running = copies or [], crc32, 0, 0
        self._until = self._copies[0][0] if self._copies else -1

    def feed(self, literals: bytes) -> bytes:
        """The output for the next block of literals: them, with the copies that fall among them."""
        if not self._copies:
            return self._emit(literals)
        out, at = [], 0
        while self._next < len(self._copies) and self._until <= len(literals) - at:
            out.append(self._emit(literals[at:at + self._until]))
            at += self._until
            out.append(self._copy())
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
        self._copies, self._crc32 = [], None
        return b"".join(out)

    def _copy(self) -> bytes:
        _, distance, length = self._copies[self._next]
        if distance > len(self._history):
            raise CorruptStreamError(
                f"a copy reaches {distance} bytes back, before the start of the output "
                f"({len(self._history)} bytes kept): decode the stream from its first member")
        start = len(self._history) - distance
        piece = bytes(self._history[start:start + length])
        self._next += 1
        self._until = self._copies[self._next][0] if self._next < len(self._copies) else -1
        return self._emit(piece)

    def _emit(self, piece: bytes) -> bytes:
        if self._crc32 is not None:
            self._running = zlib.crc32(piece, self._running)
        history = self._history
        history += piece
        if len(history) > 2 * container.MAX_COPY_DISTANCE:  # trimmed now and then: amortised O(1) a byte
            del history[:-container.MAX_COPY_DISTANCE]
        return piece
