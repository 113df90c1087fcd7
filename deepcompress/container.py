"""The .dcz file format: members of a checked header, blocks and an end record. Knows no models.

A file is one or more members, each decoding independently (`cat a.dcz b.dcz` decodes to the
concatenation, as with gzip). A member of version 3 (written now; the README's table is the
reference):

    member  = header block* end
    header  = magic "\\x89DCZ" | version u8 (3) | flags u8 | model id varint [| name]
              [| fingerprint 8 bytes | config value] [| coder] [| kind, extra] [| block_size]
              | crc16 u16
    block   = head varint (n_symbols << 3 | lanes? << 2 | side? << 1 | stored) [| lanes] [| side_length]
              | nll varint (1/8 bits) [| payload_length varint | data_crc32 u32 (coded blocks)]
              | side_info | payload | crc32 u32 (of the whole record and payload)
    end     = copies? << 1 | 0 u8 | data_crc32 u32 (of the member's whole original: .npy header, every block)
            | copies? << 1 | 1 u8 (a member that is one coded block < block_size and nothing else:
              its data CRC is the end's); copies: the member is of kind COPIES_KIND

Version 2 differs only there: a 16-byte fingerprint, and no short end (a one-block member's
end repeated the block's data CRC: 12 of the ~43 bytes a small file's member cost) nor copies
bit (a header forged to drop a copies member's layout, its CRC-16 recomputed, decoded to the
member's literals alone: their CRC is the end's).

Integers are unsigned LEB128 varints or little-endian fixed width. The block CRC is checked
before anything is decoded, the data CRC after; the end record's CRC of the whole original
catches dropped, repeated or reordered blocks and a stored block rewritten with a fresh CRC;
the short end is accepted only after exactly one coded block, shorter than the block size, of a
member with no .npy header, where the full end would repeat that block's data CRC.
(It is not a CRC of the member's bytes: a block followed by its own CRC-32 leaves a running
CRC-32 unchanged whatever the block holds, so that would add nothing to the block CRCs.) A stored block (flag bit 0)
holds the raw data as its payload. Version 1 members (a JSON header, fixed-width records)
still decode through `_read_header_v1` / `_read_block_v1`. Declared sizes are bounded and
read in pieces, so a forged size never causes a huge allocation: a lying length ends in
`TruncatedStreamError` or `CorruptStreamError`.
"""

from __future__ import annotations

import binascii
import json
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from deepcompress.errors import CorruptStreamError, TruncatedStreamError, UnsupportedVersionError

MAGIC = b"\x89DCZ"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
DEFAULT_BLOCK_SIZE = 1 << 20  # the block size a v2/v3 header leaves out
# A v3 header names a model file by the first 8 bytes of its 128-bit fingerprint (v1/v2: all
# 16). It tells a wrong model file from the right one (a stream is refused with any other);
# 64 bits leave an accidental match at 2^-64, and a wrong model's output would still fail the
# data CRCs. A StreamHeader holds what its member records: 16 hex digits in v3, 32 before.
FINGERPRINT_BYTES = 8
_FINGERPRINT_BYTES = {1: 16, 2: 16, 3: FINGERPRINT_BYTES}  # by version (v1: in its JSON, as hex)
MAX_HEADER_BYTES = 1 << 20
# Bounds what one block can make the decoder hold, forged or not: ~60 bytes per decoded symbol
# plus its words (<= 32 bytes per symbol) twice, ours and the coder's copy; ~0.5 GB in all.
MAX_BLOCK_SYMBOLS = 1 << 22
MAX_SIDE_BYTES = 1 << 24
# A member of kind COPIES_KIND copies bytes of the output before it (`longrange`): the decoder
# keeps this much output, and a member's copies add at most this many bytes to it.
MAX_COPY_DISTANCE = 1 << 24
COPIES_KIND = "copies"
# A member's copies: (literals before the copy since the previous one, distance, length) each.
CopyList = list[tuple[int, int, int]]
MAX_ITEM_BYTES = 8  # a stored block holds n_symbols elements of at most this many bytes
MAX_NAME_BYTES = 256  # a model name or coder string
# v2/v3 records store a block's NLL rounded to 1/8 bit: it is only reported (`info`, a reader's
# Stats; a writer's Stats hold the exact sum), and a 1-byte block's NLL then fits one byte.
NLL_SCALE = 8
_READ_PIECE = 1 << 20
_FINGERPRINT = {version: re.compile(f"[0-9a-f]{{{2 * size}}}") for version, size in _FINGERPRINT_BYTES.items()}

_CRC = struct.Struct("<I")
_CRC16 = struct.Struct("<H")

