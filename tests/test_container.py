"""deepcompress.container: the .dcz format, pinned by golden files, and its damage detection."""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import make_golden as MAKE_GOLDEN  # scripts/, on sys.path (conftest)
import numpy as np
import pytest

import deepcompress
from deepcompress import api, container, errors
from deepcompress.container import BlockRecord, StreamHeader, Trailer
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    TruncatedStreamError,
    UnsupportedVersionError,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())  # 0.1.0's goldens, never rewritten
ADDED = json.loads((GOLDEN / "expected-added.json").read_text())
EXPECTED["valid"].update(ADDED["valid"])  # added since
SUPERSEDED = ADDED["superseded"]  # 0.1.0's expectations that format 2 changed




def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- golden streams


def test_golden_set_is_complete():
    assert set(EXPECTED["valid"]) == set(MAKE_GOLDEN.VALID)
    assert set(EXPECTED["valid"]) >= {"hello_static", "hello_adaptive", "empty"}
    assert len(EXPECTED["corrupt"]) >= 40
    on_disk = {path.name for path in (GOLDEN / "corrupt").glob("*.dcz")}
    assert on_disk == {Path(entry["file"]).name for entry in EXPECTED["corrupt"].values()}
    for entry in EXPECTED["corrupt"].values():
        assert entry["error"] in {"CorruptStreamError", "TruncatedStreamError", "UnsupportedVersionError"}


