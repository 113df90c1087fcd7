"""Segments and threads (`threads=`, CLI -T): the bytes never depend on the thread count,
segments decode with any thread count, and damage in a later segment is still found."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import deepcompress
from deepcompress import api, models, symbols
from deepcompress.errors import TruncatedStreamError

BLOCK = 1000
SEGMENT = 4 * BLOCK  # api.SEGMENT_BYTES while these tests run: a few KB of input make several segments
TEXT = b"".join(b"line %d of a text with some words in it, %s\n" % (i, b"xyz" * (i % 7)) for i in range(400))
# The adaptive model with small tables (a sized model stays sized): threads code it in parallel.
SMALL_ADAPTIVE = models.builtin("adaptive").sized_for(1 << 14)


def compressed(data: bytes, threads: int, model=SMALL_ADAPTIVE) -> bytes:
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, model, block_size=BLOCK, threads=threads)
    return sink.getvalue()


def decompressed(blob: bytes, threads: int, model=None) -> bytes:
    sink = io.BytesIO()
    api.decompress_stream(io.BytesIO(blob), sink, model, threads=threads)
    return sink.getvalue()


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(api, "SEGMENT_BYTES", SEGMENT)


@pytest.fixture
def stream(small_segments) -> bytes:
    return compressed(TEXT, 1)


def test_bytes_do_not_depend_on_the_thread_count(stream):
    assert len(TEXT) > 4 * SEGMENT
    assert compressed(TEXT, 2) == stream
    assert compressed(TEXT, 4) == stream


def test_long_input_is_segments_each_a_member(stream):
    info = api.read_info(io.BytesIO(stream))
    assert len(info.members) == -(-len(TEXT) // SEGMENT)
    assert [m.original_bytes for m in info.members[:-1]] == [SEGMENT] * (len(info.members) - 1)
    assert sum(m.compressed_bytes for m in info.members) == len(stream)


@pytest.mark.parametrize("size", [SEGMENT, SEGMENT + 1])
def test_a_segment_holds_exactly_segment_bytes(size):
    info = api.read_info(io.BytesIO(compressed(TEXT[:size], 1, "histogram-adaptive")))
    assert len(info.members) == (1 if size == SEGMENT else 2)


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_segments_decode_with_any_thread_count(stream, threads):
    assert decompressed(stream, threads) == TEXT
    assert deepcompress.decompress(stream, threads=threads) == TEXT


@pytest.mark.parametrize("threads", [1, 2])
def test_truncated_second_segment_is_detected(stream, threads):
    first = api.read_info(io.BytesIO(stream)).members[0].compressed_bytes
    for cut in (first + 1, first + 20, len(stream) - 1):
        with pytest.raises(TruncatedStreamError):
            decompressed(stream[:cut], threads)


def test_damaged_later_segment_is_detected_with_threads(stream):
    damaged = bytearray(stream)
    damaged[-40] ^= 0x10
    with pytest.raises(deepcompress.DeepCompressError):
        decompressed(bytes(damaged), 2)


def test_member_longer_than_a_segment_decodes_in_order_with_threads():
    """An array is one member of many blocks (its end record matches its shape): decoded by the
    main thread, between whole members decoded by workers."""
    array = np.arange(3 * SEGMENT, dtype=np.int16) % 300
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(array.tobytes()), sink, "histogram-adaptive", block_size=BLOCK,
                        layout=symbols.array_layout(array, None))
    array_blob = sink.getvalue()
    assert api.read_info(io.BytesIO(array_blob)).n_blocks * BLOCK > SEGMENT
    text_blob = compressed(TEXT[: 2 * SEGMENT + 5], 1, "histogram-adaptive")
    blob = text_blob + array_blob + text_blob
    expected = decompressed(blob, 1)
    assert decompressed(blob, 2) == expected
    assert expected.startswith(TEXT[: 2 * SEGMENT + 5]) and expected.endswith(TEXT[: 2 * SEGMENT + 5])


def test_compressor_and_open_match_compress_for_any_thread_count(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "SEGMENT_BYTES", api.DEFAULT_BLOCK_SIZE)  # a segment per default block
    data = TEXT * (5 * api.DEFAULT_BLOCK_SIZE // (2 * len(TEXT)))  # 2.5 blocks
    expected = deepcompress.compress(data, "histogram-adaptive")
    assert len(api.read_info(io.BytesIO(expected)).members) == 3
    for threads in (1, 2):
        compressor = deepcompress.Compressor(model="histogram-adaptive", threads=threads)
        step = 300_001
        out = b"".join(compressor.compress(data[i : i + step]) for i in range(0, len(data), step))
        assert out + compressor.flush() == expected
        with deepcompress.open(tmp_path / "out.dcz", "wb", model="histogram-adaptive", threads=threads) as f:
            f.write(data)
        assert (tmp_path / "out.dcz").read_bytes() == expected
        assert deepcompress.decompress(expected, threads=threads) == data


def test_thread_count_is_checked():
    with pytest.raises(ValueError, match="threads"):
        deepcompress.compress(b"x", threads=0)
    with pytest.raises(TypeError, match="threads"):
        deepcompress.decompress(deepcompress.compress(b"x"), threads=1.5)
    with pytest.raises(ValueError, match="threads is for writing"):
        deepcompress.open(io.BytesIO(deepcompress.compress(b"x")), "rb", threads=2)


def test_cli_threads_flag_changes_nothing_in_the_output(tmp_path):
    source = tmp_path / "text"
    source.write_bytes(TEXT)
    outputs = []
    for flag in ("-T1", "-T2", "--threads=0"):
        run = subprocess.run([sys.executable, "-m", "deepcompress", flag, "-c", "-m", "histogram-adaptive", str(source)],
                             capture_output=True, check=True)
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    back = subprocess.run([sys.executable, "-m", "deepcompress", "-d", "-T2", "-c"], input=outputs[0] * 2,
                          capture_output=True, check=True)
    assert back.stdout == TEXT * 2
