"""The .dcz file format: a checked header, coded blocks, and a trailer. Knows no models.

Every integer is little-endian. Layout:

    stream  = header block* end
    header  = magic "\\x89DCZ" | version u8 | length u32 | JSON (UTF-8) | crc32 u32
    block   = n_symbols u32 (> 0) | lanes u32 | side_length u32 | n_words u32 | nll_bits f64
              | data_crc32 u32 | payload_crc32 u32 | block_crc32 u32 | side_info | words (u32 each)
    end     = 0 u32 | n_symbols u64 | original_bytes u64 | data_crc32 u32 | crc32 u32

The JSON header names the model (name, config, fingerprint), the coder, the block size
and the kind of data; crc32s cover: the header bytes before them; each block record's
fields (block_crc32); the side info + words (payload_crc32, checked *before* decoding);
the block's original data (data_crc32, checked after decoding); and the whole original
(trailer). Declared sizes are bounded and read in pieces, so a forged size never causes a
huge allocation: a lying length ends in `TruncatedStreamError`.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np

from deepcompress.errors import CorruptStreamError, TruncatedStreamError, UnsupportedVersionError

MAGIC = b"\x89DCZ"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
# Bounds what one block can make the decoder hold, forged or not: ~60 bytes per decoded symbol
# plus its words (<= 32 bytes per symbol) twice, ours and the coder's copy; ~0.5 GB in all.
MAX_BLOCK_SYMBOLS = 1 << 22
MAX_SIDE_BYTES = 1 << 24
_READ_PIECE = 1 << 20
_FINGERPRINT = re.compile("[0-9a-f]{32}")

_PREAMBLE = struct.Struct("<4sBI")
_BLOCK = struct.Struct("<IIIIdII")
_CRC = struct.Struct("<I")
_END = struct.Struct("<IQQI")


@dataclass(frozen=True)
class StreamHeader:
    """What the decoder must know before the first block."""

    model: str
    config: dict[str, Any]
    fingerprint: str
    coder: str
    block_size: int
    kind: str = "bytes"
    extra: dict[str, Any] = field(default_factory=dict)


_HEADER_DEFAULTS = {"kind": "bytes", "extra": {}}


@dataclass(frozen=True)
class BlockRecord:
    """One coded block, as `codec` makes it and the container stores it. words: uint32[n_words].

    nll_bits: the model's exact code length of the block; data_crc32: CRC-32 of the block's
    original bytes (set by whoever knows them: `codec` sees symbols only and leaves 0).
    """

    n_symbols: int
    lanes: int
    side_info: bytes
    words: np.ndarray
    nll_bits: float
    data_crc32: int = 0

    @property
    def payload_bits(self) -> int:
        return 32 * len(self.words)


@dataclass(frozen=True)
class Trailer:
    n_symbols: int
    original_bytes: int
    data_crc32: int


@dataclass
class StreamTotals:
    """Running sums over a stream's blocks: what the trailer records, plus NLL and payload.

    Start from the bytes that precede the first block's data (an array's .npy header).
    """

    n_symbols: int = 0
    original_bytes: int = 0
    data_crc32: int = 0
    nll_bits: float = 0.0
    payload_bits: int = 0

    @classmethod
    def starting_with(cls, prefix: bytes) -> StreamTotals:
        return cls(original_bytes=len(prefix), data_crc32=zlib.crc32(prefix))

    def add_record(self, record: BlockRecord) -> None:
        """Count a block's symbols, stored NLL and payload."""
        self.n_symbols += record.n_symbols
        self.nll_bits += record.nll_bits
        self.payload_bits += record.payload_bits

    def add_data(self, raw: bytes) -> None:
        """Count a block's original bytes and extend the running CRC."""
        self.original_bytes += len(raw)
        self.data_crc32 = zlib.crc32(raw, self.data_crc32)

    def trailer(self) -> Trailer:
        return Trailer(self.n_symbols, self.original_bytes, self.data_crc32)


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytearray:
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


def encode_header(header: StreamHeader) -> bytes:
    fields = {key: value for key, value in asdict(header).items() if value != _HEADER_DEFAULTS.get(key)}
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(body)} bytes exceeds {MAX_HEADER_BYTES}")
    head = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(body)) + body
    return head + _CRC.pack(zlib.crc32(head))