@pytest.mark.parametrize("name", sorted(EXPECTED["valid"]))
def test_golden_stream_decodes_to_its_hash(name):
    entry = EXPECTED["valid"][name]
    blob = (GOLDEN / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    data = deepcompress.decompress(blob)
    assert sha256(data) == entry["output_sha256"]
    assert len(data) == entry["original_bytes"]
    info = api.read_info(io.BytesIO(blob))
    assert info.header.coder == entry["coder"]
    assert info.header.block_size == entry["block_size"]
    assert info.stats.original_bytes == entry["original_bytes"]


def test_concatenated_v1_streams_decode_to_the_concatenation():
    """Two members (formerly a corrupt golden case): decoded one after the other, v1 and v2 mixed."""
    hello = (GOLDEN / "hello_static.dcz").read_bytes()
    empty = (GOLDEN / "empty.dcz").read_bytes()
    data = MAKE_GOLDEN.HELLO
    assert deepcompress.decompress(hello + hello) == data + data
    assert deepcompress.decompress(empty + hello + empty) == data
    assert deepcompress.decompress(hello + deepcompress.compress(b"new", "histogram") + hello) == data + b"new" + data
    info = api.read_info(io.BytesIO(hello + hello))
    assert len(info.members) == 2 and info.stats.original_bytes == 2 * len(data)
    assert info.stats.compressed_bytes == 2 * len(hello)


@pytest.mark.parametrize("name", sorted(SUPERSEDED))
def test_superseded_corrupt_golden_has_its_format_2_outcome(name):
    """0.1.0's file, unchanged on disk, with the outcome expected-added.json records for it now."""
    entry, now = EXPECTED["corrupt"][name], SUPERSEDED[name]
    blob = (GOLDEN / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    if "error" in now:
        with pytest.raises(getattr(errors, now["error"])):
            deepcompress.decompress(blob)
        with pytest.raises(getattr(errors, now["error"])):
            api.read_info(io.BytesIO(blob))
    else:
        assert sha256(deepcompress.decompress(blob)) == now["output_sha256"]


def test_golden_files_are_current():
    """The script derives exactly what is checked in (it writes only with DEEPCOMPRESS_REGEN=1)."""
    for path, content in MAKE_GOLDEN.build().items():
        assert path.read_bytes() == content, f"{path.relative_to(ROOT)} is out of date"


@pytest.mark.parametrize("name", sorted(set(EXPECTED["corrupt"]) - set(SUPERSEDED)))
def test_corrupt_golden_raises_its_specific_error(name):
    entry = EXPECTED["corrupt"][name]
    blob = (GOLDEN / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    expected = getattr(errors, entry["error"])
    with pytest.raises(DeepCompressError) as raised:
        deepcompress.decompress(blob)
    assert type(raised.value) is expected, f"{name} ({entry['damage']}): {raised.value!r}"
    with pytest.raises(DeepCompressError):
        api.decompress_stream(io.BytesIO(blob), None)


def test_golden_header_layout():
    """The documented layout: magic, version, length, JSON with sorted keys and no defaults, crc32."""
    blob = (GOLDEN / "hello_static.dcz").read_bytes()
    magic, version, length = struct.unpack("<4sBI", blob[:9])
    assert magic == b"\x89DCZ" and version == 1
    body = blob[9 : 9 + length]
    assert struct.unpack("<I", blob[9 + length : 13 + length])[0] == zlib.crc32(blob[: 9 + length])
    fields = json.loads(body)
    assert list(fields) == sorted(fields)
    assert set(fields) == {"block_size", "coder", "config", "fingerprint", "model"}  # kind/extra at defaults
    assert fields["model"] == "histogram" and fields["config"] == {"alphabet_size": 256, "mode": "static"}
    assert b" " not in body
    # End record: 0 u32 | n_symbols u64 | original_bytes u64 | data_crc32 | crc32
    data = b"hello, deepcompress\n" * 20
    end = blob[-28:]
    assert struct.unpack("<IQQI", end[:24]) == (0, len(data), len(data), zlib.crc32(data))
    assert struct.unpack("<I", end[24:])[0] == zlib.crc32(end[:24])


def test_golden_empty_stream_is_header_plus_end():
    blob = (GOLDEN / "empty.dcz").read_bytes()
    header_end = 9 + struct.unpack("<I", blob[5:9])[0] + 4
    assert len(blob) == header_end + 28
    assert deepcompress.decompress(blob) == b""


# ---------------------------------------------------------------- sweeps over a small stream


@pytest.fixture(scope="module")
def small_stream() -> tuple[bytes, bytes]:
    data = b"abracadabra, " * 30
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, "histogram", "range", 128)  # 4 blocks with side info
    return data, sink.getvalue()


def test_every_truncation_raises(small_stream):
    data, blob = small_stream
    assert deepcompress.decompress(blob) == data
    for length in range(len(blob)):
        prefix = blob[:length]
        for call in (
            lambda: deepcompress.decompress(prefix),
            lambda: api.read_info(io.BytesIO(prefix)),
        ):
            try:
                call()
            except TruncatedStreamError:
                assert length > 0
            except CorruptStreamError:
                assert length == 0  # "empty input" is not a truncated stream
            else:
                pytest.fail(f"truncation to {length} of {len(blob)} bytes was accepted")


def test_every_truncation_of_adaptive_ans_stream_raises():
    data = bytes(range(40)) * 5
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, "histogram-adaptive", "ans", 64)
    blob = sink.getvalue()
    for length in range(1, len(blob)):
        with pytest.raises(TruncatedStreamError):
            deepcompress.decompress(blob[:length])


def test_every_bit_flip_is_detected(small_stream):
    """Every byte of a stream is covered by a checksum, a bound or the magic/version check."""
    data, blob = small_stream
    for position in range(len(blob)):
        for bit in (0, 3, 7) if position > 16 else range(8):
            damaged = bytearray(blob)
            damaged[position] ^= 1 << bit
            try:
                out = deepcompress.decompress(bytes(damaged))
            except DeepCompressError:
                continue
            pytest.fail(f"flip of bit {bit} at byte {position} gave {'the right' if out == data else 'a wrong'} output")


def test_decompress_stream_writes_only_verified_blocks(small_stream):
    """Truncated inside block 3: the sink holds exactly the first two blocks, never a partial one."""
    data, blob = small_stream
    source = container.MemberSource(io.BytesIO(blob))
    header = container.read_header(source)
    for _ in range(2):
        container.read_block(source, header)
    cut = source.bytes_read + 40
    sink = io.BytesIO()
    with pytest.raises(TruncatedStreamError):
        api.decompress_stream(io.BytesIO(blob[:cut]), sink)
    assert sink.getvalue() == data[:256]


# ---------------------------------------------------------------- unit level (format 2)


def make_header(**changes) -> StreamHeader:
    fields = {"model": "histogram", "config": {"alphabet_size": 256, "mode": "static"}, "fingerprint": None,
              "coder": "range", "block_size": 1000, "model_id": 2}
    fields.update(changes)
    return StreamHeader(**fields)


def read_header_named(encoded: bytes, name: str = "histogram") -> StreamHeader:
    header = container.read_header(io.BytesIO(encoded))
    return dataclasses.replace(header, model=name) if header.model_id else header


def test_header_round_trip_with_non_default_fields():
    for header in [
        make_header(),
        make_header(kind="tokens", extra={"vocab": [1, 2, "é", None, True, 2.5, -7, 1 << 40]}),
        make_header(model="order2", model_id=0, config={}, fingerprint="ab" * 8, coder="ans"),
        make_header(coder="binary", block_size=container.DEFAULT_BLOCK_SIZE, config={"preset": 2, "hash_bits": 12}),
        make_header(coder="my-coder", config={"nested": {"a": [[], {}]}, "x": -1}),
    ]:
        assert read_header_named(container.encode_header(header), header.model) == header


def test_header_of_a_builtin_is_a_few_bytes():
    """magic, version, flags, model id, config as a bit mask of well-known keys + 3 small ints, CRC-16."""
    header = make_header(model="adaptive", model_id=1, coder="binary", block_size=container.DEFAULT_BLOCK_SIZE,
                         config={"preset": 2, "hash_bits": 12, "match_bits": 12})
    encoded = container.encode_header(header)
    assert encoded.hex() == "8944435a" "03" "02" "01" "08" "07" "04" "18" "18" + encoded[-2:].hex()
    assert len(encoded) == 14
    assert struct.unpack("<H", encoded[-2:])[0] == binascii.crc_hqx(encoded[:-2], 0xFFFF)


def test_header_too_large_to_write():
    with pytest.raises(ValueError, match="exceeds"):
        container.encode_header(make_header(extra={"x": "y" * container.MAX_HEADER_BYTES}))


def test_block_and_end_round_trip():
    header = make_header()
    words = np.array([1, 2**32 - 1, 0xFFFF0102], dtype=np.uint32)
    record = BlockRecord(500, 3, b"side", words, 123.25, 0xDEADBEEF)
    stored = BlockRecord(3, 1, b"", np.zeros(0, np.uint32), 24.0, zlib.crc32(b"abc"), True, b"abc")
    encoded = container.encode_block(record) + container.encode_block(stored)
    coded = container.encode_block(record)
    # head (500 << 3 | lanes | side) | lanes | side length | nll * 8 | payload bytes | data crc
    head = bytes([0xA6, 0x1F, 3, 4]) + bytes([0xDA, 0x07]) + bytes([10]) + struct.pack("<I", 0xDEADBEEF)
    assert coded[: len(head)] == head
    assert coded[len(head) : len(head) + 4] == b"side"
    # the last word's two trailing 0xFF bytes are left out (padded back on reading)
    assert coded[len(head) + 4 : -4] == bytes([1, 0, 0, 0, 255, 255, 255, 255, 2, 1])
    assert struct.unpack("<I", coded[-4:])[0] == zlib.crc32(coded[:-4])
    assert container.encode_block(stored)[:-4] == bytes([3 << 3 | 1, 0xC0, 0x01]) + b"abc"  # head, nll 192: the data
    source = container.MemberSource(io.BytesIO(encoded + container.encode_end(0xCAFEBABE, "bytes")))
    back = container.read_block(source, header)
    assert (back.n_symbols, back.lanes, back.side_info, back.nll_bits, back.data_crc32) == (500, 3, b"side", 123.25,
                                                                                           0xDEADBEEF)
    assert back.words.dtype == np.uint32 and back.words.tolist() == words.tolist()
    back = container.read_block(source, header)
    assert back.stored and back.raw == b"abc" and back.data_crc32 == zlib.crc32(b"abc") and back.nll_bits == 24.0
    assert container.read_block(source, header) == Trailer(data_crc32=0xCAFEBABE)


def test_end_record_holds_the_data_crc():
    stored = BlockRecord(2, 1, b"", np.zeros(0, np.uint32), 1.0, 0, True, b"ab")
    blob = container.encode_member(make_header(), [stored], zlib.crc32(b"ab"))
    assert blob[-5] == 0 and struct.unpack("<I", blob[-4:])[0] == zlib.crc32(b"ab")
    source = container.MemberSource(io.BytesIO(blob))
    header = container.read_header(source)
    assert container.read_block(source, header).raw == b"ab"
    assert container.read_block(source, header) == Trailer(data_crc32=zlib.crc32(b"ab"))


def test_block_bounds_depend_on_header_block_size():
    record = container.encode_block(BlockRecord(1001, 1, b"", np.zeros(1, dtype=np.uint32), 0.0, 0))
    with pytest.raises(CorruptStreamError, match="out of range"):
        container.read_block(container.MemberSource(io.BytesIO(record)), make_header(block_size=1000))
    back = container.read_block(container.MemberSource(io.BytesIO(record)), make_header(block_size=1001))
    assert back.n_symbols == 1001
    too_many = container.encode_block(BlockRecord(2, 1, b"", np.zeros(8 * 2 + 65, dtype=np.uint32), 0.0, 0))
    with pytest.raises(CorruptStreamError, match="out of range"):
        container.read_block(container.MemberSource(io.BytesIO(too_many)), make_header())


class MeasuringReader(io.BytesIO):
    """Records the largest read request, to show a forged size never causes a huge read."""

    largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size is not None else -1)
        assert size is not None and size >= 0, "unbounded read"
        return super().read(size)