# Header flags (v2, v3). Bits 5..7 are reserved and must be 0.
_CODER_BITS = 0b11  # 0 "range", 1 "ans", 2 "binary", 3: the coder's name follows
_FLAG_FINGERPRINT = 1 << 2  # a model file's fingerprint instead of a config
_FLAG_LAYOUT = 1 << 3  # kind and extra follow (absent: bytes)
_FLAG_BLOCK_SIZE = 1 << 4  # block_size follows (absent: DEFAULT_BLOCK_SIZE)
_FLAG_RESERVED = 0b1110_0000
_CODERS = ("range", "ans", "binary")

# Block head flags (v2, v3). Head 0 and (v3) heads 1..3 are end records: a block has n_symbols > 0.
_STORED, _HAS_SIDE, _HAS_LANES, _HEAD_BITS = 1, 2, 4, 3
_END, _END_OF_ONE_BLOCK, _END_OF_COPIES = 0, 1, 2  # v3 end head: copies? << 1 | short

# Value tags of the compact config encoding: JSON values, small ints and frozen well-known
# strings in one byte, and a dict of integers keyed by well-known strings as a bit mask.
_T_NONE, _T_FALSE, _T_TRUE, _T_INT, _T_FLOAT, _T_STR, _T_LIST, _T_DICT, _T_INTS = range(9)
_T_SMALL, _N_SMALL = 16, 48  # tags 16..63: the ints 0..47
_T_WORD = 64  # tags 64..255: WORDS[tag - 64]
# Frozen once released (a stream names them by index): append only.
WORDS = (
    "preset", "hash_bits", "match_bits", "limit_low", "limit_high", "mix_lr", "final_lr", "apm_rate",
    "match_min", "record_repeats", "lane_bytes", "max_lanes", "alphabet_size", "mode", "static", "adaptive",
    "trained", "bytes", "npy", "dtype", "shape", "fortran_order", "offset", "npy_header", "context", "hidden",
    "embed", "followers", "record_size",
)
_WORD_INDEX = {word: index for index, word in enumerate(WORDS)}
_MAX_DEPTH = 16


@dataclass(frozen=True)
class StreamHeader:
    """What the decoder must know before a member's first block.

    model: the model's registered name ("" when read from a v2/v3 header naming it by id);
    model_id: its registry id (0: named by `model`); fingerprint: as the member records it
    (`recorded_fingerprint`: 16 hex digits in v3, 32 in v1/v2), or None where the config
    alone determines the model (v2/v3 built-ins); version: of the member read (1, 2 or 3;
    streams are written as FORMAT_VERSION).
    """

    model: str
    config: dict[str, Any]
    fingerprint: str | None
    coder: str
    block_size: int
    kind: str = "bytes"
    extra: dict[str, Any] | None = None
    model_id: int = 0
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.extra is None:
            object.__setattr__(self, "extra", {})


@dataclass(frozen=True)
class BlockRecord:
    """One coded or stored block, as `codec` makes it and the container stores it.

    words: uint32[n_words] (empty for a stored block); nll_bits: the model's exact code
    length of the block; data_crc32: CRC-32 of the block's original bytes (set by whoever
    knows them: `codec` sees symbols only and leaves 0); stored: `raw` holds the block's
    original bytes and nothing was coded.
    """

    n_symbols: int
    lanes: int
    side_info: bytes
    words: np.ndarray
    nll_bits: float
    data_crc32: int = 0
    stored: bool = False
    raw: bytes = b""

    @property
    def payload_bits(self) -> int:
        return 8 * len(self.raw) if self.stored else 32 * len(self.words)


def recorded_fingerprint(fingerprint: str) -> str:
    """What a header written now records of a model's fingerprint (32 hex digits): its first FINGERPRINT_BYTES."""
    return fingerprint[:2 * FINGERPRINT_BYTES]


def fingerprint_matches(recorded: str, fingerprint: str) -> bool:
    """Whether a header's recorded fingerprint (checked: 16 or 32 hex digits) is that of a
    model whose fingerprint (32 hex digits) is `fingerprint`."""
    return len(recorded) >= 2 * FINGERPRINT_BYTES and fingerprint.startswith(recorded)


@dataclass(frozen=True)
class Trailer:
    """A member's end: v1 records the totals and the data CRC, v2/v3 the data CRC only (None:
    not recorded). of_one_block: a v3 short end, whose data CRC is the member's one coded block's."""

    n_symbols: int | None = None
    original_bytes: int | None = None
    data_crc32: int | None = None
    of_one_block: bool = False


