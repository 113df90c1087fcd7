"""Formats 2 and 3: golden streams (scripts/make_golden_format.py), sizes, stored blocks and concatenated members.

tests/golden/v3/ pins the format written now (its streams re-compress byte for byte);
tests/golden/v2/ is frozen (written by the version-2 release of the script): its streams keep
decoding, its damaged ones keep raising their errors, and each valid one is, but for the two
documented differences (`dcz_layout.as_version_3`), the v3 stream of the same input.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from pathlib import Path

import make_golden_format as MAKE_GOLDEN
import pytest
from dcz_layout import as_version_3
from hypothesis import given, settings
from hypothesis import strategies as st

import deepcompress
from deepcompress import api, container, errors
from deepcompress.errors import CorruptStreamError, DeepCompressError, TruncatedStreamError

ROOT = Path(__file__).resolve().parents[1]

GOLDEN = ROOT / "tests" / "golden"
V2, V3 = GOLDEN / "v2", GOLDEN / "v3"
EXPECTED = {version: json.loads((GOLDEN / f"v{version}" / "expected.json").read_text()) for version in (2, 3)}




def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Frozen damaged goldens whose outcome a later version changed: (version, name) -> (error, why).
SUPERSEDED = {(2, "future_version"): ("CorruptStreamError", "version 3 is read now: the v2 header then fails its CRC")}


def cases(kind: str) -> list[tuple[int, str]]:
    return [(version, name) for version in (2, 3) for name in sorted(EXPECTED[version][kind])]


# ---------------------------------------------------------------- golden streams


def test_the_script_writes_the_current_version():
    assert MAKE_GOLDEN.CURRENT == V3 and container.FORMAT_VERSION == 3


@pytest.mark.parametrize("version", (2, 3))
def test_golden_set_is_complete(version):
    expected = EXPECTED[version]
    assert set(expected["valid"]) == set(MAKE_GOLDEN.VALID)
    assert len(expected["corrupt"]) >= 50
    on_disk = {path.name for path in (GOLDEN / f"v{version}" / "corrupt").glob("*.dcz")}
    assert on_disk == {Path(entry["file"]).name for entry in expected["corrupt"].values()}


@pytest.mark.parametrize("version,name", cases("valid"))
def test_golden_stream_decodes_to_its_hash(version, name):
    entry = EXPECTED[version]["valid"][name]
    blob = (GOLDEN / f"v{version}" / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    assert blob[4] == version
    data = deepcompress.decompress(blob)
    assert sha256(data) == entry["output_sha256"] and len(data) == entry["original_bytes"]
    info = api.read_info(io.BytesIO(blob))
    assert info.header.coder == entry["coder"] or info.header.coder == "binary"
    assert info.header.block_size == entry["block_size"] and info.header.version == version
    assert info.stats.original_bytes == entry["original_bytes"] and info.stats.compressed_bytes == len(blob)


@pytest.mark.parametrize("name", sorted(EXPECTED[3]["valid"]))
def test_recompressing_gives_byte_identical_stream(name):
    """Pins the format: any change to header, records, coder or model shows up here."""
    data, model, coder, block_size = MAKE_GOLDEN.VALID[name]
    assert sha256(data) == EXPECTED[3]["valid"][name]["output_sha256"]
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, model, coder, block_size)
    assert sink.getvalue() == (V3 / EXPECTED[3]["valid"][name]["file"]).read_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED[2]["valid"]) + ["records_k5_d3"])
def test_version_2_differs_from_version_3_only_where_documented(name):
    """The frozen v2 stream, its fingerprint cut to 8 bytes and (one coded block) its end
    record shortened, is the v3 stream of the same input: blocks, payloads and CRCs agree."""
    v2, v3 = (V2 / f"{name}.dcz").read_bytes(), (V3 / f"{name}.dcz").read_bytes()
    assert v2 != v3 and as_version_3(v2) == v3
    saved = len(v2) - len(v3)
    fingerprint = container.read_header(io.BytesIO(v2)).fingerprint is not None
    assert saved == (8 if fingerprint else 0) + (4 if v3[-1:] == b"\x01" else 0)


def test_golden_files_are_current():
    """The script regenerates exactly what is checked in (it writes only with DEEPCOMPRESS_REGEN=1)."""
    for path, content in MAKE_GOLDEN.build().items():
        assert path.read_bytes() == content, f"{path.relative_to(ROOT)} is out of date"


@pytest.mark.parametrize("version,name", cases("corrupt"))
def test_corrupt_golden_raises_its_specific_error(version, name):
    entry = EXPECTED[version]["corrupt"][name]
    blob = (GOLDEN / f"v{version}" / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    error = SUPERSEDED.get((version, name), (entry["error"],))[0]
    with pytest.raises(DeepCompressError) as raised:
        deepcompress.decompress(blob)
    assert type(raised.value) is getattr(errors, error), f"{name} ({entry['damage']}): {raised.value!r}"
    with pytest.raises(DeepCompressError):
        api.decompress_stream(io.BytesIO(blob), None)
    try:
        api.read_info(io.BytesIO(blob))
    except DeepCompressError:
        pass


@pytest.mark.parametrize("name", ["short_end_without_blocks", "short_end_after_three_blocks",
                                  "short_end_after_a_stored_block", "short_end_after_an_array_header",
                                  "short_end_block_repeated", "short_end_block_dropped"])
def test_a_misplaced_short_end_is_caught_without_decoding(name):
    """`info` reads the records only: the short end's structural rule still holds there."""
    with pytest.raises(CorruptStreamError, match="short end record"):
        api.read_info(io.BytesIO((V3 / "corrupt" / f"{name}.dcz").read_bytes()))


