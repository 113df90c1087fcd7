#!/usr/bin/env python3
"""Write the golden .dcz streams of the format written now under tests/golden/v{FORMAT_VERSION}/.

    DEEPCOMPRESS_REGEN=1 python scripts/make_golden_format.py   # rewrite the files
    python scripts/make_golden_format.py                        # only check that they are current

The valid streams pin the format (version 3): tests decode each one and re-compress its input
to the byte-identical file. The streams in corrupt/ are damaged in one specific way each
(forged fields get their CRCs recomputed, through scripts/dcz_layout.py, so that the bounds
and value checks are what must catch them); expected.json records the error class each must
raise, the sha256 of every file and, for valid streams, of its decoded output.

Earlier versions' goldens are frozen (tests/golden/v2/, written by this script's version-2
release; tests/golden/*.dcz, 0.1.0's version 1): they are decoded, never rewritten. A format
change bumps container.FORMAT_VERSION, and this script then writes a new directory.
"""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import golden_sync
from golden_sync import sha256
from dcz_layout import LAYOUT, SHORT_END, parse, varint

from deepcompress import api, container
from deepcompress.modelfile import load_model
from deepcompress.models.adaptive import AdaptiveModel
from deepcompress.symbols import array_layout, storage_order_bytes

GOLDEN = ROOT / "tests" / "golden"
CURRENT = GOLDEN / f"v{container.FORMAT_VERSION}"
CORRUPT = CURRENT / "corrupt"

HELLO = b"hello, deepcompress\n" * 20
SAMPLE_X12 = (ROOT / "samples" / "sample.txt").read_bytes() * 12
NOISE_THEN_TEXT = random.Random(13).randbytes(2500) + HELLO  # stored blocks, then coded ones
DEFAULT = api.DEFAULT_BLOCK_SIZE

# name -> (input, model, coder, block_size)
VALID = {
    "empty": (b"", "adaptive", "range", DEFAULT),
    "one_byte": (b"A", "adaptive", "range", DEFAULT),
    "hello_static": (HELLO, "histogram", "range", DEFAULT),
    "hello_adaptive": (HELLO, "histogram-adaptive", "range", DEFAULT),
    "hello_static_ans_blocks": (HELLO, "histogram", "ans", 150),
    "hello_adaptive_blocks": (HELLO, "histogram-adaptive", "range", 150),
    "sample_cm": (SAMPLE_X12, AdaptiveModel(preset=1), "range", DEFAULT),
    "sample_cm_blocks": (SAMPLE_X12, AdaptiveModel(preset=1), "range", 10000),
    "sample_cm2": (SAMPLE_X12, AdaptiveModel(preset=2), "binary", DEFAULT),
    "sample_cm2_blocks": (SAMPLE_X12, AdaptiveModel(preset=2), "binary", 10000),
    "sample_cm3": (SAMPLE_X12, AdaptiveModel(preset=3), "binary", DEFAULT),
    "sample_cm6": (SAMPLE_X12, AdaptiveModel(preset=6), "binary", DEFAULT),
    "sample_cm6_blocks": (SAMPLE_X12, AdaptiveModel(preset=6), "binary", 10000),
    "sample_cm7": (SAMPLE_X12, AdaptiveModel(preset=7), "binary", DEFAULT),
    "sample_cm8": (SAMPLE_X12, AdaptiveModel(preset=8), "binary", DEFAULT),
    "sample_cm9": (SAMPLE_X12, AdaptiveModel(preset=9), "binary", DEFAULT),
    "sample_cm10": (SAMPLE_X12, AdaptiveModel(preset=10), "binary", DEFAULT),
    "noise_then_text": (NOISE_THEN_TEXT, "adaptive", "binary", 1000),
}
# The record model's golden array, coded with its model file: a header naming the model by fingerprint.
RECORDS_MODEL = GOLDEN / "records_k5_d3.dcm"
# Three copies of the sample, a byte changed in each, in segments of 4 KiB (blocks of 1 KiB):
# members of kind "copies" after the first (`longrange`).
COPIES_SEGMENT_BYTES = 4096
COPIES_INPUT = b"".join(bytes(byte ^ (0x20 if i == 1000 * copy else 0) for i, byte in enumerate(SAMPLE_X12[:3654]))
                        for copy in range(1, 4))


def compress(name: str) -> bytes:
    data, model, coder, block_size = VALID[name]
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, model, coder, block_size)
    return sink.getvalue()


