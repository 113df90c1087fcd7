"""deepcompress.open, DeepCompressFile, Compressor and Decompressor: what CPython's test_gzip and
test_lzma check of their modules (modes, text mode, lines, partial reads, seeking, members,
truncation, closed files), here against our own format."""

from __future__ import annotations

import array
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepcompress
from deepcompress import api
from deepcompress.errors import CorruptStreamError, DeepCompressError, TruncatedStreamError

FAST = "histogram-adaptive"  # where the model does not matter
LINES = [f"line {i}: {'x' * (i % 23)}\n".encode() for i in range(400)]
DATA = b"".join(LINES)  # ~10 kB
SMALL_BLOCK = 1000  # several blocks per stream in the multi-block tests


def small_blocks(data: bytes) -> bytes:
    """A multi-block stream of data."""
    compressor = deepcompress.Compressor(model=FAST, block_size=SMALL_BLOCK)
    return compressor.compress(data) + compressor.flush()


BLOB = small_blocks(DATA)
GOLDEN_COPIES = (Path(__file__).resolve().parent / "golden" / "v3" / "copies.dcz").read_bytes()


def write_file(path, data: bytes = DATA, mode: str = "wb") -> None:
    with deepcompress.open(path, mode, model=FAST) as f:
        assert f.write(data) == len(data)


# ---------------------------------------------------------------- Compressor


@pytest.mark.parametrize("cut", [0, 1, 999, 1000, 1001, len(DATA)])
def test_compressor_output_equals_compress(cut):
    compressor = deepcompress.Compressor(model=FAST)
    out = compressor.compress(DATA[:cut]) + compressor.compress(DATA[cut:]) + compressor.flush()
    assert out == deepcompress.compress(DATA, FAST)
    assert compressor.stats.original_bytes == len(DATA)
    assert compressor.stats.compressed_bytes == len(out)


@pytest.mark.parametrize("data", [b"", b"a", DATA[:SMALL_BLOCK], DATA[: 3 * SMALL_BLOCK], DATA])
def test_compressor_blocks_equal_compress_stream(data):
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, FAST, block_size=SMALL_BLOCK)
    compressor = deepcompress.Compressor(model=FAST, block_size=SMALL_BLOCK)
    pieces = [compressor.compress(data[i : i + 333]) for i in range(0, len(data), 333)]
    assert b"".join(pieces) + compressor.flush() == sink.getvalue()
    assert any(pieces) == (len(data) >= SMALL_BLOCK)  # full blocks come out before flush


def test_compressor_default_model_sizes_small_input_like_compress():
    compressor = deepcompress.Compressor()
    assert compressor.compress(b"abc") == b""
    assert compressor.compress(b"abc") + compressor.flush() == deepcompress.compress(b"abcabc")


def test_compressor_accepts_bytes_like_and_refuses_str():
    compressor = deepcompress.Compressor(model=FAST)
    out = compressor.compress(bytearray(b"ab")) + compressor.compress(memoryview(b"cd"))
    out += compressor.compress(array.array("B", b"ef")) + compressor.flush()
    assert deepcompress.decompress(out) == b"abcdef"
    with pytest.raises(TypeError):
        deepcompress.Compressor(model=FAST).compress("text")


def test_compressor_after_flush_raises():
    compressor = deepcompress.Compressor(model=FAST)
    compressor.flush()
    with pytest.raises(ValueError):
        compressor.compress(b"x")
    with pytest.raises(ValueError):
        compressor.flush()


# ---------------------------------------------------------------- levels


def test_levels_select_the_adaptive_model():
    data = DATA[:300]
    blob = deepcompress.compress(data, level=9)
    assert deepcompress.decompress(blob) == data
    compressor = deepcompress.Compressor(level=1)
    assert deepcompress.decompress(compressor.compress(data) + compressor.flush()) == data
    assert deepcompress.compress(data, "adaptive", level=3) == deepcompress.compress(data, level=3)


@pytest.mark.parametrize("level", [0, 10, -1, 2.5, True, "6"])
def test_bad_levels_raise(level):
    with pytest.raises(ValueError):
        deepcompress.compress(b"x", level=level)
    with pytest.raises(ValueError):
        deepcompress.Compressor(level=level)


def test_level_with_another_model_raises():
    with pytest.raises(ValueError, match="level"):
        deepcompress.compress(b"x", "histogram", level=3)
    with pytest.raises(ValueError, match="level"):
        deepcompress.open(io.BytesIO(), "wb", model="histogram", level=3)


# ---------------------------------------------------------------- Decompressor


