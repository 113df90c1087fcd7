#!/usr/bin/env python3
"""Check the frozen format-1 golden streams under tests/golden/ and write their damaged variants.

    DEEPCOMPRESS_REGEN=1 python scripts/make_golden.py   # rewrite the damaged variants
    python scripts/make_golden.py                        # only check that they are current

This version writes format 3 (scripts/make_golden_format.py pins it); the valid version-1
streams here were written by earlier versions and are frozen: tests decode each one (the
legacy reader) and nothing rewrites them. The streams in tests/golden/corrupt/ are derived
from them, damaged in one specific way each; expected.json records the error class each
must raise, the sha256 of every file and, for valid streams, of its decoded output.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import golden_sync  # noqa: E402
from golden_sync import sha256  # noqa: E402

from deepcompress import api, container  # noqa: E402
from deepcompress.models.adaptive import AdaptiveModel

GOLDEN = ROOT / "tests" / "golden"
BLOCK_V1 = struct.Struct("<IIIIdII")  # the version-1 block record (README: format 1)
CORRUPT = GOLDEN / "corrupt"

HELLO = b"hello, deepcompress\n" * 20
# 12 copies of the bundled sample: 43.8 kB, coded by the adaptive model in 2 lanes
SAMPLE_X12 = (ROOT / "samples" / "sample.txt").read_bytes() * 12

# name -> (input, model, coder, block_size); preset 1 of `adaptive` is pinned by name since
# preset 2 became the default (its streams record coder "binary", whatever is asked for), and
# preset 2 since preset 6 (engine 3) became the default
VALID = {
    "hello_static": (HELLO, "histogram", "range", api.DEFAULT_BLOCK_SIZE),
    "hello_adaptive": (HELLO, "histogram-adaptive", "range", api.DEFAULT_BLOCK_SIZE),
    "hello_static_ans_blocks": (HELLO, "histogram", "ans", 150),
    "hello_adaptive_blocks": (HELLO, "histogram-adaptive", "range", 150),
    "empty": (b"", "histogram-adaptive", "range", api.DEFAULT_BLOCK_SIZE),
    "sample_cm": (SAMPLE_X12, AdaptiveModel(preset=1), "range", api.DEFAULT_BLOCK_SIZE),
    "sample_cm_blocks": (SAMPLE_X12, AdaptiveModel(preset=1), "range", 10000),
    "sample_cm2": (SAMPLE_X12, AdaptiveModel(preset=2), "binary", api.DEFAULT_BLOCK_SIZE),
    "sample_cm2_blocks": (SAMPLE_X12, AdaptiveModel(preset=2), "binary", 10000),
    "sample_cm3": (SAMPLE_X12, AdaptiveModel(preset=3), "binary", api.DEFAULT_BLOCK_SIZE),
    "sample_cm6": (SAMPLE_X12, AdaptiveModel(preset=6), "binary", api.DEFAULT_BLOCK_SIZE),
    "sample_cm6_blocks": (SAMPLE_X12, AdaptiveModel(preset=6), "binary", 10000),
    "sample_cm7": (SAMPLE_X12, AdaptiveModel(preset=7), "binary", api.DEFAULT_BLOCK_SIZE),
}


def compress(name: str) -> bytes:
    """The frozen version-1 stream of VALID[name] (what an earlier version wrote for it)."""
    return (GOLDEN / f"{name}.dcz").read_bytes()


def layout(blob: bytes) -> dict:
    """Byte offsets of a stream's parts: header, each block's record/side/words, end record."""
    source = container.MemberSource(io.BytesIO(blob))
    header = container.read_header(source)
    parts = {"header_end": source.bytes_read, "blocks": []}
    while True:
        start = source.bytes_read
        record = container.read_block(source, header)
        if not isinstance(record, container.BlockRecord):
            break
        record_end = start + BLOCK_V1.size + 4
        side_end = record_end + len(record.side_info)
        parts["blocks"].append({"start": start, "record_end": record_end, "side_end": side_end, "end": source.bytes_read})
    parts["end_start"] = start
    return parts


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    out = bytearray(blob)
    out[position] ^= mask
    return bytes(out)


def with_header_body(blob: bytes, body: bytes, length: int | None = None) -> bytes:
    """Replace the JSON header body, with a correct header CRC (and a given declared length)."""
    end = layout(blob)["header_end"]
    head = struct.pack("<4sBI", container.MAGIC, 1, len(body) if length is None else length) + body
    return head + struct.pack("<I", zlib.crc32(head)) + blob[end:]


def with_block_fields(blob: bytes, index: int = 0, **changes) -> bytes:
    """Rewrite fields of a block record, recomputing the record CRC (payload left alone)."""
    block = layout(blob)["blocks"][index]
    names = ["n_symbols", "lanes", "side_length", "n_words", "nll_bits", "data_crc32", "payload_crc32"]
    fields = dict(zip(names, BLOCK_V1.unpack(blob[block["start"] : block["start"] + BLOCK_V1.size])))
    fields.update(changes)
    packed = BLOCK_V1.pack(*(fields[name] for name in names))
    record = packed + struct.pack("<I", zlib.crc32(packed))
    return blob[: block["start"]] + record + blob[block["record_end"] :]


def with_end_fields(blob: bytes, n_symbols: int, original_bytes: int, data_crc32: int) -> bytes:
    end = struct.pack("<IQQI", 0, n_symbols, original_bytes, data_crc32)
    return blob[: layout(blob)["end_start"]] + end + struct.pack("<I", zlib.crc32(end))


def corrupt_streams() -> dict[str, tuple[bytes, str, str]]:
    """name -> (stream, expected error class name, what is wrong)."""
    blob = compress("hello_static")  # one block, with side info
    blocks = compress("hello_static_ans_blocks")  # three blocks
    parts = layout(blob)
    header_end = parts["header_end"]
    block = parts["blocks"][0]
    end = parts["end_start"]
    header_json = json.loads(blob[9 : header_end - 4])
    multi = layout(blocks)

    def header(**changes) -> bytes:
        fields = {**header_json, **changes}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    c, t, v = "CorruptStreamError", "TruncatedStreamError", "UnsupportedVersionError"
    cases = {
        # not a stream at all
        "empty_file": (b"", c, "zero bytes"),
        "bad_magic": (flip(blob, 1, 0x20), c, "magic \\x89dCZ"),
        "gzip_magic": (b"\x1f\x8b\x08\x00" + blob[4:], c, "a gzip magic"),
        "text_file": (b"hello, deepcompress\n", c, "plain text"),
        # versions
        "future_version": (blob[:4] + b"\x02" + blob[5:], v, "version byte 2"),  # 0.1.0's (see SUPERSEDED)
        "version_255": (blob[:4] + b"\xff" + blob[5:], v, "version byte 255"),
        "version_zero": (blob[:4] + b"\x00" + blob[5:], v, "version byte 0"),
        # single flipped bytes, caught by a checksum
        "flipped_header_byte": (flip(blob, 20), c, "a bit of the JSON header"),
        "flipped_header_crc": (flip(blob, header_end - 1), c, "a bit of the header CRC"),
        "flipped_block_record": (flip(blob, block["start"] + 16), c, "a bit of the block record's nll_bits"),
        "flipped_block_record_crc": (flip(blob, block["record_end"] - 2), c, "a bit of the block record CRC"),
        "flipped_side_info_byte": (flip(blob, block["record_end"] + 1), c, "a bit of the stored histogram"),
        "flipped_payload_byte": (flip(blob, block["side_end"] + 2), c, "a bit of the coder words"),
        "flipped_last_payload_byte": (flip(blob, block["end"] - 1, 0x80), c, "the top bit of the last word"),
        "flipped_end_record": (flip(blob, end + 5), c, "a bit of the end record's n_symbols"),
        "bad_end_crc": (flip(blob, len(blob) - 1), c, "a bit of the end-record CRC"),
        "flipped_second_block_payload": (flip(blocks, multi["blocks"][1]["side_end"]), c, "a payload bit of block 2 of 3"),
        # truncated at each structural boundary (and inside each part)
        "truncated_in_magic": (blob[:2], t, "2 bytes"),
        "truncated_after_magic": (blob[:4], t, "magic only"),
        "truncated_after_preamble": (blob[:9], t, "magic, version, length"),
        "truncated_in_header": (blob[:40], t, "inside the JSON header"),
        "truncated_before_header_crc": (blob[: header_end - 4], t, "JSON without its CRC"),
        "truncated_in_header_crc": (blob[: header_end - 2], t, "half the header CRC"),
        "truncated_after_header": (blob[:header_end], t, "header only: no blocks, no end"),
        "truncated_in_block_record": (blob[: block["start"] + 10], t, "inside a block record"),
        "truncated_before_block_crc": (blob[: block["record_end"] - 4], t, "block record without its CRC"),
        "truncated_after_block_record": (blob[: block["record_end"]], t, "block record, no side info"),
        "truncated_after_side_info": (blob[: block["side_end"]], t, "side info, no words"),
        "truncated_in_payload": (blob[: block["end"] - 5], t, "inside the coder words"),
        "truncated_after_block": (blob[:end], t, "whole block, no end record"),
        "truncated_in_end_record": (blob[: end + 10], t, "inside the end record"),
        "truncated_before_end_crc": (blob[: len(blob) - 4], t, "end record without its CRC"),
        "truncated_after_first_of_three_blocks": (blocks[: multi["blocks"][0]["end"]], t, "block 1 of 3 only"),
        # extra data
        "trailing_garbage": (blob + b"garbage", c, "bytes after the end record"),
        "trailing_zero_byte": (blob + b"\x00", c, "one zero byte after the end record"),
        "two_streams_concatenated": (blob + blob, c, "a second stream after the first"),  # see SUPERSEDED
        # absurd declared sizes, with their CRCs fixed so only the bounds can catch them
        "header_claims_2pow31_bytes": (blob[:5] + struct.pack("<I", 2**31) + blob[9:], c, "header length 2**31"),
        "header_claims_max_bytes": (blob[:5] + struct.pack("<I", container.MAX_HEADER_BYTES) + blob[9:], t, "header length 1 MiB, file shorter"),
        "header_block_size_huge": (with_header_body(blob, header(block_size=2**40)), c, "block_size 2**40 (CRC fixed)"),
        "header_block_size_zero": (with_header_body(blob, header(block_size=0)), c, "block_size 0 (CRC fixed)"),
        "header_block_size_float": (with_header_body(blob, header(block_size=400.0)), c, "block_size 400.0 (CRC fixed)"),
        "header_not_json": (with_header_body(blob, b"\xff not json {"), c, "undecodable header (CRC fixed)"),
        "header_json_list": (with_header_body(blob, b"[1, 2, 3]"), c, "a JSON list (CRC fixed)"),
        "header_missing_model": (with_header_body(blob, json.dumps({k: v for k, v in header_json.items() if k != "model"}).encode()), c, "no model field (CRC fixed)"),
        "header_unknown_field": (with_header_body(blob, header(compression_level=9)), c, "an unknown field (CRC fixed)"),
        "header_model_not_string": (with_header_body(blob, header(model=5)), c, "model is a number (CRC fixed)"),
        "header_unknown_model": (with_header_body(blob, header(model="lstm")), c, "a model this version cannot build (CRC fixed)"),
        "header_unknown_coder": (with_header_body(blob, header(coder="huffman")), c, "coder huffman (CRC fixed)"),
        "header_alphabet_2pow24": (with_header_body(blob, header(config={"alphabet_size": 2**24 + 1, "mode": "static"})), c, "alphabet 2**24+1 (CRC fixed)"),
        "block_claims_2pow31_words": (with_block_fields(blob, n_words=2**31), c, "2**31 words (record CRC fixed)"),
        "block_claims_max_words": (with_block_fields(blob, n_words=8 * len(HELLO) + 64), t, "the most words allowed, file shorter (record CRC fixed)"),
        "block_claims_2pow31_side_bytes": (with_block_fields(blob, side_length=2**31), c, "2**31 side bytes (record CRC fixed)"),
        "block_claims_max_side_bytes": (with_block_fields(blob, side_length=container.MAX_SIDE_BYTES), t, "16 MiB side info, file shorter (record CRC fixed)"),
        "block_claims_2pow31_symbols": (with_block_fields(blob, n_symbols=2**31), c, "2**31 symbols > block_size (record CRC fixed)"),
        "block_claims_extra_symbol": (with_block_fields(blob, n_symbols=len(HELLO) + 1), c, "one symbol too many (record CRC fixed)"),
        "block_zero_lanes": (with_block_fields(blob, lanes=0), c, "0 lanes (record CRC fixed)"),
        "block_more_lanes_than_symbols": (with_block_fields(blob, lanes=len(HELLO) + 1), c, "lanes > symbols (record CRC fixed)"),
        "block_wrong_payload_crc": (with_block_fields(blob, payload_crc32=0), c, "payload CRC 0 (record CRC fixed)"),
        "block_wrong_data_crc": (with_block_fields(blob, data_crc32=0), c, "data CRC 0 (record CRC fixed)"),
        "end_claims_2pow63_symbols": (with_end_fields(blob, 2**63, 2**63, zlib.crc32(HELLO)), c, "2**63 symbols (end CRC fixed)"),
        "end_claims_one_byte_less": (with_end_fields(blob, len(HELLO) - 1, len(HELLO) - 1, zlib.crc32(HELLO)), c, "n - 1 symbols (end CRC fixed)"),
        "end_wrong_data_crc": (with_end_fields(blob, len(HELLO), len(HELLO), zlib.crc32(HELLO) ^ 1), c, "data CRC off by one bit (end CRC fixed)"),
        "block_dropped": (blocks[: multi["blocks"][1]["start"]] + blocks[multi["blocks"][1]["end"] :], c, "block 2 of 3 removed"),
        "blocks_swapped": (
            blocks[: multi["blocks"][0]["start"]]
            + blocks[multi["blocks"][1]["start"] : multi["blocks"][1]["end"]]
            + blocks[multi["blocks"][0]["start"] : multi["blocks"][0]["end"]]
            + blocks[multi["blocks"][2]["start"] :],
            c,
            "blocks 1 and 2 swapped",
        ),
    }
    return cases


# Valid goldens written after the 0.1.0 release, recorded in expected-added.json beside 0.1.0's expected.json.
ADDED_AFTER_0_1 = frozenset({"sample_cm2", "sample_cm2_blocks", "sample_cm3", "sample_cm6", "sample_cm6_blocks",
                             "sample_cm7"})


# 0.1.0's expectations that format 2 changed, recorded in expected-added.json (expected.json
# is never rewritten): version byte 2 is format 2 now, so a version-1 body under it fails the
# v2 header's checks; concatenated members decode to the concatenation, as with gzip.
SUPERSEDED = {
    "future_version": {"error": "CorruptStreamError",
                       "reason": "version 2 is format 2: the version-1 body fails the v2 header checks"},
    "two_streams_concatenated": {"output_sha256": sha256(HELLO + HELLO),
                                 "reason": "concatenated members decode to the concatenation"},
}


def build() -> dict[Path, bytes]:
    """Every golden file's path and content, plus expected.json."""
    files: dict[Path, bytes] = {}
    expected: dict = {"valid": {}, "corrupt": {}}
    added: dict = {"valid": {}, "superseded": SUPERSEDED}  # 0.1.0's expected.json is never rewritten
    for name, (data, model, coder, block_size) in VALID.items():
        blob = compress(name)
        files[GOLDEN / f"{name}.dcz"] = blob
        entry = golden_sync.valid_entry(name, data, model, coder, block_size, blob)
        (added if name in ADDED_AFTER_0_1 else expected)["valid"][name] = entry
    golden_sync.add_corrupt(files, expected, CORRUPT, corrupt_streams())
    files[GOLDEN / "expected.json"] = (json.dumps(expected, indent=2, sort_keys=True) + "\n").encode()
    files[GOLDEN / "expected-added.json"] = (json.dumps(added, indent=2, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    return golden_sync.sync(build(), [CORRUPT], "")


if __name__ == "__main__":
    sys.exit(main())