def records_stream() -> tuple[bytes, bytes]:
    """(the array's .npy bytes, its stream) for the record model's golden array."""
    model, _ = load_model(RECORDS_MODEL)
    npy = api.decompress((GOLDEN / "records_k5_d3.dcz").read_bytes(), model)  # the frozen v1 stream
    array = np.load(io.BytesIO(npy))
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(storage_order_bytes(array)), sink, model, "range", 50, array_layout(array, (0, 5)))
    return npy, sink.getvalue()


def copies_stream() -> bytes:
    """COPIES_INPUT at level 1 in segments of COPIES_SEGMENT_BYTES."""
    segment_bytes, api.SEGMENT_BYTES = api.SEGMENT_BYTES, COPIES_SEGMENT_BYTES
    try:
        sink = io.BytesIO()
        api.compress_stream(io.BytesIO(COPIES_INPUT), sink, AdaptiveModel(preset=10), "binary", 1024)
    finally:
        api.SEGMENT_BYTES = segment_bytes
    return sink.getvalue()


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    out = bytearray(blob)
    out[position] ^= mask
    return bytes(out)


def forged(blob: bytes, edit) -> bytes:
    """`blob` with its parts edited by `edit(member)`, header and block CRCs recomputed."""
    member = parse(blob)
    edit(member)
    return member.to_bytes()


def setter(part: str, **changes):
    def edit(member):
        target = member.header if part == "header" else member.blocks[int(part)]
        for name, value in changes.items():
            setattr(target, name, value)
    return edit


def copies_member_forged(edit) -> bytes:
    """copies_stream() with its second member (of kind "copies") edited by `edit(member)`; a
    header edit given flags=None clears the layout flag."""
    blob = copies_stream()
    sizes = [member.compressed_bytes for member in api.read_info(io.BytesIO(blob)).members]
    start, end = sizes[0], sizes[0] + sizes[1]
    member = parse(blob[start:end])
    flags = member.header.flags
    edit(member)
    if member.header.flags is None:
        member.header.flags = flags & ~LAYOUT
    return blob[:start] + member.to_bytes() + blob[end:]


def short_end(member) -> None:
    member.end_marker = SHORT_END