def read_header(stream: BinaryIO) -> StreamHeader:
    preamble = stream.read(_PREAMBLE.size)
    if not preamble:
        raise CorruptStreamError("not a deepcompress file (empty input)")
    if not (preamble.startswith(MAGIC) or MAGIC.startswith(preamble)):
        raise CorruptStreamError(f"not a deepcompress file (magic {preamble[:4]!r})")
    if len(preamble) < _PREAMBLE.size:
        raise TruncatedStreamError("truncated header")
    _, version, length = _PREAMBLE.unpack(preamble)
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(f"unsupported format version {version} (this version reads {FORMAT_VERSION})")
    if length > MAX_HEADER_BYTES:
        raise CorruptStreamError(f"header length {length} exceeds {MAX_HEADER_BYTES}")
    body = _read_exact(stream, length, "header")
    (crc,) = _CRC.unpack(_read_exact(stream, _CRC.size, "header"))
    if crc != zlib.crc32(preamble + body):
        raise CorruptStreamError("header checksum mismatch")
    try:
        header = StreamHeader(**json.loads(body))
    except (ValueError, TypeError, RecursionError) as error:  # RecursionError: deeply nested JSON
        raise CorruptStreamError(f"malformed header: {error}") from None
    expected_types = {"model": str, "config": dict, "fingerprint": str, "coder": str, "kind": str, "extra": dict}
    for name, expected in expected_types.items():
        if not isinstance(getattr(header, name), expected):
            raise CorruptStreamError(f"malformed header: {name} is not a {expected.__name__}")
    if not _FINGERPRINT.fullmatch(header.fingerprint):  # it is printed in error messages: no control characters
        raise CorruptStreamError("malformed header: fingerprint is not 32 hex digits")
    if not (isinstance(header.block_size, int) and 0 < header.block_size <= MAX_BLOCK_SYMBOLS):
        raise CorruptStreamError(f"block size {header.block_size!r} out of range")
    return header


def encode_block(record: BlockRecord) -> bytes:
    words = np.asarray(record.words, dtype="<u4").tobytes()
    payload_crc = zlib.crc32(words, zlib.crc32(record.side_info))
    fields = _BLOCK.pack(
        record.n_symbols, record.lanes, len(record.side_info), len(record.words),
        record.nll_bits, record.data_crc32, payload_crc,
    )
    return fields + _CRC.pack(zlib.crc32(fields)) + record.side_info + words


def encode_end(trailer: Trailer) -> bytes:
    fields = _END.pack(0, trailer.n_symbols, trailer.original_bytes, trailer.data_crc32)
    return fields + _CRC.pack(zlib.crc32(fields))


def read_block(stream: BinaryIO, header: StreamHeader) -> BlockRecord | Trailer:
    """The next block, or the trailer at the end. Checks sizes and the payload checksum.

    Reads nothing past the end record: what follows it is the caller's (another member)."""
    first = _read_exact(stream, 4, "block header")
    if first == bytes(4):
        return _read_end(stream, first)
    fields = first + _read_exact(stream, _BLOCK.size - 4, "block header")
    (crc,) = _CRC.unpack(_read_exact(stream, _CRC.size, "block header"))
    if crc != zlib.crc32(fields):
        raise CorruptStreamError("block header checksum mismatch")
    n_symbols, lanes, side_length, n_words, nll_bits, data_crc, payload_crc = _BLOCK.unpack(fields)
    if n_symbols > header.block_size or not 1 <= lanes <= n_symbols:
        raise CorruptStreamError(f"block of {n_symbols} symbols in {lanes} lanes is out of range")
    if side_length > MAX_SIDE_BYTES or n_words > 8 * n_symbols + 64:
        raise CorruptStreamError(f"block sizes out of range ({side_length} side bytes, {n_words} words)")
    side_info = bytes(_read_exact(stream, side_length, "block side info"))
    words = _read_exact(stream, 4 * n_words, "block payload")
    if zlib.crc32(words, zlib.crc32(side_info)) != payload_crc:
        raise CorruptStreamError("block payload checksum mismatch")
    return BlockRecord(n_symbols, lanes, side_info, np.frombuffer(words, dtype="<u4").astype(np.uint32, copy=False), nll_bits, data_crc)


def _read_end(stream: BinaryIO, first: bytes) -> Trailer:
    fields = first + _read_exact(stream, _END.size - 4, "end of stream")
    (crc,) = _CRC.unpack(_read_exact(stream, _CRC.size, "end of stream"))
    if crc != zlib.crc32(fields):
        raise CorruptStreamError("end-of-stream checksum mismatch")
    return Trailer(*_END.unpack(fields)[1:])