@dataclass
class StreamTotals:
    """Running sums over a member's blocks: what a v1 trailer records, plus NLL and payload.

    Start from the bytes that precede the first block's data (an array's .npy header).
    """

    n_symbols: int = 0
    original_bytes: int = 0
    data_crc32: int = 0
    nll_bits: float = 0.0
    payload_bits: int = 0
    prefix_bytes: int = 0
    block_size: int = 0  # the member's (its header's); 0: not known (no short end)
    blocks: int = 0
    stored_blocks: int = 0

    @classmethod
    def starting_with(cls, prefix: bytes, block_size: int) -> StreamTotals:
        """Totals of a member of `block_size` whose original begins with `prefix` (an array's .npy header)."""
        return cls(original_bytes=len(prefix), data_crc32=zlib.crc32(prefix), prefix_bytes=len(prefix),
                   block_size=block_size)

    def add_record(self, record: BlockRecord) -> None:
        """Count a block's symbols, stored NLL and payload."""
        self.n_symbols += record.n_symbols
        self.nll_bits += record.nll_bits
        self.payload_bits += record.payload_bits
        self.blocks += 1
        self.stored_blocks += record.stored

    @property
    def is_one_coded_block(self) -> bool:
        """Whether the member so far is one coded block, shorter than the block size, and
        nothing else: its end record's data CRC would be the block's own (which its record
        holds), so a v3 end leaves it out. Shorter: every writer here fills a member's blocks
        but its last, so a member cut after its first block and given a short end is refused."""
        return (self.blocks == 1 and not self.stored_blocks and not self.prefix_bytes
                and self.n_symbols < self.block_size)

    def add_data(self, raw: bytes) -> None:
        """Count a block's original bytes and extend the running CRC."""
        self.original_bytes += len(raw)
        self.data_crc32 = zlib.crc32(raw, self.data_crc32)

    def trailer(self) -> Trailer:
        return Trailer(self.n_symbols, self.original_bytes, self.data_crc32)

    def matches(self, trailer: Trailer) -> bool:
        """Whether a trailer's totals (those it records) are these; a short end, whether the
        member is one coded block (whose data CRC the caller checked when decoding it)."""
        if trailer.of_one_block:
            return self.is_one_coded_block
        return all(value is None or value == mine for value, mine in zip(
            (trailer.n_symbols, trailer.original_bytes, trailer.data_crc32),
            (self.n_symbols, self.original_bytes, self.data_crc32)))


def _nll_units(nll_bits: float) -> int:
    """A block NLL in the 1/NLL_SCALE-bit units a v2/v3 record stores."""
    return round(float(nll_bits) * NLL_SCALE)


# ---------------------------------------------------------------- reading primitives