def test_lying_sizes_read_in_bounded_pieces():
    forged = container.varint(1000 << 3 | 2) + container.varint(container.MAX_SIDE_BYTES) + bytes([0])
    forged += container.varint(4 * (8 * 1000 + 64)) + bytes(4)
    stream = MeasuringReader(forged + b"x" * 10)
    with pytest.raises(TruncatedStreamError):
        container.read_block(container.MemberSource(stream), make_header())
    assert stream.largest <= container._READ_PIECE
    stored = MeasuringReader(container.varint(container.MAX_BLOCK_SYMBOLS << 3 | 1) + bytes([0]) + b"x" * 10)
    with pytest.raises(TruncatedStreamError):
        container.read_block(container.MemberSource(stored), make_header(block_size=container.MAX_BLOCK_SYMBOLS), 8)
    assert stored.largest <= container._READ_PIECE
    preamble = struct.pack("<4sBI", container.MAGIC, 1, container.MAX_HEADER_BYTES)  # a v1 header's length
    stream = MeasuringReader(preamble + b"{}")
    with pytest.raises(TruncatedStreamError):
        container.read_header(stream)
    assert stream.largest <= container._READ_PIECE
    long_string = container.MAGIC + bytes([2, 0, 0]) + container.varint(1 << 40) + b"x" * 10  # a model name
    with pytest.raises(CorruptStreamError):
        container.read_header(MeasuringReader(long_string))