def corrupt_streams() -> dict[str, tuple[bytes, str, str]]:
    """name -> (stream, expected error class name, what is wrong)."""
    blob = compress("hello_static")  # one coded block, with side info: the short end
    blocks = compress("hello_static_ans_blocks")  # three blocks: the full end
    stored = compress("one_byte")  # one stored block: the full end
    empty = compress("empty")  # no block
    array = io.BytesIO()  # one coded block after an array's .npy header: the full end
    api.compress_stream(io.BytesIO(HELLO[:300]), array, "histogram", "range", DEFAULT,
                        array_layout(np.frombuffer(HELLO[:300], np.uint8)))
    array = array.getvalue()
    v2 = (GOLDEN / "v2" / "hello_static.dcz").read_bytes()  # frozen: one coded block, the full end
    parts, multi = parse(blob), parse(blocks)
    header_end = len(parts.header.to_bytes())
    block = parts.blocks[0]
    block_bytes = block.to_bytes()
    fields_end = header_end + block.fields_end
    side_end = fields_end + len(block.side)
    block_end = header_end + len(block_bytes)
    second = len(multi.header.to_bytes()) + len(multi.blocks[0].to_bytes())
    bad_config = container.encode_value({"alphabet_size": 256, "mode": "psychic"})
    huge_alphabet = container.encode_value({"alphabet_size": 2**24 + 1, "mode": "static"})

    c, t, v = "CorruptStreamError", "TruncatedStreamError", "UnsupportedVersionError"
    return {
        # not a stream at all
        "empty_file": (b"", c, "zero bytes"),
        "bad_magic": (flip(blob, 1, 0x20), c, "magic \\x89dCZ"),
        "text_file": (b"hello, deepcompress\n", c, "plain text"),
        # versions
        "future_version": (blob[:4] + bytes([container.FORMAT_VERSION + 1]) + blob[5:], v,
                           f"version byte {container.FORMAT_VERSION + 1}"),
        "version_zero": (blob[:4] + b"\x00" + blob[5:], v, "version byte 0"),
        # single flipped bits, caught by a checksum
        "flipped_header_flags": (flip(blob, 5, 0x02), c, "the coder bits of the flags (range -> binary)"),
        "flipped_header_config": (flip(blob, 8), c, "a bit of the config"),
        "flipped_header_crc": (flip(blob, header_end - 1), c, "a bit of the header CRC-16"),
        "flipped_block_head": (flip(blob, header_end, 0x08), c, "a bit of the block's n_symbols"),
        "flipped_block_nll": (flip(blob, header_end + 3), c, "a bit of the block's stored NLL"),
        "flipped_block_data_crc": (flip(blob, fields_end - 1), c, "a bit of the block's data CRC"),
        "flipped_side_info_byte": (flip(blob, fields_end + 1), c, "a bit of the stored histogram"),
        "flipped_payload_byte": (flip(blob, side_end + 2), c, "a bit of the coder payload"),
        "flipped_block_crc": (flip(blob, block_end - 1), c, "a bit of the block CRC"),
        "flipped_stored_byte": (flip(stored, len(stored) - 10), c, "a bit of a stored block's data"),
        "flipped_end_marker": (flip(blocks, len(blocks) - 5), c, "the end marker 0 -> 1 after 3 blocks"),
        "flipped_short_end": (flip(blob, len(blob) - 1), t, "the short end marker 1 -> 0: no CRC follows"),
        "flipped_end_crc": (flip(blocks, len(blocks) - 1), c, "a bit of the end record's CRC"),
        "flipped_second_block_payload": (flip(blocks, second + 20), c, "a payload bit of block 2 of 3"),
        # truncated at each structural boundary (and inside each part)
        "truncated_in_magic": (blob[:2], t, "2 bytes"),
        "truncated_after_version": (blob[:5], t, "magic and version"),
        "truncated_in_header": (blob[:8], t, "inside the header fields"),
        "truncated_before_header_crc": (blob[: header_end - 2], t, "header without its CRC"),
        "truncated_after_header": (blob[:header_end], t, "header only: no blocks, no end"),
        "truncated_in_block_fields": (blob[: header_end + 2], t, "inside a block record"),
        "truncated_after_block_fields": (blob[:fields_end], t, "block record, no side info"),
        "truncated_after_side_info": (blob[:side_end], t, "side info, no payload"),
        "truncated_in_payload": (blob[: block_end - 8], t, "inside the payload"),
        "truncated_before_block_crc": (blob[: block_end - 4], t, "a block without its CRC"),
        "truncated_after_block": (blob[:block_end], t, "whole block, no end record"),
        "truncated_in_end_record": (blocks[: len(blocks) - 2], t, "inside the end record's CRC"),
        "truncated_after_first_of_three_blocks": (blocks[:second], t, "block 1 of 3 only"),
        # what follows a member
        "trailing_garbage": (blob + b"garbage", c, "bytes after the end record"),
        "trailing_zero_byte": (blob + b"\x00", c, "one zero byte after the end record"),
        "second_member_truncated": (blob + blob[:20], t, "a second member cut short"),
        "second_member_magic_only": (blob + container.MAGIC[:3], t, "three bytes of a second magic"),
        # forged header values, header CRC recomputed
        "header_reserved_flag": (forged(blob, setter("header", flags=parts.header.flags | 0x80)), c, "flag bit 7 set"),
        "header_unknown_model_id": (forged(blob, setter("header", model_id=99)), c, "model id 99"),
        "header_model_id_2pow62": (forged(blob, setter("header", model_id=2**62)), c, "model id 2**62"),
        "header_unknown_model_name": (forged(blob, setter("header", model_id=0, name=b"lstm")), c, "model lstm"),
        "header_block_size_zero": (forged(blob, setter("header", flags=parts.header.flags | 0x10, block_size=0)),
                                   c, "block_size 0"),
        "header_block_size_huge": (forged(blob, setter("header", flags=parts.header.flags | 0x10,
                                                       block_size=container.MAX_BLOCK_SYMBOLS + 1)),
                                   c, "block_size 2**22 + 1"),
        "header_config_not_dict": (forged(blob, setter("header", config=container.encode_value([1, 2]))), c,
                                   "config is a list"),
        "header_config_unknown_mode": (forged(blob, setter("header", config=bad_config)), c, "histogram mode psychic"),
        "header_alphabet_2pow24": (forged(blob, setter("header", config=huge_alphabet)), c, "alphabet 2**24 + 1"),
        "header_config_huge_string": (forged(blob, setter("header", config=bytes([5]) + varint(2**40))), c,
                                      "a string of 2**40 bytes"),
        "header_unknown_coder": (forged(blob, setter("header", flags=parts.header.flags | 3, coder=b"huffman")), c,
                                 "coder huffman"),
        "header_wrong_coder": (forged(blob, setter("header", flags=(parts.header.flags & ~3) | 2)), c,
                               "coder binary for a table model"),
        # forged block values, block CRC recomputed
        "block_symbols_over_block_size": (forged(blob, setter("0", n_symbols=DEFAULT + 1)), c,
                                          "2**20 + 1 symbols, block size 2**20"),
        "block_one_symbol_too_many": (forged(blob, setter("0", n_symbols=len(HELLO) + 1)), c, "n + 1 symbols"),
        "block_zero_lanes": (forged(blob, setter("0", lanes=0)), c, "0 lanes"),
        "block_more_lanes_than_symbols": (forged(blob, setter("0", lanes=len(HELLO) + 1)), c, "lanes > symbols"),
        "block_side_2pow31": (forged(blob, setter("0", side_length=2**31)), c, "2**31 side bytes"),
        "block_side_max": (forged(blob, setter("0", side_length=container.MAX_SIDE_BYTES)), t,
                           "16 MiB side info, file shorter"),
        "block_payload_2pow40": (forged(blob, setter("0", payload_length=2**40)), c, "2**40 payload bytes"),
        "block_payload_max": (forged(blob, setter("0", payload_length=4 * (8 * len(HELLO) + 64))), t,
                              "the largest payload allowed, file shorter"),
        "block_wrong_data_crc": (forged(blob, setter("0", data_crc32=0)), c, "data CRC 0"),
        "block_marked_stored": (forged(blob, setter("0", stored=True, payload_length=None, data_crc32=None,
                                                    side_length=None, side=b"")), t,
                                "a coded block flagged stored: its n bytes are not there"),
        "block_dropped": (forged(blocks, lambda m: m.blocks.pop(1)), c, "block 2 of 3 removed"),
        "blocks_swapped": (forged(blocks, lambda m: m.blocks.reverse()), c, "blocks 1 and 3 swapped"),
        "stored_block_rewritten": (forged(stored, setter("0", payload=b"B")), c,
                                   "a stored byte changed, its block CRC recomputed: the end's data CRC differs"),
        "end_wrong_data_crc": (forged(blocks, lambda m: setattr(m, "data_crc32", m.data_crc32 ^ 1)), c,
                               "the end record's data CRC off by one bit"),
        # the short end where the full one is due (after anything but one coded block of bytes)
        "short_end_without_blocks": (forged(empty, short_end), c, "no block, then the short end"),
        "short_end_after_three_blocks": (forged(blocks, short_end), c, "three blocks, then the short end"),
        "short_end_after_a_stored_block": (forged(stored, short_end), c,
                                           "one stored block (its data has no CRC of its own), then the short end"),
        "short_end_after_an_array_header": (forged(array, short_end), c,
                                            "one coded block of an array: the .npy header has no CRC of its own"),
        "short_end_block_repeated": (forged(blob, lambda m: m.blocks.append(m.blocks[0])), c,
                                     "the one block twice, then the short end"),
        "short_end_block_dropped": (forged(blocks, lambda m: (short_end(m), m.blocks.pop(), m.blocks.pop())), c,
                                    "block 1 of 3 alone, then the short end"),
        "short_end_in_version_2": (forged(v2, short_end), c, "a version-2 member ended by marker 1"),
        # a member of kind "copies" whose header no longer says so (its literals alone would decode)
        "copies_member_layout_dropped": (copies_member_forged(setter("header", flags=None, layout=None)), c,
                                         "the second member's layout flag and layout removed, header CRC recomputed"),
        "bytes_member_ended_as_copies": (forged(blob, lambda m: setattr(m, "end_marker", b"\x03")), c,
                                         "a member of bytes with the copies bit in its end record"),
    }