@pytest.mark.parametrize("version", (2, 3))
def test_golden_stream_with_copies_decodes_to_its_hash(version):
    """Pins the members of kind "copies" (`longrange`): their header, and the copies found."""
    entry = EXPECTED[version]["copies"]
    blob = (GOLDEN / f"v{version}" / entry["file"]).read_bytes()
    assert sha256(blob) == entry["dcz_sha256"], "golden file changed on disk"
    if version == 3:
        assert MAKE_GOLDEN.copies_stream() == blob
    for threads in (1, 2):
        assert sha256(deepcompress.decompress(blob, threads=threads)) == entry["output_sha256"]
    info = api.read_info(io.BytesIO(blob))
    assert len(info.members) == 3 and info.stats.original_bytes == len(MAKE_GOLDEN.COPIES_INPUT)
    assert info.stats.n_symbols < 4096 + 100, "the second and third copies are copies"


def test_a_copies_member_of_one_coded_block_ends_short_with_its_kind():
    """End marker 3: short, and of kind copies (the literals are the one block; the copies the header's)."""
    import zlib

    text = b"the end record binds the member's kind; " * 8
    data = text + text[:100] + b" tail"
    literals = text + b" tail"
    sink = io.BytesIO()
    writer = api.StreamWriter(sink, api.load_model("adaptive"), "binary",
                              copies=container.copies_extra([(len(text), len(text), 100)], zlib.crc32(data)))
    writer.push(literals, last=True)
    writer.finish()
    blob = sink.getvalue()
    assert blob[-1] == 3 and deepcompress.decompress(blob) == data
    with pytest.raises(CorruptStreamError, match="kind other than copies ends one of kind copies"):
        deepcompress.decompress(blob[:-1] + b"\x01")  # the short end of a member of bytes
    assert api.read_info(io.BytesIO(blob)).stats.original_bytes == len(data)


@pytest.mark.parametrize("version", (2, 3))
def test_golden_stream_of_a_model_file_names_it_by_fingerprint(version):
    from deepcompress.modelfile import load_model

    blob = (GOLDEN / f"v{version}" / "records_k5_d3.dcz").read_bytes()
    model, _ = load_model(MAKE_GOLDEN.RECORDS_MODEL)
    info = api.read_info(io.BytesIO(blob))
    assert info.header.model == "record-mlp" and info.header.config == {}
    assert info.header.fingerprint == model.fingerprint()[:32 if version == 2 else 16]
    assert sha256(api.decompress(blob, model)) == EXPECTED[version]["records_k5_d3"]["output_sha256"]
    with pytest.raises(errors.ModelMismatchError, match="needs the model file"):
        api.decompress(blob)


# ---------------------------------------------------------------- sizes


def test_fixed_overhead_of_a_builtin_model():
    """Issue 13: <= 24 bytes for an empty input, <= 26 for one byte (header 14, end record 5)."""
    assert len(deepcompress.compress(b"")) <= 24
    assert len(deepcompress.compress(b"\x00")) <= 26
    assert len(deepcompress.compress(b"A")) <= 26
    for model in ("histogram", "histogram-adaptive"):
        assert len(deepcompress.compress(b"", model)) <= 24


def test_a_small_file_with_a_model_file_costs_18_bytes_around_its_block():
    """Issue 14's many small files: a v3 header naming a model file is 17 bytes (magic 4,
    version, flags, id, fingerprint 8, CRC-16 2) and the end of a one-block member 1 byte."""
    import numpy as np

    from deepcompress.models import HistogramModel

    trained = HistogramModel.fit(np.frombuffer(b"import os\n" * 50, dtype=np.uint8))
    data = b"import sys\nimport os\n" * 8
    blob = deepcompress.compress(data, trained)
    source = io.BytesIO(blob)
    header = container.read_header(source)
    assert source.tell() == 17 and header.fingerprint == trained.fingerprint()[:16]
    record = container.read_block(source, header)
    assert isinstance(record, container.BlockRecord) and not record.stored
    assert blob[source.tell():] == b"\x01"  # the short end: the block's data CRC is the member's
    assert deepcompress.decompress(blob, trained) == data