def signed(body: bytes) -> bytes:
    """A v2 header: magic, version 2, then `body` (flags onwards) and its CRC-16."""
    head = container.MAGIC + b"\x02" + body
    return head + struct.pack("<H", binascii.crc_hqx(head, 0xFFFF))


def test_read_header_errors():
    good = container.encode_header(make_header())
    with pytest.raises(CorruptStreamError, match="empty"):
        container.read_header(io.BytesIO(b""))
    with pytest.raises(TruncatedStreamError):
        container.read_header(io.BytesIO(good[:3]))
    for length in range(1, len(good)):
        with pytest.raises(TruncatedStreamError):
            container.read_header(io.BytesIO(good[:length]))
    with pytest.raises(CorruptStreamError, match="not a deepcompress file"):
        container.read_header(io.BytesIO(b"PK\x03\x04" + good[4:]))
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        container.read_header(io.BytesIO(good[:4] + b"\x09" + good[5:]))
    with pytest.raises(CorruptStreamError, match="header checksum"):
        container.read_header(io.BytesIO(good[:-1] + bytes([good[-1] ^ 1])))
    config = container.encode_value({"alphabet_size": 256, "mode": "static"})
    for body in [
        bytes([0x20, 2]) + config,  # a reserved flag
        bytes([0x80, 2]) + config,
        bytes([0, 2]) + bytes([64 + 14]),  # config is a string
        bytes([0, 2]) + bytes([7, 1, 16, 16]),  # a dict key that is not a string
        bytes([0, 2]) + bytes([7, 2, 64, 16, 64, 17]),  # a repeated key
        bytes([0, 2]) + bytes([9]),  # an unknown tag
        bytes([0, 2]) + bytes([8, 0]),  # an empty key mask
        bytes([0, 2]) + bytes([8]) + container.varint(1 << 40) + bytes(8),  # a key beyond the table
        bytes([0, 2]) + bytes([6, 1]) * 40 + bytes([0]),  # nested too deeply
        bytes([0, 2]) + bytes([5, 2, 0xFF, 0xFE]),  # not UTF-8
        bytes([0, 2]) + bytes([0x80] * 10 + [1]),  # an over-long varint
        bytes([0, 0, 3]) + b"a\x07b" + config,  # a control character in a model name
        bytes([0, 0, 0]) + config,  # an empty model name
        bytes([0x10, 2]) + config + container.varint(0),  # block size 0
        bytes([0x10, 2]) + config + container.varint(container.MAX_BLOCK_SYMBOLS + 1),
        bytes([0x08, 2]) + config + bytes([16]) + bytes([7, 0]),  # kind is a number
        bytes([0x08, 2]) + config + bytes([64 + 17, 16]),  # extra is a number
    ]:
        with pytest.raises(CorruptStreamError, match="malformed|out of range"):
            container.read_header(io.BytesIO(signed(body)))
    ok = signed(bytes([0x10, 2]) + config + container.varint(container.MAX_BLOCK_SYMBOLS))
    assert container.read_header(io.BytesIO(ok)).block_size == container.MAX_BLOCK_SYMBOLS


def test_values_round_trip():
    for value in [None, True, False, 0, 47, 48, -1, 1 << 61, -(1 << 61), 0.1, "", "preset", "é" * 100, [], {},
                  {"preset": 2}, {"preset": -3, "offset": 1 << 50}, {"preset": True}, [[{"a": None}]]]:
        encoded = container.encode_value(value)
        back = container.decode_value(io.BytesIO(encoded))
        assert back == value and type(back) is type(value)
    assert container.encode_value({"preset": 2, "hash_bits": 12, "match_bits": 12}) == bytes([8, 7, 4, 24, 24])
    with pytest.raises(ValueError):
        container.encode_value(1 << 70)
    with pytest.raises(ValueError):
        container.encode_value({1: 2})


def test_error_hierarchy():
    assert issubclass(TruncatedStreamError, DeepCompressError) and issubclass(TruncatedStreamError, EOFError)
    for cls in (CorruptStreamError, UnsupportedVersionError, errors.ModelMismatchError, errors.ModelFileError):
        assert issubclass(cls, DeepCompressError)
        assert not issubclass(cls, ValueError)  # callers tell bad data from bad arguments