def build() -> dict[Path, bytes]:
    """Every golden file's path and content, plus expected.json."""
    files: dict[Path, bytes] = {}
    expected: dict = {"valid": {}, "corrupt": {}}
    for name, (data, model, coder, block_size) in VALID.items():
        blob = compress(name)
        files[CURRENT / f"{name}.dcz"] = blob
        expected["valid"][name] = golden_sync.valid_entry(name, data, model, coder, block_size, blob)
    npy, blob = records_stream()
    files[CURRENT / "records_k5_d3.dcz"] = blob
    expected["records_k5_d3"] = {"file": "records_k5_d3.dcz", "output_sha256": sha256(npy), "dcz_sha256": sha256(blob)}
    blob = copies_stream()
    files[CURRENT / "copies.dcz"] = blob
    expected["copies"] = {"file": "copies.dcz", "output_sha256": sha256(COPIES_INPUT), "dcz_sha256": sha256(blob)}
    golden_sync.add_corrupt(files, expected, CORRUPT, corrupt_streams())
    files[CURRENT / "expected.json"] = (json.dumps(expected, indent=2, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    return golden_sync.sync(build(), [CURRENT, CORRUPT], " (a format change: bump FORMAT_VERSION too)")


if __name__ == "__main__":
    sys.exit(main())
