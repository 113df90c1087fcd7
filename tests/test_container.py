"""deepcompress.container: the .dcz format, pinned by golden files, and its damage detection."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import struct
import zlib
from pathlib import Path

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
EXPECTED["valid"].update(json.loads((GOLDEN / "expected-added.json").read_text())["valid"])  # added since


def load_script():
    spec = importlib.util.spec_from_file_location("make_golden", ROOT / "scripts" / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE_GOLDEN = load_script()


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


@pytest.mark.parametrize("name", sorted(EXPECTED["valid"]))
def test_recompressing_gives_byte_identical_stream(name):
    """Pins the format: any change to header, records, coder or model shows up here."""
    data, model, coder, block_size = MAKE_GOLDEN.VALID[name]
    assert sha256(data) == EXPECTED["valid"][name]["output_sha256"]
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, model, coder, block_size)
    assert sink.getvalue() == (GOLDEN / EXPECTED["valid"][name]["file"]).read_bytes()


def test_golden_files_are_current():
    """The script regenerates exactly what is checked in (it writes only with DEEPCOMPRESS_REGEN=1)."""
    for path, content in MAKE_GOLDEN.build().items():
        assert path.read_bytes() == content, f"{path.relative_to(ROOT)} is out of date"


@pytest.mark.parametrize("name", sorted(EXPECTED["corrupt"]))
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
    source = io.BytesIO(blob)
    header = container.read_header(source)
    for _ in range(2):
        container.read_block(source, header)
    cut = source.tell() + 40
    sink = io.BytesIO()
    with pytest.raises(TruncatedStreamError):
        api.decompress_stream(io.BytesIO(blob[:cut]), sink)
    assert sink.getvalue() == data[:256]


# ---------------------------------------------------------------- unit level


def make_header(**changes) -> StreamHeader:
    fields = dict(model="histogram", config={"alphabet_size": 256, "mode": "static"}, fingerprint="ab" * 16, coder="range", block_size=1000)
    fields.update(changes)
    return StreamHeader(**fields)


def test_header_round_trip_with_non_default_fields():
    header = make_header(kind="tokens", extra={"vocab": [1, 2, "é"]})
    encoded = container.encode_header(header)
    assert b'"kind":"tokens"' in encoded
    assert container.read_header(io.BytesIO(encoded)) == header
    plain = container.encode_header(make_header())
    assert b"kind" not in plain and b"extra" not in plain
    assert container.read_header(io.BytesIO(plain)) == make_header()


def test_header_too_large_to_write():
    with pytest.raises(ValueError, match="exceeds"):
        container.encode_header(make_header(extra={"x": "y" * container.MAX_HEADER_BYTES}))


def test_block_and_end_round_trip():
    header = make_header()
    words = np.array([1, 2**32 - 1, 0x01020304], dtype=np.uint32)
    record = BlockRecord(500, 3, b"side", words, 123.25, 0xDEADBEEF)
    trailer = Trailer(500, 500, 0xCAFEBABE)
    encoded = container.encode_block(record) + container.encode_end(trailer)
    assert encoded[: 36].hex() == (
        struct.pack("<IIIIdII", 500, 3, 4, 3, 123.25, 0xDEADBEEF, zlib.crc32(words.astype("<u4").tobytes(), zlib.crc32(b"side"))).hex()
        + struct.pack("<I", zlib.crc32(encoded[:32])).hex()
    )
    assert encoded[36:40] == b"side"
    assert encoded[40:52] == bytes([1, 0, 0, 0, 255, 255, 255, 255, 4, 3, 2, 1])
    source = io.BytesIO(encoded)
    back = container.read_block(source, header)
    assert (back.n_symbols, back.lanes, back.side_info, back.nll_bits, back.data_crc32) == (500, 3, b"side", 123.25, 0xDEADBEEF)
    assert back.words.dtype == np.uint32 and back.words.tolist() == words.tolist()
    assert container.read_block(source, header) == trailer


def test_block_bounds_depend_on_header_block_size():
    record = container.encode_block(BlockRecord(1001, 1, b"", np.zeros(1, dtype=np.uint32), 0.0, 0))
    with pytest.raises(CorruptStreamError, match="out of range"):
        container.read_block(io.BytesIO(record), make_header(block_size=1000))
    assert container.read_block(io.BytesIO(record), make_header(block_size=1001)).n_symbols == 1001
    too_many_words = container.encode_block(BlockRecord(2, 1, b"", np.zeros(8 * 2 + 65, dtype=np.uint32), 0.0, 0))
    with pytest.raises(CorruptStreamError, match="out of range"):
        container.read_block(io.BytesIO(too_many_words), make_header())


class MeasuringReader(io.BytesIO):
    """Records the largest read request, to show a forged size never causes a huge read."""

    largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size is not None else -1)
        assert size is not None and size >= 0, "unbounded read"
        return super().read(size)


def test_lying_sizes_read_in_bounded_pieces():
    forged = struct.pack("<IIIIdII", 1000, 1, container.MAX_SIDE_BYTES, 8064, 0.0, 0, 0)
    stream = MeasuringReader(forged + struct.pack("<I", zlib.crc32(forged)) + b"x" * 10)
    with pytest.raises(TruncatedStreamError):
        container.read_block(stream, make_header())
    assert stream.largest <= container._READ_PIECE
    body = b"{}"
    preamble = struct.pack("<4sBI", container.MAGIC, 1, container.MAX_HEADER_BYTES)
    stream = MeasuringReader(preamble + body)
    with pytest.raises(TruncatedStreamError):
        container.read_header(stream)
    assert stream.largest <= container._READ_PIECE


def test_read_header_errors():
    good = container.encode_header(make_header())
    with pytest.raises(CorruptStreamError, match="empty"):
        container.read_header(io.BytesIO(b""))
    with pytest.raises(TruncatedStreamError):
        container.read_header(io.BytesIO(good[:3]))
    with pytest.raises(CorruptStreamError, match="not a deepcompress file"):
        container.read_header(io.BytesIO(b"PK\x03\x04" + good[4:]))
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        container.read_header(io.BytesIO(good[:4] + b"\x09" + good[5:]))

    def signed(body: bytes) -> bytes:
        head = struct.pack("<4sBI", container.MAGIC, 1, len(body)) + body
        return head + struct.pack("<I", zlib.crc32(head))

    for body in [
        b'{"block_size":10,"coder":"range","config":[],"fingerprint":"x","model":"m"}',
        b'{"block_size":10,"coder":"range","config":{},"fingerprint":"x","model":"m","extra":[]}',
        b'{"block_size":true,"coder":"range","config":{},"fingerprint":"x","model":"m"}'.replace(b"true", b"-1"),
        b'{"block_size":%d,"coder":"range","config":{},"fingerprint":"x","model":"m"}' % (container.MAX_BLOCK_SYMBOLS + 1),
        b'{"block_size":"10","coder":"range","config":{},"fingerprint":"x","model":"m"}',
        b'{"block_size":10,"coder":1,"config":{},"fingerprint":"x","model":"m"}',
        b"null",
        b'"a string"',
    ]:
        with pytest.raises(CorruptStreamError, match="malformed|out of range"):
            container.read_header(io.BytesIO(signed(body)))
    ok = b'{"block_size":%d,"coder":"range","config":{},"fingerprint":"%s","model":"m"}' % (
        container.MAX_BLOCK_SYMBOLS, b"0123456789abcdef" * 2)
    assert container.read_header(io.BytesIO(signed(ok))).block_size == container.MAX_BLOCK_SYMBOLS


def test_error_hierarchy():
    assert issubclass(TruncatedStreamError, DeepCompressError) and issubclass(TruncatedStreamError, EOFError)
    for cls in (CorruptStreamError, UnsupportedVersionError, errors.ModelMismatchError, errors.ModelFileError):
        assert issubclass(cls, DeepCompressError)
        assert not issubclass(cls, ValueError)  # callers tell bad data from bad arguments