class MemberSource:
    """A binary stream read with a byte count, with bytes pushed back (`unread`: bytes read
    ahead looking for another member's magic return to the front)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pending = b""
        self.bytes_read = 0

    def read(self, size: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
        else:
            data = self._stream.read(size)
        self.bytes_read += len(data)
        return data

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending
        self.bytes_read -= len(data)


class _Checked:
    """Reads through `source`, keeping a CRC-32 of the bytes read (a v2/v3 block record's CRC)."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.crc = 0

    def read(self, size: int) -> bytes:
        data = self._source.read(size)
        self.crc = zlib.crc32(data, self.crc)
        return data


def _read_exact(stream: Any, size: int, what: str) -> bytearray:
    """Read exactly `size` bytes in bounded pieces; TruncatedStreamError if the stream ends first.

    The buffer grows only as data arrives, so a forged size allocates nothing up front, and
    it is returned as it is: no joined second copy of a large payload.
    """
    data = bytearray()
    while len(data) < size:
        piece = stream.read(min(size - len(data), _READ_PIECE))
        if not piece:
            raise TruncatedStreamError(f"truncated {what}: expected {size} bytes, found {len(data)}")
        data += piece
    return data


def _read_upto(stream: Any, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end of the stream (a pipe may return short reads)."""
    data = b""
    while len(data) < size and (piece := stream.read(size - len(data))):
        data += piece
    return data


class _Budget:
    """Reads a v2/v3 header: bytes seen are kept (for the header CRC) and bounded by MAX_HEADER_BYTES."""

    def __init__(self, source: Any, seen: bytes) -> None:
        self._source = source
        self.seen = bytearray(seen)

    def read(self, size: int) -> bytes:
        self._within_bound(size)
        data = bytes(_read_exact(self._source, size, "header"))
        self.seen += data
        return data

    def expect_header_bytes(self, size: int) -> None:
        """At least `size` more bytes of header follow (`_expect`)."""
        self._within_bound(size)
        _expect(self._source, size)

    def _within_bound(self, size: int) -> None:
        if len(self.seen) + size > MAX_HEADER_BYTES:
            raise CorruptStreamError(f"header longer than {MAX_HEADER_BYTES} bytes")

    @property
    def resumable(self) -> bool:
        """Whether the source keeps what earlier parses of this header decoded (`_decode_list`):
        the push reader's input, which parses a header from its start at each try."""
        return getattr(self._source, "header_lists", None) is not None

    def resume_list(self, start: int) -> tuple[list, int]:
        """The items an earlier parse decoded of the list at header offset `start` (here), and
        the offset after them, the source moved past them; ([], start) when there are none."""
        items, end = self._source.header_lists.get(start, ([], start))
        self.read(end - start)  # bytes that arrived before: a read that cannot fall short
        return items, end

    def remember_list(self, start: int, items: list, end: int) -> None:
        """What this parse decoded of the list at header offset `start`: `items`, up to `end`."""
        self._source.header_lists[start] = (items, end)


def varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant first, high bit = more follows."""
    if value < 0:
        raise ValueError(f"a varint is unsigned, got {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(source: Any, what: str) -> int:
    """A varint of at most 10 bytes (values < 2**70: zig-zagged 64-bit values, an int64 or
    uint64 array's offset, fit); CorruptStreamError for longer ones."""
    value = 0
    for shift in range(0, 70, 7):
        byte = _read_exact(source, 1, what)[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CorruptStreamError(f"malformed {what}: over-long varint")
            return value
    raise CorruptStreamError(f"malformed {what}: varint longer than 10 bytes")


def _zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -(value >> 1) - 1


# ---------------------------------------------------------------- compact values (configs, extra)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode_value(value: Any) -> bytes:
    """A JSON-like value (None, bool, int, float, str, list, dict with str keys) in compact form."""
    if value is None:
        return bytes([_T_NONE])
    if isinstance(value, bool):
        return bytes([_T_TRUE if value else _T_FALSE])
    if _is_int(value):
        if 0 <= value < _N_SMALL:
            return bytes([_T_SMALL + value])
        if not -(1 << 64) <= value < 1 << 64:
            raise ValueError(f"integer {value} is too large for a header")
        return bytes([_T_INT]) + varint(_zigzag(value))
    if isinstance(value, float):
        return bytes([_T_FLOAT]) + struct.pack("<d", value)
    if isinstance(value, str):
        if value in _WORD_INDEX:
            return bytes([_T_WORD + _WORD_INDEX[value]])
        data = value.encode()
        return bytes([_T_STR]) + varint(len(data)) + data
    if isinstance(value, (list, tuple)):
        return bytes([_T_LIST]) + varint(len(value)) + b"".join(encode_value(item) for item in value)
    if isinstance(value, dict):
        if value and all(key in _WORD_INDEX and _is_int(item) and -(1 << 64) <= item < 1 << 64
                         for key, item in value.items()):
            indices = sorted(_WORD_INDEX[key] for key in value)
            mask = sum(1 << index for index in indices)
            return bytes([_T_INTS]) + varint(mask) + b"".join(varint(_zigzag(value[WORDS[i]])) for i in indices)
        if not all(isinstance(key, str) for key in value):
            raise ValueError("header dict keys must be strings")
        return bytes([_T_DICT]) + varint(len(value)) + b"".join(
            encode_value(key) + encode_value(item) for key, item in sorted(value.items()))
    raise ValueError(f"a header cannot hold a {type(value).__name__}")


def _expect(source: Any, size: int) -> None:
    """Tell a source that can say so (`_Budget`, the push reader's input) that the value being
    read takes `size` more bytes at least, before they are read one value at a time: a bound on
    the header refuses it at once, and a parser waiting for input waits for all of them instead
    of parsing again at each piece that arrives."""
    expect = getattr(source, "expect_header_bytes", None)
    if expect is not None:
        expect(size)


def _decode_list(source: Any, count: int, depth: int) -> list:
    """A list's `count` items. Over a resumable source (`_Budget.resumable`) a parse that stops
    inside the list (its input has not all arrived) leaves what it decoded, and the next parse
    goes on from there, so a long list is decoded once however its bytes arrive. The premise:
    the bytes at a header offset never change between parses (the input only grows)."""
    if not getattr(source, "resumable", False):
        return [decode_value(source, depth + 1) for _ in range(count)]
    start = len(source.seen)
    items, end = source.resume_list(start)
    try:
        while len(items) < count:
            items.append(decode_value(source, depth + 1))
            end = len(source.seen)
    finally:  # also when complete: a parse may still stop after the list, before the header's end
        source.remember_list(start, items, end)
    return items


def decode_value(source: Any, depth: int = 0) -> Any:
    """Inverse of `encode_value`; CorruptStreamError for anything malformed."""
    if depth > _MAX_DEPTH:
        raise CorruptStreamError("malformed header: values nested too deeply")
    tag = source.read(1)[0]
    if tag >= _T_WORD:
        if tag - _T_WORD >= len(WORDS):
            raise CorruptStreamError(f"malformed header: unknown word {tag - _T_WORD}")
        return WORDS[tag - _T_WORD]
    if tag >= _T_SMALL:
        return tag - _T_SMALL
    if tag in (_T_NONE, _T_FALSE, _T_TRUE):
        return (None, False, True)[tag]
    if tag == _T_INT:
        return _unzigzag(read_varint(source, "header"))
    if tag == _T_FLOAT:
        return struct.unpack("<d", source.read(8))[0]
    if tag == _T_STR:
        try:
            return source.read(read_varint(source, "header")).decode()
        except UnicodeDecodeError:
            raise CorruptStreamError("malformed header: a string is not UTF-8") from None
    if tag == _T_LIST:
        count = read_varint(source, "header")
        _expect(source, count)  # one byte an item at least
        return _decode_list(source, count, depth)
    if tag == _T_DICT:
        out: dict[str, Any] = {}
        count = read_varint(source, "header")
        _expect(source, 2 * count)  # a key and a value an entry
        for _ in range(count):
            key = decode_value(source, depth + 1)
            if not isinstance(key, str) or key in out:
                raise CorruptStreamError("malformed header: a dict key is not a new string")
            out[key] = decode_value(source, depth + 1)
        return out
    if tag == _T_INTS:
        mask = read_varint(source, "header")
        if mask >> len(WORDS) or not mask:
            raise CorruptStreamError("malformed header: bad key mask")
        return {WORDS[i]: _unzigzag(read_varint(source, "header")) for i in range(len(WORDS)) if mask >> i & 1}
    raise CorruptStreamError(f"malformed header: unknown value tag {tag}")


def _encode_name(name: str) -> bytes:
    data = name.encode()
    if not 0 < len(data) <= MAX_NAME_BYTES:
        raise ValueError(f"a name in the header has 1 to {MAX_NAME_BYTES} bytes, not {len(data)}")
    return varint(len(data)) + data


def _decode_name(source: Any, what: str) -> str:
    length = read_varint(source, "header")
    if not 0 < length <= MAX_NAME_BYTES:
        raise CorruptStreamError(f"malformed header: {what} of {length} bytes")
    try:
        name = source.read(length).decode()
    except UnicodeDecodeError:
        raise CorruptStreamError(f"malformed header: {what} is not UTF-8") from None
    if not name.isprintable():  # names are printed in error messages
        raise CorruptStreamError(f"malformed header: {what} holds control characters")
    return name


# ---------------------------------------------------------------- copies (kind "copies")


def copies_extra(copies: CopyList, crc32: int) -> dict[str, Any]:
    """The header extra of a member of kind COPIES_KIND: its copies, (literals before the copy
    since the previous copy, distance back from the copy's output position, length) each,
    flattened, and the CRC-32 of its whole output (literals and copies)."""
    return {"copies": [value for copy in copies for value in copy], "crc32": crc32}


def decode_copies(header: StreamHeader) -> tuple[CopyList, int] | None:
    """A member's copies and output CRC-32 (`copies_extra`), checked; None for a member of
    another kind. A copy starts at most MAX_COPY_DISTANCE back (it may overlap itself: length >
    distance repeats the last `distance` bytes), and a member's copies add at most
    MAX_COPY_DISTANCE bytes, so a forged member cannot make the decoder reach further back or
    produce more than that from it (the bound is per member: a stream of many members may expand
    each by that much)."""
    if header.kind != COPIES_KIND:
        return None
    flat, crc32 = header.extra.get("copies"), header.extra.get("crc32")
    if not (isinstance(flat, list) and len(flat) % 3 == 0 and all(_is_int(value) and value >= 0 for value in flat)
            and _is_int(crc32) and 0 <= crc32 < 1 << 32 and set(header.extra) == {"copies", "crc32"}):
        raise CorruptStreamError("malformed header: bad copy list")
    copies = list(zip(flat[0::3], flat[1::3], flat[2::3]))
    if not all(1 <= distance <= MAX_COPY_DISTANCE and 1 <= length for _, distance, length in copies) or \
            sum(length for _, _, length in copies) > MAX_COPY_DISTANCE:
        raise CorruptStreamError("malformed header: a copy out of range")
    return copies, crc32


# ---------------------------------------------------------------- writing (v3)


def encode_header(header: StreamHeader) -> bytes:
    """A v3 header: the model by registry id (else name), its config or recorded fingerprint
    (16 hex digits: `recorded_fingerprint`), the rest only where it differs from the defaults;
    then a CRC-16 of all of it."""
    flags = _CODERS.index(header.coder) if header.coder in _CODERS else _CODER_BITS
    body = bytearray()
    body += varint(header.model_id)
    if not header.model_id:
        body += _encode_name(header.model)
    if header.fingerprint is not None:
        if not _FINGERPRINT[FORMAT_VERSION].fullmatch(header.fingerprint):
            raise ValueError(f"a header records {2 * FINGERPRINT_BYTES} hex digits of a fingerprint, "
                             f"not {header.fingerprint!r}")
        flags |= _FLAG_FINGERPRINT
        body += bytes.fromhex(header.fingerprint)
    else:
        body += encode_value(dict(header.config))
    if flags & _CODER_BITS == _CODER_BITS:
        body += _encode_name(header.coder)
    if header.kind != "bytes" or header.extra:
        flags |= _FLAG_LAYOUT
        body += encode_value(header.kind) + encode_value(dict(header.extra))
    if header.block_size != DEFAULT_BLOCK_SIZE:
        flags |= _FLAG_BLOCK_SIZE
        body += varint(header.block_size)
    head = MAGIC + bytes([FORMAT_VERSION, flags]) + body
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return head + _CRC16.pack(binascii.crc_hqx(head, 0xFFFF))


def _payload_bytes(words: np.ndarray) -> bytes:
    """The words' bytes without up to 3 trailing 0xFF bytes of the last word (the reader pads
    them back, so the words are restored exactly: n_words = ceil(n_bytes / 4))."""
    data = np.asarray(words, dtype="<u4").tobytes()
    end = len(data)
    while end > len(data) - 3 and end > 0 and data[end - 1] == 0xFF:
        end -= 1
    return data[:end]


def encode_block(record: BlockRecord) -> bytes:
    """A block record (v2 and v3 alike) with its payload and CRC-32."""
    if not 0 < record.n_symbols <= MAX_BLOCK_SYMBOLS:
        raise ValueError(f"a block holds 1 to {MAX_BLOCK_SYMBOLS} symbols, not {record.n_symbols}")
    side = b"" if record.stored else record.side_info
    head = record.n_symbols << _HEAD_BITS | (_STORED if record.stored else 0)
    fields = bytearray()
    if record.lanes > 1:
        head |= _HAS_LANES
        fields += varint(record.lanes)
    if side:
        head |= _HAS_SIDE
        fields += varint(len(side))
    fields += varint(_nll_units(record.nll_bits))
    if record.stored:
        payload = bytes(record.raw)
    else:
        payload = _payload_bytes(record.words)
        fields += varint(len(payload)) + _CRC.pack(record.data_crc32)
    out = varint(head) + fields + side + payload
    return out + _CRC.pack(zlib.crc32(out))


def encode_end(data_crc32: int | None, kind: str) -> bytes:
    """The end record of a member of `kind`: data_crc32 is the CRC-32 of the member's whole
    original, or None for the short end of a member of one coded block
    (`StreamTotals.is_one_coded_block`)."""
    head = _END_OF_COPIES if kind == COPIES_KIND else _END
    if data_crc32 is None:
        return bytes([head | _END_OF_ONE_BLOCK])
    return bytes([head]) + _CRC.pack(data_crc32)


def encode_member(header: StreamHeader, records: list[BlockRecord], data_crc32: int | None) -> bytes:
    """A whole member: header, blocks, end record (for tests and tools that forge streams)."""
    return (encode_header(header) + b"".join(encode_block(record) for record in records)
            + encode_end(data_crc32, header.kind))


# ---------------------------------------------------------------- reading


def read_header(source: Any) -> StreamHeader:
    """A member's header (v1, v2 or v3), its CRC checked. Reads nothing past it."""
    preamble = _read_upto(source, 5)
    if not preamble:
        raise CorruptStreamError("not a deepcompress file (empty input)")
    if not (preamble.startswith(MAGIC) or MAGIC.startswith(preamble)):
        raise CorruptStreamError(f"not a deepcompress file (magic {preamble[:4]!r})")
    if len(preamble) < 5:
        raise TruncatedStreamError("truncated header")
    version = preamble[4]
    if version == 1:
        return _read_header_v1(source, preamble)
    if version not in READABLE_VERSIONS:
        raise UnsupportedVersionError(
            f"unsupported format version {version} (this version reads {', '.join(map(str, READABLE_VERSIONS))})")
    return _read_header_v2(source, preamble, version)


def _read_header_v2(source: Any, preamble: bytes, version: int) -> StreamHeader:
    """A v2 or v3 header (they differ in the fingerprint's length)."""
    budget = _Budget(source, preamble)
    flags = budget.read(1)[0]
    if flags & _FLAG_RESERVED:
        raise CorruptStreamError(f"malformed header: reserved flags {flags:#04x}")
    model_id = read_varint(budget, "header")
    model = "" if model_id else _decode_name(budget, "model name")
    fingerprint, config = None, {}
    if flags & _FLAG_FINGERPRINT:
        fingerprint = budget.read(_FINGERPRINT_BYTES[version]).hex()
    else:
        config = decode_value(budget)
    coder_bits = flags & _CODER_BITS
    coder = _decode_name(budget, "coder") if coder_bits == _CODER_BITS else _CODERS[coder_bits]
    kind, extra = "bytes", {}
    if flags & _FLAG_LAYOUT:
        kind, extra = decode_value(budget), decode_value(budget)
    block_size = read_varint(budget, "header") if flags & _FLAG_BLOCK_SIZE else DEFAULT_BLOCK_SIZE
    seen = bytes(budget.seen)
    (crc,) = _CRC16.unpack(_read_exact(source, 2, "header"))
    if crc != binascii.crc_hqx(seen, 0xFFFF):
        raise CorruptStreamError("header checksum mismatch")
    header = StreamHeader(model, config, fingerprint, coder, block_size, kind, extra, model_id, version)
    return _check_header(header)


def _check_header(header: StreamHeader) -> StreamHeader:
    for name, expected in {"model": str, "config": dict, "coder": str, "kind": str, "extra": dict}.items():
        if not isinstance(getattr(header, name), expected):
            raise CorruptStreamError(f"malformed header: {name} is not a {expected.__name__}")
    if header.fingerprint is not None and not (
            isinstance(header.fingerprint, str) and _FINGERPRINT[header.version].fullmatch(header.fingerprint)):
        raise CorruptStreamError("malformed header: fingerprint is not hex digits")  # printed in messages
    if not (_is_int(header.block_size) and 0 < header.block_size <= MAX_BLOCK_SYMBOLS):
        raise CorruptStreamError(f"block size {header.block_size!r} out of range")
    return header


def read_block(source: Any, header: StreamHeader, item_size: int = 1) -> BlockRecord | Trailer:
    """The member's next block, or its end record (checked). Checks sizes and the block CRC.

    item_size: bytes per element of a stored block. Reads nothing past the end record: what
    follows it is the caller's (another member). The caller checks a trailer's data CRC
    against what it decoded.
    """
    if header.version == 1:
        return _read_block_v1(source, header)
    if not 1 <= item_size <= MAX_ITEM_BYTES:
        raise ValueError(f"item size {item_size} out of range")
    plain, source = source, _Checked(source)  # the record CRC covers all but itself
    head = read_varint(source, "block header")
    if head == _END or (header.version >= 3 and head <= _END_OF_COPIES | _END_OF_ONE_BLOCK):
        if header.version >= 3 and bool(head & _END_OF_COPIES) != (header.kind == COPIES_KIND):
            said = COPIES_KIND if head & _END_OF_COPIES else f"other than {COPIES_KIND}"
            raise CorruptStreamError(f"the end record of a member of kind {said} ends one of kind {header.kind}")
        if head & _END_OF_ONE_BLOCK:
            return Trailer(of_one_block=True)
        return Trailer(data_crc32=_CRC.unpack(_read_exact(source, 4, "end of stream"))[0])
    n_symbols, stored = head >> _HEAD_BITS, bool(head & _STORED)
    if not 0 < n_symbols <= header.block_size or (stored and head & _HAS_SIDE):
        raise CorruptStreamError(f"block of {n_symbols} symbols is out of range (block size {header.block_size})")
    lanes = read_varint(source, "block header") if head & _HAS_LANES else 1
    side_length = read_varint(source, "block header") if head & _HAS_SIDE else 0
    if not 1 <= lanes <= n_symbols or (head & _HAS_LANES and lanes == 1):
        raise CorruptStreamError(f"block of {n_symbols} symbols in {lanes} lanes is out of range")
    if not (side_length <= MAX_SIDE_BYTES and (side_length or not head & _HAS_SIDE)):
        raise CorruptStreamError(f"block sizes out of range ({side_length} side bytes)")
    nll_bits = read_varint(source, "block header") / NLL_SCALE
    if stored:
        payload_length, data_crc = n_symbols * item_size, 0
    else:
        payload_length = read_varint(source, "block header")
        if payload_length > 4 * (8 * n_symbols + 64):
            raise CorruptStreamError(f"block sizes out of range ({payload_length} payload bytes)")
        (data_crc,) = _CRC.unpack(_read_exact(source, 4, "block header"))
    side_info = bytes(_read_exact(source, side_length, "block side info"))
    payload = _read_exact(source, payload_length, "block payload")
    record_crc = source.crc
    (crc,) = _CRC.unpack(_read_exact(plain, 4, "block"))
    if crc != record_crc:
        raise CorruptStreamError("block checksum mismatch")
    if stored:
        return BlockRecord(n_symbols, lanes, b"", np.zeros(0, np.uint32), nll_bits, zlib.crc32(payload), True,
                           bytes(payload))
    payload += b"\xff" * (-len(payload) % 4)
    words = np.frombuffer(bytes(payload), dtype="<u4").astype(np.uint32, copy=False)
    return BlockRecord(n_symbols, lanes, side_info, words, nll_bits, data_crc)


def _read_header_v1(source: Any, preamble: bytes) -> StreamHeader:
    """Legacy: magic | version 1 | length u32 | JSON | crc32 u32."""
    rest = _read_exact(source, 4, "header")
    (length,) = struct.unpack("<I", rest)
    if length > MAX_HEADER_BYTES:
        raise CorruptStreamError(f"header length {length} exceeds {MAX_HEADER_BYTES}")
    body = _read_exact(source, length, "header")
    (crc,) = _CRC.unpack(_read_exact(source, 4, "header"))
    if crc != zlib.crc32(bytes(preamble) + rest + body):
        raise CorruptStreamError("header checksum mismatch")
    try:
        fields = json.loads(body)
        if not isinstance(fields, dict) or {"version", "model_id"} & set(fields):
            raise TypeError("not a header object")
        header = StreamHeader(**fields, version=1)
    except (ValueError, TypeError, RecursionError) as error:  # RecursionError: deeply nested JSON
        raise CorruptStreamError(f"malformed header: {error}") from None
    if header.fingerprint is None:
        raise CorruptStreamError("malformed header: fingerprint is not hex digits")
    return _check_header(header)


_BLOCK_V1 = struct.Struct("<IIIIdII")
_END_V1 = struct.Struct("<IQQI")


def _read_block_v1(source: Any, header: StreamHeader) -> BlockRecord | Trailer:
    """Legacy: n_symbols, lanes, side_length, n_words u32 | nll f64 | data, payload, record crc32."""
    first = _read_exact(source, 4, "block header")
    if first == bytes(4):
        fields = first + _read_exact(source, _END_V1.size - 4, "end of stream")
        (crc,) = _CRC.unpack(_read_exact(source, _CRC.size, "end of stream"))
        if crc != zlib.crc32(fields):
            raise CorruptStreamError("end-of-stream checksum mismatch")
        return Trailer(*_END_V1.unpack(fields)[1:])
    fields = first + _read_exact(source, _BLOCK_V1.size - 4, "block header")
    (crc,) = _CRC.unpack(_read_exact(source, _CRC.size, "block header"))
    if crc != zlib.crc32(fields):
        raise CorruptStreamError("block header checksum mismatch")
    n_symbols, lanes, side_length, n_words, nll_bits, data_crc, payload_crc = _BLOCK_V1.unpack(fields)
    if n_symbols > header.block_size or not 1 <= lanes <= n_symbols:
        raise CorruptStreamError(f"block of {n_symbols} symbols in {lanes} lanes is out of range")
    if side_length > MAX_SIDE_BYTES or n_words > 8 * n_symbols + 64:
        raise CorruptStreamError(f"block sizes out of range ({side_length} side bytes, {n_words} words)")
    side_info = bytes(_read_exact(source, side_length, "block side info"))
    words = _read_exact(source, 4 * n_words, "block payload")
    if zlib.crc32(words, zlib.crc32(side_info)) != payload_crc:
        raise CorruptStreamError("block payload checksum mismatch")
    return BlockRecord(n_symbols, lanes, side_info, np.frombuffer(words, dtype="<u4").astype(np.uint32, copy=False),
                       nll_bits, data_crc)


def next_member(source: MemberSource) -> bool:
    """After a member's end: True if another member follows (its magic is next), False at the
    end of the input; CorruptStreamError for anything else after the end."""
    ahead = _read_upto(source, len(MAGIC))
    if not ahead:
        return False
    source.unread(ahead)
    if not (ahead.startswith(MAGIC) or (len(ahead) < len(MAGIC) and MAGIC.startswith(ahead))):
        raise CorruptStreamError("trailing data after the end of the stream")
    return True