def test_decompressor_byte_by_byte():
    decompressor = deepcompress.Decompressor()
    out = bytearray()
    for i in range(len(BLOB)):
        assert not decompressor.eof
        out += decompressor.decompress(BLOB[i : i + 1])
    assert out == DATA
    assert decompressor.eof and decompressor.unused_data == b""
    assert not decompressor.needs_input
    assert decompressor.stats.original_bytes == len(DATA)
    assert decompressor.stats.compressed_bytes == len(BLOB)


def test_decompressor_stops_at_the_end_of_a_member():
    decompressor = deepcompress.Decompressor()
    other = deepcompress.compress(b"second", FAST)
    assert decompressor.decompress(BLOB + other + b"junk") == DATA
    assert decompressor.eof
    assert decompressor.unused_data == other + b"junk"
    with pytest.raises(EOFError):
        decompressor.decompress(b"more")
    # unused_data arriving in pieces after the end record
    decompressor = deepcompress.Decompressor()
    assert decompressor.decompress(BLOB) == DATA
    assert decompressor.eof and decompressor.unused_data == b""


def test_decompressor_max_length():
    decompressor = deepcompress.Decompressor()
    out = decompressor.decompress(BLOB, max_length=10)
    assert out == DATA[:10]
    assert not decompressor.needs_input and not decompressor.eof
    while not decompressor.eof:
        assert not decompressor.needs_input
        piece = decompressor.decompress(b"", max_length=777)
        assert 0 < len(piece) <= 777
        out += piece
    assert out == DATA


def test_decompressor_needs_input_on_a_cut_stream():
    decompressor = deepcompress.Decompressor()
    out = decompressor.decompress(BLOB[:-40])  # inside the last block
    assert DATA.startswith(out) and len(out) < len(DATA)
    assert decompressor.needs_input and not decompressor.eof
    out += decompressor.decompress(BLOB[-40:-5])  # inside the end record
    assert out == DATA and decompressor.needs_input and not decompressor.eof
    assert decompressor.unused_data == b""
    assert decompressor.decompress(BLOB[-5:]) == b""
    assert decompressor.eof


@pytest.mark.parametrize("value", [1, 100])  # copy fields of one byte each, and of two (tag, varint)
def test_a_long_header_fed_in_pieces_is_decoded_once(monkeypatch, value):
    """A header is a run of values with no length first, parsed from its start each time a
    piece arrives; a list's items are decoded once all the same (a parse goes on where the one
    before stopped), and the header is what a whole parse gives (a forged 1 MB copy list fed in
    1,000-byte pieces: 1.7 s; decoded anew at each piece it took 11 s through `open()`)."""
    import dataclasses

    from deepcompress import container

    source = io.BytesIO(GOLDEN_COPIES)
    header = container.read_header(source)
    copies = [(value, value, value)] * 30_000
    forged = dataclasses.replace(header, kind=container.COPIES_KIND, extra=container.copies_extra(copies, 0))
    stream = container.encode_header(forged) + GOLDEN_COPIES[source.tell():]
    calls = []
    decode_value = container.decode_value
    monkeypatch.setattr(container, "decode_value", lambda *args: calls.append(1) or decode_value(*args))
    reader = api.PushStreamReader()
    for start in range(0, len(stream), 1000):
        reader.feed(stream[start:start + 1000])
        try:
            reader.read_block()
        except DeepCompressError:
            pass  # after the header: its copies reach back before any output, its blocks are another member's
        if reader.reader is not None:
            break
    decoded = len(calls)
    assert start > 60_000 and reader.reader is not None
    assert reader.reader.header == api.read_member_header(io.BytesIO(stream))
    assert reader.reader.header.extra == forged.extra
    assert 90_000 < decoded < 92_000  # each of the 90,000 values once, the header's dozen others at each of ~90 tries


def test_decompressor_refuses_garbage():
    with pytest.raises(CorruptStreamError):
        deepcompress.Decompressor().decompress(b"this is not a deepcompress stream")
    damaged = bytearray(BLOB)
    damaged[len(BLOB) // 2] ^= 0x10
    with pytest.raises(DeepCompressError):
        deepcompress.Decompressor().decompress(bytes(damaged))


def test_decompressor_array_stream_includes_the_npy_header():
    values = np.arange(-300, 300, dtype=np.int16).reshape(20, 30)
    blob = deepcompress.compress_array(values)
    decompressor = deepcompress.Decompressor()
    out = b"".join(decompressor.decompress(blob[i : i + 50]) for i in range(0, len(blob), 50))
    assert out == deepcompress.decompress(blob)
    assert (np.load(io.BytesIO(out)) == values).all()


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=5000), chunk=st.integers(1, 700), max_length=st.integers(-1, 3000),
       block=st.integers(1, 2000))
