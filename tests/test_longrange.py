"""Long-range copies (`longrange`): a segment's repeats of the input before it are copies, put
back exactly by every decoder, and a forged copy list is refused, never decoded into garbage."""

from __future__ import annotations

import dataclasses
import io
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepcompress
from deepcompress import api, container, longrange
from deepcompress.errors import CorruptStreamError

BLOCK = 1000
SEGMENT = 4 * BLOCK  # api.SEGMENT_BYTES while these tests run
TEXT = random.Random(5).randbytes(3000) + b"".join(b"entry %d: the value is %d\n" % (i, i * i) for i in range(300))


def edited_copies(data: bytes, copies: int) -> bytes:
    """`data` `copies` times, one byte changed in each copy (as a file saved again after an edit)."""
    rng, edited, out = random.Random(len(data)), bytearray(data), []
    for _ in range(copies):
        edited[rng.randrange(len(edited))] ^= 0x20
        out.append(bytes(edited))
    return b"".join(out)


REPEATED = edited_copies(TEXT, 4)  # every segment after the first repeats the one before it


def compressed(data: bytes, threads: int = 1, level: int = 1) -> bytes:
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, level=level, block_size=BLOCK, threads=threads)
    return sink.getvalue()


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(api, "SEGMENT_BYTES", SEGMENT)


def member_spans(blob: bytes) -> list[tuple[int, int, container.StreamHeader]]:
    """(start, end of header, header) of each member."""
    source, spans = container.MemberSource(io.BytesIO(blob)), []
    while True:
        start = source.bytes_read
        header = container.read_header(source)
        spans.append((start, source.bytes_read, header))
        while isinstance(container.read_block(source, header), container.BlockRecord):
            pass
        if not container.next_member(source):
            return spans


def with_extra(blob: bytes, edit) -> bytes:
    """`blob` with the first copies member's header extra replaced by `edit(extra)` (CRC resealed)."""
    for start, end, header in member_spans(blob):
        if header.kind == container.COPIES_KIND:
            extra = edit(dict(header.extra, copies=list(header.extra["copies"])))
            return blob[:start] + container.encode_header(dataclasses.replace(header, extra=extra)) + blob[end:]
    raise AssertionError("no member with copies")


def resolved(history: bytes, copies: container.CopyList, literals: bytes, crc32: int) -> bytes:
    resolver = longrange.CopyResolver()
    resolver.feed(history)
    resolver.end()
    resolver.begin((copies, crc32))
    return resolver.feed(literals) + resolver.end()


# ---------------------------------------------------------------- finding copies


def test_a_long_repeat_of_history_is_one_copy_and_the_rest_literals():
    rng = random.Random(1)
    history = rng.randbytes(10_000)
    head, tail = rng.randbytes(700), rng.randbytes(300)
    segment = head + history[2_000:5_000] + tail
    copies, literals = longrange.find_copies(history, segment)
    assert copies == [(700, 10_000 - 2_000 + 700, 3_000)]
    assert literals == head + tail
    assert resolved(history, copies, literals, zlib.crc32(segment)) == segment


def test_repeats_shorter_than_the_minimum_stay_literals():
    rng = random.Random(2)
    history = rng.randbytes(5_000)
    segment = rng.randbytes(100) + history[100:100 + longrange.MIN_COPY_BYTES - 1] + rng.randbytes(100)
    assert longrange.find_copies(history, segment) == ([], segment)


def test_every_repeat_twice_the_hash_span_long_is_found():
    """A repeat of 2 * HASH_BYTES - 1 bytes holds an indexed span of the history, at any offset
    (an index with room for every span: none displaced)."""
    import numpy as np

    from deepcompress._longrange_kernels import HASH_BYTES, find_repeats

    rng = random.Random(3)
    history = rng.randbytes(4_000)
    length = 2 * HASH_BYTES - 1
    for offset in range(2 * HASH_BYTES):
        segment = rng.randbytes(50) + history[1_000 + offset:1_000 + offset + length] + rng.randbytes(50)
        repeats = find_repeats(np.frombuffer(history + segment, np.uint8), len(history), length, length,
                               container.MAX_COPY_DISTANCE, 20)
        [(target, source, found)] = repeats.tolist()  # (random bytes either side may extend it by chance)
        target -= len(history)
        assert source - target == 1_000 + offset - 50 and target <= 50 and target + found >= 50 + length, offset


def test_a_repeat_of_the_segment_itself_is_a_copy_only_when_long():
    """The model sees the segment's own bytes: a repeat of them is a copy from MIN_COPY_BYTES_IN_SEGMENT."""
    rng = random.Random(4)
    history = rng.randbytes(5_000)
    for length, copied in ((longrange.MIN_COPY_BYTES_IN_SEGMENT, True), (longrange.MIN_COPY_BYTES_IN_SEGMENT - 100, False)):
        new = rng.randbytes(length)
        segment = new + rng.randbytes(10) + new
        copies, literals = longrange.find_copies(history, segment)
        assert copies == ([(length + 10, length + 10, length)] if copied else [])
        assert resolved(history, copies, literals, zlib.crc32(segment)) == segment