def test_random_data_is_stored():
    data = random.Random(5).randbytes(300_000)
    for model in ("adaptive", "histogram", "histogram-adaptive"):
        blob = deepcompress.compress(data, model)
        assert len(blob) <= len(data) * 1.0001 + 32, model
        assert deepcompress.decompress(blob) == data


def test_stored_blocks_keep_the_model_in_step():
    """A stored block between coded ones: the decoder replays it through the model, so the next
    coded block (which the encoder coded with the model's state after it) decodes."""
    text = (ROOT / "samples" / "sample.txt").read_bytes()[:3000]
    noise = random.Random(2).randbytes(3000)
    data = text + noise + text
    for model in ("adaptive", "histogram-adaptive", "histogram"):
        sink = io.BytesIO()
        writer = api.StreamWriter(sink, api.load_model(model), block_size=3000)
        records = [writer.push(data[i:i + 3000]) for i in range(0, len(data), 3000)]
        writer.finish()
        assert [r.stored for r in records] == [False, True, False], model
        assert deepcompress.decompress(sink.getvalue()) == data


def test_array_streams_store_whole_elements():
    import numpy as np

    array = np.random.default_rng(4).integers(-(2**23), 2**23, size=2000, dtype=np.int64)  # 2**24 values
    blob = api.compress_array(array, "histogram-adaptive")
    assert np.array_equal(api.decompress_array(blob), array)
    assert len(blob) <= array.nbytes * 1.0001 + 300  # the .npy header travels in the stream header


# ---------------------------------------------------------------- concatenated members