def test_property_decompressor_round_trip(data, chunk, max_length, block):
    compressor = deepcompress.Compressor(model=FAST, block_size=block)
    blob = compressor.compress(data) + compressor.flush()
    decompressor = deepcompress.Decompressor()
    out, position = bytearray(), 0
    while not decompressor.eof:
        if decompressor.needs_input:
            assert position < len(blob)
            piece, position = blob[position : position + chunk], position + chunk
        else:
            piece = b""
        result = decompressor.decompress(piece, max_length)
        assert max_length < 0 or len(result) <= max_length
        out += result
        if max_length == 0:
            max_length = -1
    assert out == data and position >= len(blob) and decompressor.unused_data == b""


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize("write_mode", ["w", "wb", "x", "xb"])
@pytest.mark.parametrize("read_mode", ["r", "rb"])
def test_binary_modes_round_trip(tmp_path, write_mode, read_mode):
    path = tmp_path / "data.dcz"
    write_file(path, mode=write_mode)
    assert deepcompress.decompress(path.read_bytes()) == DATA
    with deepcompress.open(path, read_mode) as f:
        assert isinstance(f, deepcompress.DeepCompressFile) and isinstance(f, io.BufferedIOBase)
        assert f.mode == "rb" and f.read() == DATA


@pytest.mark.parametrize("mode", ["a", "ab"])
def test_append_adds_a_member(tmp_path, mode):
    path = tmp_path / "data.dcz"
    write_file(path, LINES[0])
    write_file(path, LINES[1], mode=mode)
    write_file(path, b"", mode=mode)
    with deepcompress.open(path) as f:
        assert f.read() == LINES[0] + LINES[1]


def test_x_mode_refuses_an_existing_file(tmp_path):
    path = tmp_path / "data.dcz"
    path.write_bytes(b"keep me")
    for mode in ("x", "xb", "xt"):
        with pytest.raises(FileExistsError):
            deepcompress.open(path, mode)
    assert path.read_bytes() == b"keep me"


def test_path_forms_and_file_objects(tmp_path):
    path = tmp_path / "data.dcz"
    write_file(str(path))
    with deepcompress.open(os.fsencode(path)) as f:
        assert f.read() == DATA
    with open(path, "rb") as raw:
        f = deepcompress.open(raw)
        assert f.read() == DATA
        f.close()
        assert not raw.closed  # a file object given is not ours to close
    sink = io.BytesIO()
    with deepcompress.open(sink, "wb", model=FAST) as f:
        f.write(DATA)
    assert not sink.closed and deepcompress.decompress(sink.getvalue()) == DATA


def test_file_equals_compress(tmp_path):
    path = tmp_path / "data.dcz"
    with deepcompress.open(path, "wb") as f:
        for line in LINES[:50]:
            f.write(line)
    assert path.read_bytes() == deepcompress.compress(b"".join(LINES[:50]))


@pytest.mark.parametrize("mode", ["", "rw", "rb+", "wr", "rbt", "wtb", "z"])
def test_invalid_modes(tmp_path, mode):
    with pytest.raises(ValueError):
        deepcompress.open(tmp_path / "data.dcz", mode)


def test_invalid_arguments(tmp_path):
    write_file(tmp_path / "data.dcz")
    with pytest.raises(ValueError):
        deepcompress.open(tmp_path / "data.dcz", "rb", encoding="utf-8")
    with pytest.raises(ValueError):
        deepcompress.open(tmp_path / "data.dcz", "rb", newline="\n")
    with pytest.raises(ValueError):
        deepcompress.open(tmp_path / "data.dcz", "rb", level=3)
    with pytest.raises(TypeError):
        deepcompress.open(3.5)


# ---------------------------------------------------------------- text mode


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "latin-1", "cp1252"])
@pytest.mark.parametrize("write_mode, read_mode", [("wt", "rt"), ("xt", "rt"), ("at", "rt")])
def test_text_modes_with_encodings(tmp_path, encoding, write_mode, read_mode):
    text = "caf\u00e9 na\u00efve \u00e6\u00f8\u00e5\n" * 30 + "no newline at the end"
    path = tmp_path / "text.dcz"
    with deepcompress.open(path, write_mode, model=FAST, encoding=encoding) as f:
        assert isinstance(f, io.TextIOWrapper)
        f.write(text)
    assert deepcompress.decompress(path.read_bytes()) == text.replace("\n", os.linesep).encode(encoding)
    with deepcompress.open(path, read_mode, encoding=encoding) as f:
        assert f.read() == text