def test_a_repeat_of_history_the_segment_also_holds_is_left_to_the_model():
    """Records sharing a block: its first occurrence in the segment is a copy from the history,
    the later ones are the model's (it has seen the block), not a copy each."""
    rng = random.Random(6)
    block = rng.randbytes(300)
    history = rng.randbytes(2_000) + block + rng.randbytes(2_000)
    segment = b"".join(rng.randbytes(70) + block for _ in range(6)) + rng.randbytes(70)
    copies, literals = longrange.find_copies(history, segment)
    assert len(copies) == 1 and 65 <= copies[0][0] <= 70 and copies[0][2] >= 300
    assert resolved(history, copies, literals, zlib.crc32(segment)) == segment


def test_a_members_copies_stay_within_the_bound(monkeypatch):
    """Only a segment longer than MAX_COPY_DISTANCE could copy more: the copies past it stay literals."""
    monkeypatch.setattr(container, "MAX_COPY_DISTANCE", 4096)
    monkeypatch.setattr(longrange, "MIN_COPY_BYTES_IN_SEGMENT", 300)
    segment = bytes(3000) + random.Random(8).randbytes(100) + bytes(3000) + b"x" * 4000
    copies, literals = longrange.find_copies(b"", segment)
    assert 0 < sum(length for _, _, length in copies) <= 4096
    assert resolved(b"", copies, literals, zlib.crc32(segment)) == segment


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_copies_and_literals_rebuild_the_segment(data):
    """Whatever the segment mixes of history, its own earlier bytes and new bytes, the copies
    are in range and rebuild it."""
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    alphabet = data.draw(st.sampled_from([2, 4, 256]))  # few symbols: many short, overlapping repeats
    history = bytes(rng.randrange(alphabet) for _ in range(data.draw(st.integers(0, 3_000))))
    pieces = []
    for _ in range(data.draw(st.integers(0, 8))):
        earlier = history + b"".join(pieces)
        if earlier and rng.random() < 0.6:
            start = rng.randrange(len(earlier))
            pieces.append(earlier[start:start + rng.randrange(1, 600)])
        else:
            pieces.append(bytes(rng.randrange(alphabet) for _ in range(rng.randrange(1, 300))))
    segment = b"".join(pieces)
    in_segment = data.draw(st.sampled_from([longrange.MIN_COPY_BYTES_IN_SEGMENT, 300]))  # 300: such copies occur
    saved, longrange.MIN_COPY_BYTES_IN_SEGMENT = longrange.MIN_COPY_BYTES_IN_SEGMENT, in_segment
    try:
        copies, literals = longrange.find_copies(history, segment)
    finally:
        longrange.MIN_COPY_BYTES_IN_SEGMENT = saved
    at = 0
    for gap, distance, length in copies:
        at += gap
        assert 1 <= distance <= min(container.MAX_COPY_DISTANCE, len(history) + at)
        assert length >= (longrange.MIN_COPY_BYTES if distance > at else in_segment), "a source in the segment"
        at += length
    assert len(literals) == len(segment) - sum(length for _, _, length in copies)
    assert resolved(history, copies, literals, zlib.crc32(segment)) == segment


# ---------------------------------------------------------------- streams with copies