class Pipe(io.RawIOBase):
    """A non-seekable source that returns at most `chunk` bytes per read, like a pipe."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self._data, self._chunk = data, chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._chunk if size < 0 else min(size, self._chunk)
        piece, self._data = self._data[:size], self._data[size:]
        return piece


PARTS = [b"first member\n" * 30, b"", b"x", random.Random(1).randbytes(500), b"last\n" * 100]


def test_concatenated_members_decode_to_the_concatenation():
    models = ["adaptive", "histogram", "histogram-adaptive", "adaptive", "histogram"]
    blobs = [deepcompress.compress(part, model) for part, model in zip(PARTS, models)]
    joined = b"".join(blobs)
    assert deepcompress.decompress(joined) == b"".join(PARTS)
    for source in (io.BytesIO(joined), Pipe(joined), Pipe(joined, 1)):
        sink = io.BytesIO()
        stats = api.decompress_stream(source, sink)
        assert sink.getvalue() == b"".join(PARTS)
        assert stats.compressed_bytes == len(joined) and stats.original_bytes == sum(map(len, PARTS))
    reader = api.StreamReader(Pipe(joined))
    assert b"".join(reader.blocks()) == b"".join(PARTS)
    assert [m.original_bytes for m in reader.members] == [len(p) for p in PARTS]
    assert [m.compressed_bytes for m in reader.members] == [len(b) for b in blobs]
    info = api.read_info(Pipe(joined))
    assert [m.compressed_bytes for m in info.members] == [len(b) for b in blobs]
    assert info.stats.original_bytes == sum(map(len, PARTS)) and info.stats.compressed_bytes == len(joined)


def test_concatenated_array_members_carry_each_npy_header():
    import numpy as np

    a, b = np.arange(6, dtype=np.int16).reshape(2, 3), np.arange(4, dtype=np.uint8)
    joined = api.compress_array(a) + api.compress_array(b)

    def npy(array):
        out = io.BytesIO()
        np.save(out, array)
        return out.getvalue()

    assert deepcompress.decompress(joined) == npy(a) + npy(b)


def test_damage_in_a_later_member_is_caught():
    first, second = deepcompress.compress(b"one" * 50), deepcompress.compress(b"two" * 50)
    with pytest.raises(TruncatedStreamError):
        deepcompress.decompress(first + second[:-1])
    with pytest.raises(CorruptStreamError):
        deepcompress.decompress(first + second[:-3] + bytes([second[-3] ^ 1]) + second[-2:])  # its block CRC
    with pytest.raises(CorruptStreamError, match="trailing data"):
        deepcompress.decompress(first + b"\x1f\x8b" + second)
    sink = io.BytesIO()
    with pytest.raises(TruncatedStreamError):
        api.decompress_stream(io.BytesIO(first + second[:10]), sink)
    assert sink.getvalue() == b"one" * 50  # the first member was complete and verified


def test_model_file_members_take_the_given_model():
    import numpy as np

    from deepcompress.models import HistogramModel

    trained = HistogramModel.fit(np.frombuffer(b"abcabc" * 10, dtype=np.uint8))
    joined = deepcompress.compress(b"abc" * 9, trained) + deepcompress.compress(b"cab", trained)
    assert deepcompress.decompress(joined, trained) == b"abc" * 9 + b"cab"
    with pytest.raises(errors.ModelMismatchError):
        deepcompress.decompress(joined)
    # a given model must be every member's (as for a single stream, any other is refused)
    with pytest.raises(errors.ModelMismatchError):
        deepcompress.decompress(joined + deepcompress.compress(b"cab", "histogram"), trained)


@settings(max_examples=25, deadline=None)
@given(parts=st.lists(st.binary(max_size=300), min_size=1, max_size=4), block_size=st.integers(1, 200))
def test_property_concatenation(parts, block_size):
    blobs = []
    for part in parts:
        sink = io.BytesIO()
        api.compress_stream(io.BytesIO(part), sink, "histogram-adaptive", block_size=block_size)
        blobs.append(sink.getvalue())
    assert deepcompress.decompress(b"".join(blobs)) == b"".join(parts)


def test_v1_v2_and_v3_members_mix():
    v1 = (ROOT / "tests" / "golden" / "hello_static.dcz").read_bytes()
    v2 = (V2 / "hello_static.dcz").read_bytes()
    v3 = deepcompress.compress(b"v3 data")
    assert (v1[4], v2[4], v3[4]) == (1, 2, 3)
    hello = b"hello, deepcompress\n" * 20
    assert deepcompress.decompress(v1 + v3 + v2 + v1) == hello + b"v3 data" + hello * 2
    assert os.environ.get("DEEPCOMPRESS_REGEN") != "1"


# ---------------------------------------------------------------- the command line


def run_cli(*args: str, stdin: bytes = b"", cwd: Path) -> tuple[int, bytes, bytes]:
    from click.testing import CliRunner

    from deepcompress.cli import main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        done = CliRunner(catch_exceptions=False).invoke(main, list(args), input=stdin)
    finally:
        os.chdir(old)
    return done.exit_code, done.stdout_bytes, done.stderr_bytes


def test_cli_decodes_concatenated_members_from_files_and_pipes(tmp_path):
    import subprocess
    import sys

    (tmp_path / "a").write_bytes(b"alpha\n" * 40)
    (tmp_path / "b").write_bytes(b"beta\n" * 3)
    code, joined, _ = run_cli("compress", "-c", "a", "b", cwd=tmp_path)
    assert code == 0
    (tmp_path / "ab.dcz").write_bytes(joined)
    assert run_cli("test", "ab.dcz", cwd=tmp_path)[0] == 0
    code, out, _ = run_cli("decompress", "-c", "ab.dcz", cwd=tmp_path)
    assert code == 0 and out == b"alpha\n" * 40 + b"beta\n" * 3
    code, out, _ = run_cli("info", "--json", "ab.dcz", cwd=tmp_path)
    record = json.loads(out)
    assert record["members"] == 2 and record["format_version"] == 3
    assert record["original_bytes"] == 255 and record["compressed_bytes"] == len(joined)
    # a real pipe: cat a.dcz b.dcz | deepcompress decompress
    done = subprocess.run([sys.executable, "-m", "deepcompress", "decompress"], input=joined + joined,
                          capture_output=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stdout == (b"alpha\n" * 40 + b"beta\n" * 3) * 2
    (tmp_path / "bad.dcz").write_bytes(joined + b"junk")
    code, _, err = run_cli("test", "bad.dcz", cwd=tmp_path)
    assert code == 1 and b"trailing data" in err


@pytest.mark.parametrize("kind", ["bytes", "npy"])
def test_a_layout_with_keys_no_writer_makes_is_refused(kind):
    """A header under a valid CRC whose data description has a key more (or, for arrays, one
    fewer) than the writer puts there is corrupt, not read with the key ignored."""
    import dataclasses

    import numpy as np

    array = np.arange(300, dtype=np.int16).reshape(100, 3)
    blob = deepcompress.compress_array(array) if kind == "npy" else deepcompress.compress(b"hello, world " * 20)
    decode = deepcompress.decompress_array if kind == "npy" else deepcompress.decompress
    source = io.BytesIO(blob)
    header = container.read_header(source)
    rest = blob[source.tell():]
    assert header.kind == kind
    extra = dict(header.extra)
    variants = [{**extra, "note": 1}]
    if kind == "npy":
        variants.append({key: value for key, value in extra.items() if key != "offset"})
    for forged_extra in variants:
        forged = container.encode_header(dataclasses.replace(header, extra=forged_extra)) + rest
        with pytest.raises(CorruptStreamError, match="malformed array description"):
            decode(forged)
    original = array if kind == "npy" else b"hello, world " * 20
    assert np.array_equal(decode(container.encode_header(header) + rest), original)  # the header re-encoded as is