def test_text_errors_and_newlines(tmp_path):
    path = tmp_path / "text.dcz"
    write_file(path, b"a\r\nb\rc\nbad \xff byte\n")
    with deepcompress.open(path, "rt", encoding="utf-8", errors="replace") as f:
        assert f.readlines() == ["a\n", "b\n", "c\n", "bad \ufffd byte\n"]
    with deepcompress.open(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        assert f.readlines() == ["a\r\n", "b\r", "c\n", "bad \ufffd byte\n"]
    with deepcompress.open(path, "rt", encoding="utf-8") as f, pytest.raises(UnicodeDecodeError):
        f.read()
    with deepcompress.open(path, "wt", model=FAST, encoding="ascii", newline="\r\n") as f:
        f.write("one\ntwo\n")
    assert deepcompress.decompress(path.read_bytes()) == b"one\r\ntwo\r\n"


# ---------------------------------------------------------------- reading


def test_readline_and_iteration(tmp_path):
    path = tmp_path / "data.dcz"
    path.write_bytes(BLOB)  # lines cross block boundaries
    with deepcompress.open(path) as f:
        assert f.readline() == LINES[0]
        assert f.readline(3) == LINES[1][:3]
        assert f.readline() == LINES[1][3:]
        assert list(f) == LINES[2:]
        assert f.readline() == b""
    with deepcompress.open(path) as f:
        assert f.readlines() == LINES


def test_partial_reads_read1_peek_readinto():
    with deepcompress.open(io.BytesIO(BLOB)) as f:
        assert f.read(0) == b""
        assert f.read(5) == DATA[:5]
        peeked = f.peek(1)
        assert peeked and DATA[5:].startswith(peeked)
        assert f.tell() == 5
        chunk = f.read1(100)
        assert 0 < len(chunk) <= 100 and chunk == DATA[5 : 5 + len(chunk)]
        position = 5 + len(chunk)
        buffer = bytearray(1500)
        assert f.readinto(buffer) == 1500
        assert buffer == DATA[position : position + 1500]
        position += 1500
        assert f.read(None) == DATA[position:]
        assert f.read() == b"" and f.read(10) == b"" and f.read1() == b"" and f.peek() == b""


def test_read_in_every_size():
    with deepcompress.open(io.BytesIO(BLOB)) as f:
        pieces = []
        size = 1
        while piece := f.read(size):
            assert len(piece) == size or not f.read(1)
            pieces.append(piece)
            size = size * 3 % 1021 + 1
    assert b"".join(pieces) == DATA


def test_seek_forward_backward_and_tell():
    source = io.BytesIO(b"prefix" + BLOB)  # a file object positioned inside a larger file
    source.seek(6)
    with deepcompress.open(source) as f:
        assert f.seekable()
        assert f.seek(2500) == 2500 and f.tell() == 2500
        assert f.read(10) == DATA[2500:2510]
        assert f.seek(100, io.SEEK_CUR) == 2610 and f.read(5) == DATA[2610:2615]
        assert f.seek(10) == 10 and f.read(5) == DATA[10:15]  # backwards: rewinds
        assert f.seek(-10, io.SEEK_END) == len(DATA) - 10 and f.read() == DATA[-10:]
        assert f.seek(len(DATA) + 100) == len(DATA) and f.read() == b""
        assert f.seek(0) == 0 and f.read() == DATA
        with pytest.raises(ValueError):
            f.seek(0, 3)


def test_concatenated_members():
    members = [LINES[0], b"", DATA, LINES[1]]
    blob = b"".join(small_blocks(member) for member in members)
    with deepcompress.open(io.BytesIO(blob)) as f:
        assert f.read() == b"".join(members)
        f.seek(len(LINES[0]) + 3)
        assert f.read(4) == DATA[3:7]
    with deepcompress.open(io.BytesIO(blob)) as f:
        assert b"".join(iter(lambda: f.read(97), b"")) == b"".join(members)


def test_empty_stream_reads_empty():
    with deepcompress.open(io.BytesIO(deepcompress.compress(b"", FAST))) as f:
        assert f.read() == b"" and f.readline() == b"" and list(f) == []


@pytest.mark.parametrize("cut", [1, 5, 20, len(BLOB) // 2, len(BLOB) - 20, len(BLOB) - 1])
def test_truncated_file_raises_eoferror(cut):
    with deepcompress.open(io.BytesIO(BLOB[:cut])) as f, pytest.raises(TruncatedStreamError) as info:
        f.read()
    assert isinstance(info.value, EOFError) and isinstance(info.value, DeepCompressError)


def test_truncated_second_member_raises():
    blob = BLOB + BLOB[:-7]
    with deepcompress.open(io.BytesIO(blob)) as f:
        assert f.read(len(DATA)) == DATA
        with pytest.raises(TruncatedStreamError):
            f.read()


@pytest.mark.parametrize("tail", [b"\x00", b"junk", b"\x89DC", b"not a stream at all"])
def test_trailing_garbage_raises(tail):
    with deepcompress.open(io.BytesIO(BLOB + tail)) as f, pytest.raises(DeepCompressError):
        f.read()


def test_not_a_stream_raises():
    for blob in (b"", b"plain text, not compressed"):
        with deepcompress.open(io.BytesIO(blob)) as f, pytest.raises(CorruptStreamError):
            f.read()


# ---------------------------------------------------------------- file object protocol


def test_attributes(tmp_path):
    path = tmp_path / "data.dcz"
    with deepcompress.open(path, "wb", model=FAST) as f:
        assert f.name == str(path) and f.mode == "wb" and f.fileno() >= 0
        assert f.writable() and not f.readable() and f.seekable() and not f.closed
        f.write(b"abc")
        assert f.tell() == 3
        with pytest.raises(io.UnsupportedOperation):
            f.read()
        with pytest.raises(OSError):
            f.seek(0)  # writers seek forward only
        assert f.seek(2, io.SEEK_CUR) == 5 and f.seek(7) == 7
        f.flush()
    assert f.closed
    assert deepcompress.decompress(path.read_bytes()) == b"abc" + bytes(4)
    with deepcompress.open(path) as f:
        assert f.name == str(path) and f.mode == "rb" and f.fileno() >= 0
        assert f.readable() and not f.writable() and f.seekable()
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    with deepcompress.open(io.BytesIO(BLOB)) as f, pytest.raises(AttributeError):
        f.name  # noqa: B018 -- a BytesIO has no name
    unseekable = io.BufferedReader(io.BytesIO(BLOB))
    unseekable.seekable = lambda: False
    with deepcompress.open(unseekable) as f:
        assert not f.seekable() and f.read(5) == DATA[:5]
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)


def test_closed_file_raises_valueerror(tmp_path):
    path = tmp_path / "data.dcz"
    f = deepcompress.open(path, "wb", model=FAST)
    f.write(b"abc")
    f.close()
    f.close()  # twice is fine
    assert f.closed
    for call in (lambda: f.write(b"x"), f.flush, f.fileno, f.tell, f.readable, f.writable, lambda: f.name):
        with pytest.raises(ValueError):
            call()
    assert deepcompress.decompress(path.read_bytes()) == b"abc"
    f = deepcompress.open(path)
    f.close()
    for call in (f.read, f.readline, lambda: f.read1(1), lambda: f.peek(1), lambda: f.seek(0), lambda: next(f)):
        with pytest.raises(ValueError):
            call()


def test_write_accepts_bytes_like_only(tmp_path):
    path = tmp_path / "data.dcz"
    with deepcompress.open(path, "wb", model=FAST) as f:
        assert f.write(memoryview(b"ab")) == 2
        assert f.write(array.array("I", [1])) == 4
        assert f.write(bytearray(b"cd")) == 2
        with pytest.raises(TypeError):
            f.write("text")
    assert deepcompress.decompress(path.read_bytes()) == b"ab" + array.array("I", [1]).tobytes() + b"cd"


def test_open_writer_closed_by_with_on_error(tmp_path):
    path = tmp_path / "data.dcz"
    with pytest.raises(RuntimeError), deepcompress.open(path, "wb", model=FAST) as f:
        f.write(b"partial")
        raise RuntimeError
    assert f.closed and deepcompress.decompress(path.read_bytes()) == b"partial"


def test_whole_stream_functions_still_refuse_trailing_garbage():
    """The container reads nothing past an end record; the pull readers check what follows."""
    with pytest.raises(CorruptStreamError, match="trailing"):
        deepcompress.decompress(BLOB + b"junk")
    with pytest.raises(CorruptStreamError, match="trailing"):
        api.read_info(io.BytesIO(BLOB + b"junk"))


def test_minimal_file_objects_and_positional_arguments():
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._source = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._source.read(size)

    class WriteOnly:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data) -> int:
            self.chunks.append(bytes(data))
            return len(data)

    with deepcompress.open(ReadOnly(BLOB)) as f:
        assert not f.seekable() and f.read() == DATA
    sink = WriteOnly()
    with deepcompress.open(sink, "wb", None, FAST) as f:
        f.write(DATA)
        f.flush()
    assert b"".join(sink.chunks) == deepcompress.compress(DATA, FAST)