def test_a_segment_repeating_the_one_before_is_coded_as_copies():
    blob = compressed(REPEATED)
    kinds = [header.kind for _, _, header in member_spans(blob)]
    assert len(kinds) == -(-len(REPEATED) // SEGMENT) and kinds[0] == "bytes" and container.COPIES_KIND in kinds
    info = api.read_info(io.BytesIO(blob))
    assert info.stats.original_bytes == len(REPEATED)
    assert [member.original_bytes for member in info.members[:-1]] == [SEGMENT] * (len(kinds) - 1)
    assert info.stats.n_symbols < len(REPEATED) // 2, "the copies are not coded as literals"
    assert info.copied_bytes == len(REPEATED) - info.stats.n_symbols
    assert api.info_record(info)["copied_bytes"] == info.copied_bytes


def no_copies(history: bytes, segment: bytes) -> tuple[container.CopyList, bytes]:
    return [], segment


def test_copies_make_a_repeating_input_cost_what_its_new_bytes_do(monkeypatch):
    with_copies = len(compressed(REPEATED))
    monkeypatch.setattr(longrange, "find_copies", no_copies)
    without = len(compressed(REPEATED))
    assert with_copies < 0.5 * without
    assert without - with_copies > 0.5 * (len(REPEATED) - len(TEXT)) * 0.3, "each repeated byte saved ~0.3 byte"


@pytest.mark.parametrize("period", [1, 3, 100])
def test_a_run_or_a_short_period_is_one_copy_per_segment(monkeypatch, period):
    """The source runs on into the segment (the copy overlaps itself), so a run is not cut
    into short copies at the history's end, and costs no more than the model would."""
    data = (random.Random(period).randbytes(period) * (5 * SEGMENT // period + 1))[:5 * SEGMENT]
    blob = compressed(data)
    assert deepcompress.decompress(blob, threads=2) == data
    spans = member_spans(blob)
    assert [len(header.extra.get("copies", ())) for _, _, header in spans[1:]] == [3] * 4
    monkeypatch.setattr(longrange, "find_copies", no_copies)
    assert len(blob) <= len(compressed(data)) + 8 * len(spans)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_decoder_puts_the_copies_back(threads):
    blob = compressed(REPEATED)
    assert compressed(REPEATED, threads) == blob, "the bytes do not depend on the thread count"
    assert deepcompress.decompress(blob, threads=threads) == REPEATED
    stats = api.decompress_stream(io.BytesIO(blob), None, threads=threads)  # verify only
    assert stats.original_bytes == len(REPEATED) and stats.compressed_bytes == len(blob)
    with deepcompress.open(io.BytesIO(blob)) as reader:
        assert reader.read(1234) + reader.read() == REPEATED


def test_the_incremental_compressor_writes_the_same_copies():
    compressor = deepcompress.Compressor(level=1, block_size=BLOCK)
    pieces = [compressor.compress(REPEATED[start:start + 777]) for start in range(0, len(REPEATED), 777)]
    assert b"".join(pieces) + compressor.flush() == compressed(REPEATED)


def test_a_stream_with_copies_concatenated_after_another_decodes_to_both():
    first = compressed(TEXT[::-1])
    assert deepcompress.decompress(first + compressed(REPEATED)) == TEXT[::-1] + REPEATED


def test_a_copies_member_decoded_alone_is_refused():
    blob = compressed(REPEATED)
    start = next(start for start, _, header in member_spans(blob) if header.kind == container.COPIES_KIND)
    with pytest.raises(CorruptStreamError, match="before the output kept"):
        deepcompress.decompress(blob[start:])
    with pytest.raises(CorruptStreamError, match="before the output kept"):
        deepcompress.Decompressor().decompress(blob[start:])


def test_decompressors_chained_over_unused_data_decode_the_stream():
    """The gzip idiom for members, one Decompressor each, given the one before (`previous=`)."""
    out, rest, previous = [], compressed(REPEATED), None
    while rest:
        previous = deepcompress.Decompressor(previous=previous)
        out.append(previous.decompress(rest))
        assert previous.eof
        rest = previous.unused_data
    assert b"".join(out) == REPEATED
    with pytest.raises(ValueError, match="end of its member"):
        deepcompress.Decompressor(previous=deepcompress.Decompressor())


# ---------------------------------------------------------------- forged copy lists


def _shift_first(index: int, delta: int):
    def edit(extra):
        extra["copies"][index] += delta
        return extra
    return edit


FORGED = {
    "a copy reaching before the output": (_shift_first(1, 10 * len(REPEATED)), "before the output kept"),
    "a copy of no bytes": (lambda e: dict(e, copies=[0, 5, 0]), "out of range"),
    "a copy from no distance back": (lambda e: dict(e, copies=[0, 0, 5]), "out of range"),
    "a copy overlapping itself, wrongly": (lambda e: dict(e, copies=[0, 5, 6, *e["copies"][3:]]), "checksum mismatch"),
    "a copy beyond the literals": (_shift_first(0, 10 * len(REPEATED)), "beyond the member's literals"),
    "a copy one byte nearer": (_shift_first(1, -1), "checksum mismatch"),
    "the output CRC changed": (lambda e: dict(e, crc32=e["crc32"] ^ 1), "checksum mismatch"),
    "copies adding over the bound": (lambda e: dict(e, copies=[0, container.MAX_COPY_DISTANCE, container.MAX_COPY_DISTANCE,
                                                              0, container.MAX_COPY_DISTANCE, 1]), "out of range"),
    "a copy list of the wrong length": (lambda e: dict(e, copies=e["copies"][:-1]), "bad copy list"),
    "a negative distance": (lambda e: dict(e, copies=[0, -5, 1]), "bad copy list"),
    "no output CRC": (lambda e: {"copies": e["copies"]}, "bad copy list"),
    "an unknown key": (lambda e: dict(e, more=1), "bad copy list"),
}


@pytest.mark.parametrize("name", sorted(FORGED))
@pytest.mark.parametrize("threads", [1, 2])
def test_a_forged_copy_list_is_refused(name, threads):
    edit, message = FORGED[name]
    blob = with_extra(compressed(REPEATED), edit)
    with pytest.raises(CorruptStreamError, match=message):
        deepcompress.decompress(blob, threads=threads)
    with pytest.raises(CorruptStreamError, match=message):
        deepcompress.open(io.BytesIO(blob)).read()
