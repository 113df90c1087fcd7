"""The parts of a format-2 or -3 .dcz member, parsed from README.md's format table, for tools that forge streams.

`parse(blob)` splits a *valid* single-member stream; editing a part and calling `to_bytes()`
re-serialises it with the header CRC-16 and the block CRC-32s recomputed, so a forged field
reaches the decoder's size and value checks instead of its checksums. The end record keeps
the CRC-32 of the original data as written (a tool cannot recompute it without decoding);
a v3 short end (marker 1) has none. `as_version_3(blob)` rewrites a valid v2 member as v3
writes it: what the two versions share is byte for byte the same. Config/kind/extra values are kept as their encoded bytes; only their
encoding (`container.encode_value`) is borrowed from the package, the framing is read here.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np

from deepcompress import container

MAGIC = b"\x89DCZ"
U32 = struct.Struct("<I")
CODER_BITS, FINGERPRINT, LAYOUT, BLOCK_SIZE = 0b11, 1 << 2, 1 << 3, 1 << 4
STORED, HAS_SIDE, HAS_LANES = 1, 2, 4
FINGERPRINT_BYTES = {2: 16, 3: 8}  # by version
SHORT_END = b"\x01"  # v3 end marker bits: 1 short (no CRC), 2 the member is of kind "copies"
COPIES_END = 2


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _value_end(data: bytes, position: int) -> int:
    source = io.BytesIO(data[position:])
    container.decode_value(source)
    return position + source.tell()


@dataclass
class Header:
    """flags as written (the coder bits, reserved bits); the optional parts as bytes or None."""

    version: int
    flags: int
    model_id: int
    name: bytes | None  # the model's name, when model_id is 0
    fingerprint: bytes | None  # 16 bytes (v2) or 8 (v3), or None: config follows
    config: bytes  # an encoded value
    coder: bytes | None  # the coder's name when the coder bits are 3
    layout: bytes | None  # encoded kind + extra
    block_size: int | None
    magic: bytes = MAGIC

    def to_bytes(self) -> bytes:
        head = bytearray(self.magic + bytes([self.version, self.flags]) + varint(self.model_id))
        if self.name is not None:
            head += varint(len(self.name)) + self.name
        head += self.fingerprint if self.fingerprint is not None else self.config
        if self.coder is not None:
            head += varint(len(self.coder)) + self.coder
        if self.layout is not None:
            head += self.layout
        if self.block_size is not None:
            head += varint(self.block_size)
        return bytes(head) + struct.pack("<H", binascii.crc_hqx(bytes(head), 0xFFFF))


@dataclass
class Block:
    """One block; `lanes`/`side_length` None: not present (their flag clear)."""

    n_symbols: int
    stored: bool
    lanes: int | None
    side_length: int | None
    nll: int  # in 1/8 bits
    payload_length: int | None  # coded blocks only
    data_crc32: int | None  # coded blocks only
    side: bytes
    payload: bytes
    fields_end: int = 0  # offset of the side info within the block, set by to_bytes

    def head(self) -> int:
        flags = (STORED if self.stored else 0) | (HAS_SIDE if self.side_length is not None else 0)
        return self.n_symbols << 3 | flags | (HAS_LANES if self.lanes is not None else 0)

    def to_bytes(self) -> bytes:
        out = bytearray(varint(self.head()))
        if self.lanes is not None:
            out += varint(self.lanes)
        if self.side_length is not None:
            out += varint(self.side_length)
        out += varint(self.nll)
        if self.payload_length is not None:
            out += varint(self.payload_length)
        if self.data_crc32 is not None:
            out += U32.pack(self.data_crc32)
        self.fields_end = len(out)
        out += self.side + self.payload
        return bytes(out) + U32.pack(zlib.crc32(bytes(out)))

    def reseal(self) -> None:
        """Make the declared sizes agree with the side info and payload as they are now."""
        if self.side_length is not None or self.side:
            self.side_length = len(self.side) if self.side else None
        if not self.stored:
            self.payload_length = len(self.payload)


@dataclass
class Member:
    header: Header
    blocks: list[Block] = field(default_factory=list)
    end_marker: bytes = b"\x00"  # v3: copies? << 1 | short (1: no CRC follows)
    data_crc32: int = 0  # the end record's CRC of the original data

    def to_bytes(self) -> bytes:
        out = self.header.to_bytes() + b"".join(block.to_bytes() for block in self.blocks) + self.end_marker
        return out if self.end_marker[0] & 1 else out + U32.pack(self.data_crc32)

    def boundaries(self) -> list[int]:
        """Every offset where a field or record starts or ends."""
        head = self.header.to_bytes()
        offsets = [0, 4, 5, 6, 7, len(head) - 2, len(head)]
        position = len(head)
        for block in self.blocks:
            encoded = block.to_bytes()
            offsets += [position, position + 1, position + block.fields_end - (4 if block.data_crc32 is not None else 0),
                        position + block.fields_end, position + block.fields_end + len(block.side),
                        position + len(encoded) - 4]
            position += len(encoded)
        offsets += [position, position + 1] + ([] if self.end_marker[0] & 1 else [position + 5])
        return sorted(set(offsets))


def parse(blob: bytes) -> Member:
    """Split a valid single-member version-2 or -3 stream into its parts."""
    assert blob[:4] == MAGIC and blob[4] in FINGERPRINT_BYTES, "not a version-2 or -3 member"
    flags = blob[5]
    model_id, position = _read_varint(blob, 6)
    name = None
    if not model_id:
        length, position = _read_varint(blob, position)
        name, position = blob[position : position + length], position + length
    fingerprint, config = None, b""
    if flags & FINGERPRINT:
        size = FINGERPRINT_BYTES[blob[4]]
        fingerprint, position = blob[position : position + size], position + size
    else:
        end = _value_end(blob, position)
        config, position = blob[position:end], end
    coder = None
    if flags & CODER_BITS == CODER_BITS:
        length, position = _read_varint(blob, position)
        coder, position = blob[position : position + length], position + length
    layout, item_size = None, 1
    if flags & LAYOUT:
        end = _value_end(blob, _value_end(blob, position))
        layout, position = blob[position:end], end
        source = io.BytesIO(layout)
        kind, extra = container.decode_value(source), container.decode_value(source)
        if kind == "npy":  # a stored block's elements; kind "copies" holds bytes
            item_size = np.dtype(extra["dtype"]).itemsize
    block_size = None
    if flags & BLOCK_SIZE:
        block_size, position = _read_varint(blob, position)
    header = Header(blob[4], flags, model_id, name, fingerprint, config, coder, layout, block_size)
    position += 2
    member = Member(header)
    while blob[position] not in (0, 1, 2, 3):
        head, position = _read_varint(blob, position)
        lanes = side_length = payload_length = data_crc = None
        if head & HAS_LANES:
            lanes, position = _read_varint(blob, position)
        if head & HAS_SIDE:
            side_length, position = _read_varint(blob, position)
        nll, position = _read_varint(blob, position)
        stored = bool(head & STORED)
        if not stored:
            payload_length, position = _read_varint(blob, position)
            data_crc, position = U32.unpack_from(blob, position)[0], position + 4
        side, position = blob[position : position + (side_length or 0)], position + (side_length or 0)
        size = payload_length if not stored else (head >> 3) * item_size
        payload, position = blob[position : position + size], position + size + 4
        member.blocks.append(Block(head >> 3, stored, lanes, side_length, nll, payload_length, data_crc, side, payload))
    member.end_marker = blob[position : position + 1]
    if not member.end_marker[0] & 1:
        member.data_crc32 = U32.unpack_from(blob, position + 1)[0]
    assert member.to_bytes() == blob, "stream does not follow the documented layout"
    return member


def as_version_3(blob: bytes) -> bytes:
    """A valid single-member v2 stream as v3 writes the same member: the fingerprint's first
    8 bytes, the short end for one coded block shorter than the block size, of bytes
    (kind "bytes" or "copies": no .npy header), and the end's copies bit."""
    member = parse(blob)
    assert member.header.version == 2, "not a version-2 member"
    member.header.version = 3
    if member.header.fingerprint is not None:
        member.header.fingerprint = member.header.fingerprint[:FINGERPRINT_BYTES[3]]
    block_size = member.header.block_size or container.DEFAULT_BLOCK_SIZE
    if len(member.blocks) == 1 and not member.blocks[0].stored and member.blocks[0].n_symbols < block_size \
            and not _npy_header(member.header):
        member.end_marker = SHORT_END
    if _layout(member.header)[0] == container.COPIES_KIND:
        member.end_marker = bytes([member.end_marker[0] | COPIES_END])
    return member.to_bytes()


def _layout(header: Header) -> tuple:
    """(kind, extra) of a header."""
    if header.layout is None:
        return "bytes", {}
    source = io.BytesIO(header.layout)
    return container.decode_value(source), container.decode_value(source)


def _npy_header(header: Header) -> bytes:
    """The .npy header that begins the member's original (b"" but for kind "npy")."""
    kind, extra = _layout(header)
    return base64.b64decode(extra["npy_header"]) if kind == "npy" else b""
