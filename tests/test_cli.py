"""The `deepcompress` command, run as a real process (`python -m deepcompress`)."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import deepcompress
from deepcompress.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
DATA = b"It was the best of times, it was the worst of times.\n" * 200 + bytes(range(256))
VERBOSE_LINE = re.compile(
    r"^(?P<name>.+): (?P<n>\d+) -> (?P<m>\d+) bytes \((?P<bpb>\d+\.\d{3}) bits/byte; "
    r"NLL (?P<nll>\d+\.\d{3}) bits/byte; overhead (?P<overhead>-?\d+\.\d{3})%\)$"
)


class Result:
    def __init__(self, returncode: int, stdout: bytes, stderr: bytes):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _check(result: Result, ok: int | None) -> Result:
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr, stderr
    if ok is not None:
        assert result.returncode == ok, f"exit {result.returncode}, stderr: {stderr}"
    return result


def proc(*args: str, cwd: Path, stdin: bytes = b"", ok: int | None = 0) -> Result:
    """Run `python -m deepcompress` as a real process (pipes, exit status, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "deepcompress", *args], cwd=cwd, input=stdin, capture_output=True, env=env, timeout=60
    )
    return _check(Result(done.returncode, done.stdout, done.stderr), ok)


def cli(*args: str, cwd: Path, stdin: bytes = b"", ok: int | None = 0) -> Result:
    """Run the command in this process with click's CliRunner (fast); exceptions propagate.

    `catch_exceptions=False`: anything but a clean exit fails the test, as a traceback would.
    """
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        done = CliRunner(catch_exceptions=False).invoke(main, list(args), input=stdin)
    finally:
        os.chdir(previous)
    return _check(Result(done.exit_code, done.stdout_bytes, done.stderr_bytes), ok)


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.txt"
    path.write_bytes(DATA)
    return path


# ---------------------------------------------------------------- round trips


def test_file_round_trip(tmp_path, sample):
    proc("compress", "sample.txt", cwd=tmp_path)
    assert listing(tmp_path) == ["sample.txt", "sample.txt.dcz"]
    compressed = (tmp_path / "sample.txt.dcz").read_bytes()
    assert deepcompress.decompress(compressed) == DATA
    assert len(compressed) < 0.6 * len(DATA)  # order-0 English: ~4.5 bits/byte
    sample.unlink()
    proc("decompress", "sample.txt.dcz", cwd=tmp_path)
    assert sample.read_bytes() == DATA
    assert listing(tmp_path) == ["sample.txt", "sample.txt.dcz"]  # input kept by default


def test_stdin_to_stdout_round_trip(tmp_path):
    compressed = proc("compress", cwd=tmp_path, stdin=DATA).stdout
    assert compressed[:4] == b"\x89DCZ"
    assert proc("decompress", cwd=tmp_path, stdin=compressed).stdout == DATA
    assert proc("decompress", "-", cwd=tmp_path, stdin=proc("compress", "-", cwd=tmp_path, stdin=b"").stdout).stdout == b""
    assert listing(tmp_path) == []


def test_model_and_coder_options(tmp_path, sample):
    for model in ("histogram", "histogram-adaptive"):
        for coder in ("range", "ans"):
            compressed = cli("compress", "-m", model, "--coder", coder, "-c", "sample.txt", cwd=tmp_path).stdout
            info = deepcompress.api.read_info(io.BytesIO(compressed))
            assert info.header.coder == coder
            assert info.header.config["mode"] == ("static" if model == "histogram" else "adaptive")
            assert cli("decompress", cwd=tmp_path, stdin=compressed).stdout == DATA


def test_stdout_flag_writes_no_file(tmp_path, sample):
    compressed = cli("compress", "-c", "sample.txt", cwd=tmp_path).stdout
    assert deepcompress.decompress(compressed) == DATA
    assert listing(tmp_path) == ["sample.txt"]
    (tmp_path / "x.dcz").write_bytes(compressed)
    assert cli("decompress", "-c", "x.dcz", cwd=tmp_path).stdout == DATA
    assert listing(tmp_path) == ["sample.txt", "x.dcz"]


def test_output_option(tmp_path, sample):
    cli("compress", "-o", "out.bin", "sample.txt", cwd=tmp_path)
    assert deepcompress.decompress((tmp_path / "out.bin").read_bytes()) == DATA
    cli("decompress", "-o", "back.txt", "out.bin", cwd=tmp_path)  # -o lifts the suffix rule
    assert (tmp_path / "back.txt").read_bytes() == DATA
    cli("compress", "-o", "piped.dcz", cwd=tmp_path, stdin=DATA)  # stdin -> file
    assert deepcompress.decompress((tmp_path / "piped.dcz").read_bytes()) == DATA
    assert listing(tmp_path) == ["back.txt", "out.bin", "piped.dcz", "sample.txt"]
    result = cli("compress", "-o", "x.dcz", "sample.txt", "back.txt", cwd=tmp_path, ok=2)
    assert "single input" in result.stderr.decode()
    assert not (tmp_path / "x.dcz").exists()


def test_aliases_encode_decode(tmp_path, sample):
    cli("encode", "sample.txt", cwd=tmp_path)
    sample.unlink()
    cli("decode", "sample.txt.dcz", cwd=tmp_path)
    assert sample.read_bytes() == DATA


def test_several_files_go_on_after_a_failure(tmp_path, sample):
    (tmp_path / "b.txt").write_bytes(b"second")
    result = cli("compress", "sample.txt", "missing.txt", "b.txt", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: missing.txt: No such file or directory"
    assert deepcompress.decompress((tmp_path / "b.txt.dcz").read_bytes()) == b"second"
    assert deepcompress.decompress((tmp_path / "sample.txt.dcz").read_bytes()) == DATA


def test_output_keeps_input_permissions(tmp_path, sample):
    sample.chmod(0o640)
    cli("compress", "sample.txt", cwd=tmp_path)
    assert (tmp_path / "sample.txt.dcz").stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- refusals


def test_refuses_to_overwrite_without_force(tmp_path, sample):
    target = tmp_path / "sample.txt.dcz"
    target.write_bytes(b"precious")
    result = proc("compress", "sample.txt", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: sample.txt: sample.txt.dcz already exists; use -f to overwrite"
    assert target.read_bytes() == b"precious"
    assert listing(tmp_path) == ["sample.txt", "sample.txt.dcz"]  # no temporary left behind
    cli("compress", "-f", "sample.txt", cwd=tmp_path)
    assert deepcompress.decompress(target.read_bytes()) == DATA

    sample.write_bytes(b"also precious")
    result = cli("decompress", "sample.txt.dcz", cwd=tmp_path, ok=1)
    assert error_line(result).startswith("deepcompress: sample.txt.dcz: sample.txt already exists")
    assert sample.read_bytes() == b"also precious"
    cli("decompress", "--force", "sample.txt.dcz", cwd=tmp_path)
    assert sample.read_bytes() == DATA


def test_refuses_output_equal_to_input(tmp_path, sample):
    for args in (["compress", "-o", "sample.txt", "sample.txt"], ["compress", "-f", "-o", "./sample.txt", "sample.txt"]):
        result = cli(*args, cwd=tmp_path, ok=1)
        assert error_line(result) == "deepcompress: sample.txt: input and output are the same file"
        assert sample.read_bytes() == DATA
    compressed = tmp_path / "c.dcz"
    compressed.write_bytes(deepcompress.compress(DATA))
    result = cli("decompress", "-f", "-o", "c.dcz", "c.dcz", cwd=tmp_path, ok=1)
    assert "same file" in error_line(result)
    assert deepcompress.decompress(compressed.read_bytes()) == DATA
    assert listing(tmp_path) == ["c.dcz", "sample.txt"]


def test_refuses_unknown_suffix_on_decompress(tmp_path, sample):
    (tmp_path / "data.gz").write_bytes(deepcompress.compress(DATA))
    (tmp_path / ".dcz").write_bytes(deepcompress.compress(DATA))
    for name in ("data.gz", ".dcz"):
        result = cli("decompress", name, cwd=tmp_path, ok=1)
        assert error_line(result) == f"deepcompress: {name}: unknown suffix (expected .dcz); use -o or -c"
    assert listing(tmp_path) == [".dcz", "data.gz", "sample.txt"]


def test_refuses_directory_and_missing_file(tmp_path):
    (tmp_path / "folder").mkdir()
    assert error_line(cli("compress", "folder", cwd=tmp_path, ok=1)) == "deepcompress: folder: is a directory"
    assert error_line(cli("decompress", "nothing.dcz", cwd=tmp_path, ok=1)) == "deepcompress: nothing.dcz: No such file or directory"
    assert error_line(cli("test", "nothing.dcz", cwd=tmp_path, ok=1)).startswith("deepcompress: nothing.dcz: ")


def test_refuses_to_write_compressed_data_to_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-m", "deepcompress", "compress"], cwd=tmp_path, input=b"abc", stdout=slave, stderr=subprocess.PIPE, env=env, timeout=60
        )
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "deepcompress: (stdin): refusing to write compressed data to a terminal; use -o FILE or a pipe"


def test_unknown_model(tmp_path, sample):
    result = cli("compress", "-m", "gpt", "sample.txt", cwd=tmp_path, ok=1)
    assert error_line(result).startswith("deepcompress: gpt: no such model file 'gpt'")
    assert listing(tmp_path) == ["sample.txt"]


def test_decompress_with_the_wrong_model(tmp_path, sample):
    (tmp_path / "a.dcz").write_bytes(deepcompress.compress(DATA, "histogram-adaptive"))
    result = cli("decompress", "-m", "histogram", "a.dcz", cwd=tmp_path, ok=1)
    assert error_line(result).startswith("deepcompress: a.dcz: stream needs model 'histogram'")
    assert listing(tmp_path) == ["a.dcz", "sample.txt"]


@pytest.mark.parametrize(
    "args",
    [["compress", "--bogus"], ["decompress", "-z"], ["--frobnicate"], ["compress", "-k", "--rm", "x"], ["info"],
     ["compress", "--coder", "huffman"]],
)
def test_usage_errors_exit_2(tmp_path, args):
    result = cli(*args, cwd=tmp_path, ok=2)
    assert result.stderr  # click's usage message
    assert listing(tmp_path) == []


# ---------------------------------------------------------------- --rm and failures


def test_rm_removes_input_only_after_success(tmp_path, sample):
    cli("compress", "--rm", "sample.txt", cwd=tmp_path)
    assert listing(tmp_path) == ["sample.txt.dcz"]
    cli("decompress", "--rm", "sample.txt.dcz", cwd=tmp_path)
    assert listing(tmp_path) == ["sample.txt"]
    assert sample.read_bytes() == DATA
    # A failing run keeps its input.
    (tmp_path / "sample.txt.dcz").write_bytes(b"precious")
    cli("compress", "--rm", "sample.txt", cwd=tmp_path, ok=1)
    assert sample.read_bytes() == DATA
    bad = (GOLDEN / "corrupt" / "flipped_payload_byte.dcz").read_bytes()
    (tmp_path / "bad.dcz").write_bytes(bad)
    cli("decompress", "--rm", "bad.dcz", cwd=tmp_path, ok=1)
    assert (tmp_path / "bad.dcz").read_bytes() == bad
    assert listing(tmp_path) == ["bad.dcz", "sample.txt", "sample.txt.dcz"]


@pytest.mark.parametrize("damage", ["flipped_payload_byte", "truncated_after_first_of_three_blocks", "flipped_second_block_payload", "future_version"])
def test_failing_decompress_leaves_no_output_or_temporary(tmp_path, damage):
    """Some of these fail after a verified first block was already written to the temporary file."""
    (tmp_path / "bad.dcz").write_bytes((GOLDEN / "corrupt" / f"{damage}.dcz").read_bytes())
    result = proc("decompress", "bad.dcz", cwd=tmp_path, ok=1)
    assert error_line(result).startswith("deepcompress: bad.dcz: ")
    assert listing(tmp_path) == ["bad.dcz"]
    cli("decompress", "-o", "out", "bad.dcz", cwd=tmp_path, ok=1)
    assert listing(tmp_path) == ["bad.dcz"]


def test_failing_decompress_with_force_keeps_existing_output(tmp_path):
    (tmp_path / "bad.dcz").write_bytes((GOLDEN / "corrupt" / "truncated_after_first_of_three_blocks.dcz").read_bytes())
    (tmp_path / "bad").write_bytes(b"old")
    cli("decompress", "-f", "bad.dcz", cwd=tmp_path, ok=1)
    assert (tmp_path / "bad").read_bytes() == b"old"
    assert listing(tmp_path) == ["bad", "bad.dcz"]


def test_corrupt_stdin(tmp_path):
    result = proc("decompress", cwd=tmp_path, stdin=b"not a stream", ok=1)
    assert error_line(result) == "deepcompress: (stdin): not a deepcompress file (magic b'not ')"
    result = proc("decompress", cwd=tmp_path, stdin=deepcompress.compress(DATA)[:-3], ok=1)
    assert error_line(result).startswith("deepcompress: (stdin): truncated")


# ---------------------------------------------------------------- test / info / nll / -v


def test_test_command_exit_codes(tmp_path):
    good = tmp_path / "good.dcz"
    good.write_bytes((GOLDEN / "hello_static.dcz").read_bytes())
    (tmp_path / "bad.dcz").write_bytes((GOLDEN / "corrupt" / "flipped_payload_byte.dcz").read_bytes())
    result = cli("test", "good.dcz", cwd=tmp_path)
    assert result.stdout.decode() == "good.dcz: OK (400 bytes)\n"
    assert result.stderr == b""
    assert cli("test", "-q", "good.dcz", cwd=tmp_path).stdout == b""
    result = cli("test", "bad.dcz", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: bad.dcz: block payload checksum mismatch"
    result = cli("test", "bad.dcz", "good.dcz", cwd=tmp_path, ok=1)
    assert result.stdout.decode() == "good.dcz: OK (400 bytes)\n"
    assert cli("test", "-", cwd=tmp_path, stdin=good.read_bytes()).stdout.decode() == "(stdin): OK (400 bytes)\n"
    assert listing(tmp_path) == ["bad.dcz", "good.dcz"]


def test_info_json(tmp_path, sample):
    cli("compress", "-m", "histogram", "sample.txt", cwd=tmp_path)
    compressed = (tmp_path / "sample.txt.dcz").read_bytes()
    result = cli("info", "--json", "sample.txt.dcz", cwd=tmp_path)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {"original_bytes", "compressed_bytes", "n_symbols", "model", "payload_bits", "nll_bits", "header_bytes"} <= set(record)
    assert record["original_bytes"] == record["n_symbols"] == len(DATA)
    assert record["compressed_bytes"] == len(compressed)
    assert record["model"] == "histogram"
    assert record["config"] == {"alphabet_size": 256, "mode": "static"}
    assert record["header_bytes"] == len(compressed) - record["payload_bits"] // 8
    assert record["nll_bits"] <= record["payload_bits"] <= record["nll_bits"] + 64
    assert record["n_blocks"] == 1 and record["lanes"] == [1]
    # Plain output has the same fields, one per line; a bad file gives exit 1 and goes on.
    (tmp_path / "bad.dcz").write_bytes(b"junk")
    result = cli("info", "bad.dcz", "sample.txt.dcz", cwd=tmp_path, ok=1)
    assert error_line(result).startswith("deepcompress: bad.dcz: not a deepcompress file")
    assert re.search(r"^\s*original_bytes: %d$" % len(DATA), result.stdout.decode(), re.M)


def test_nll_json(tmp_path, sample):
    result = cli("nll", "--json", "sample.txt", "-", cwd=tmp_path, stdin=b"")
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert {"n_symbols", "nll_bits", "bits_per_symbol"} <= set(records[0])
    assert records[0]["n_symbols"] == len(DATA)
    assert records[0]["nll_bits"] == pytest.approx(deepcompress.nll_bits(DATA, deepcompress.DEFAULT_MODEL), rel=1e-12)
    assert records[0]["bits_per_symbol"] == pytest.approx(records[0]["nll_bits"] / len(DATA))
    assert records[1] == {"file": "(stdin)", "n_symbols": 0, "nll_bits": 0.0, "bits_per_symbol": 0.0}
    static = json.loads(cli("nll", "--json", "-m", "histogram", "sample.txt", cwd=tmp_path).stdout)
    assert static["nll_bits"] == pytest.approx(deepcompress.nll_bits(DATA, "histogram"), rel=1e-12)
    assert static["nll_bits"] < deepcompress.nll_bits(DATA, "histogram-adaptive")  # fitted beats learned, at order 0


def test_verbose_line(tmp_path, sample):
    result = cli("compress", "-v", "sample.txt", cwd=tmp_path)
    assert result.stdout == b""
    line = error_line(result)
    match = VERBOSE_LINE.match(line)
    assert match, line
    size = (tmp_path / "sample.txt.dcz").stat().st_size
    assert match["name"] == "sample.txt"
    assert (int(match["n"]), int(match["m"])) == (len(DATA), size)
    assert float(match["bpb"]) == pytest.approx(8 * size / len(DATA), abs=5e-4)
    nll = deepcompress.nll_bits(DATA)
    assert float(match["nll"]) == pytest.approx(nll / len(DATA), abs=5e-4)
    assert float(match["overhead"]) == pytest.approx(100 * (8 * size - nll) / nll, abs=5e-4)

    sample.unlink()
    line = error_line(cli("decompress", "-v", "sample.txt.dcz", cwd=tmp_path))
    match = VERBOSE_LINE.match(line)
    assert match and match["name"] == "sample.txt.dcz" and (int(match["n"]), int(match["m"])) == (len(DATA), size)
    assert cli("compress", "-v", "-q", "-f", "sample.txt", cwd=tmp_path).stderr == b""
    match = VERBOSE_LINE.match(error_line(cli("compress", "-v", cwd=tmp_path, stdin=b"")))
    assert match and match["name"] == "(stdin)" and match["n"] == "0"


def test_version_and_help(tmp_path):
    assert cli("--version", cwd=tmp_path).stdout.decode().strip() == f"deepcompress, version {deepcompress.__version__}"
    help_text = cli("-h", cwd=tmp_path).stdout.decode()
    for command in ("compress", "decompress", "encode", "decode", "test", "info", "nll"):
        assert command in help_text


def test_real_process_usage_error(tmp_path):
    result = proc("compress", "--bogus", cwd=tmp_path, ok=2)
    assert "No such option" in result.stderr.decode()


# ---------------------------------------------------------------- review regressions


def test_npy_with_trailing_bytes_is_coded_as_bytes_and_round_trips(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.arange(12, dtype=np.int16).reshape(3, 4))
    original = buffer.getvalue() + b"trailing bytes the header does not declare"
    (tmp_path / "t.npy").write_bytes(original)
    cli("compress", "-m", "histogram", "t.npy", cwd=tmp_path)
    (tmp_path / "t.npy").unlink()
    cli("decompress", "t.npy.dcz", cwd=tmp_path)
    assert (tmp_path / "t.npy").read_bytes() == original
    result = cli("compress", "-f", "--as", "npy", "-o", "u.dcz", "t.npy", cwd=tmp_path, ok=1)
    assert "header declares" in error_line(result)


def test_train_reads_stdin_once(tmp_path):
    cli("train", "--model", "histogram", "-q", "-o", "h.dcm", "-", cwd=tmp_path, stdin=DATA)
    model = deepcompress.load_model(tmp_path / "h.dcm")
    assert model.counts.sum() > len(DATA) * 0.9  # trained on the data, not on an empty second read


def test_bench_refuses_zero_repeats(tmp_path, sample):
    result = cli("bench", "--repeat", "0", "sample.txt", cwd=tmp_path, ok=2)
    assert "Traceback" not in result.stderr.decode()


# ---------------------------------------------------------------- one input detector (issue 12 §5)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_every_command_sees_an_npy_with_trailing_bytes_as_the_same_bytes(tmp_path):
    data = npy_bytes(np.arange(3000, dtype=np.int16) % 7) + b"undeclared trailing bytes"
    (tmp_path / "t.npy").write_bytes(data)
    nll = json.loads(cli("nll", "--json", "-m", "histogram", "t.npy", cwd=tmp_path).stdout)
    line = cli("surprisal", "-m", "histogram", "t.npy", cwd=tmp_path).stdout.decode().splitlines()[0]
    assert nll["n_symbols"] == len(data) and "n_records" not in nll
    assert line.startswith(f"t.npy: {len(data)} symbols")
    compressed = cli("compress", "-c", "-m", "histogram", "t.npy", cwd=tmp_path).stdout
    assert deepcompress.api.read_info(io.BytesIO(compressed)).header.kind == "bytes"
    cli("train", "--model", "record-mlp", "-q", "-o", "m.dcm", "t.npy", cwd=tmp_path, ok=1)  # not an array
    cli("train", "--model", "histogram", "-q", "-o", "h.dcm", "t.npy", cwd=tmp_path)
    assert deepcompress.load_model(tmp_path / "h.dcm").alphabet_size == 256  # trained on its bytes


def test_an_object_npy_is_bytes_for_every_command(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "o.npy").write_bytes(buffer.getvalue())
    size = len(buffer.getvalue())
    assert json.loads(cli("nll", "--json", "-m", "histogram", "o.npy", cwd=tmp_path).stdout)["n_symbols"] == size
    assert cli("surprisal", "-m", "histogram", "o.npy", cwd=tmp_path).stdout.startswith(f"o.npy: {size} symbols".encode())
    cli("train", "--model", "histogram", "-q", "-o", "h.dcm", "o.npy", cwd=tmp_path)
    cli("compress", "o.npy", "-m", "histogram", cwd=tmp_path)
    assert deepcompress.decompress((tmp_path / "o.npy.dcz").read_bytes()) == buffer.getvalue()


def test_a_pipe_a_redirect_and_a_file_of_the_same_npy_are_coded_alike(tmp_path):
    array = np.arange(-50, 550, dtype=np.int32).reshape(30, 20)
    (tmp_path / "a.npy").write_bytes(npy_bytes(array))
    from_file = proc("compress", "-c", "-m", "histogram", "a.npy", cwd=tmp_path).stdout
    from_pipe = proc("compress", "-m", "histogram", cwd=tmp_path, stdin=npy_bytes(array)).stdout
    with open(tmp_path / "a.npy", "rb") as redirect:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        from_redirect = subprocess.run([sys.executable, "-m", "deepcompress", "compress", "-m", "histogram"],
                                       stdin=redirect, capture_output=True, env=env, timeout=60, check=True).stdout
    assert from_file == from_pipe == from_redirect
    assert deepcompress.api.read_info(io.BytesIO(from_pipe)).layout.shape == (30, 20)
    nll = proc("nll", "--json", "-m", "histogram", "-", cwd=tmp_path, stdin=npy_bytes(array)).stdout
    assert json.loads(nll)["n_records"] == 30


# ---------------------------------------------------------------- messages (issue 12 §3)


def test_error_names_are_escaped_and_bounded(tmp_path):
    result = cli("compress", "bad\x1b[31mname\n", "x" * 250, cwd=tmp_path, ok=1)
    lines = result.stderr.decode().splitlines()
    assert lines[0] == "deepcompress: bad\\x1b[31mname\\n: No such file or directory"
    assert len(lines) == 2 and len(lines[1]) < 300 and lines[1].endswith("...: No such file or directory")


def test_the_wrong_operand_is_named(tmp_path, sample):
    (tmp_path / "folder").mkdir()
    result = cli("compress", "-o", "folder/missing/out.dcz", "sample.txt", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: folder/missing/out.dcz: No such file or directory"
    result = cli("train", "--model", "histogram", "-o", "h.dcm", "sample.txt", "nothing.bin", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: nothing.bin: No such file or directory"


def test_out_of_memory_is_one_line(tmp_path, sample, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(deepcompress.api, "compress_input", exhausted)
    result = cli("compress", "sample.txt", cwd=tmp_path, ok=1)
    assert error_line(result) == "deepcompress: sample.txt: out of memory"
    assert listing(tmp_path) == ["sample.txt"]


def test_info_checks_the_end_record_against_the_blocks(tmp_path):
    """A version-1 end record's totals (v2 records none) are checked against the blocks."""
    blob = (Path(__file__).parent / "golden" / "hello_static.dcz").read_bytes()  # frozen, version 1
    end = struct.pack("<IQQI", 0, 800, 800, 0)
    (tmp_path / "forged.dcz").write_bytes(blob[:-28] + end + struct.pack("<I", zlib.crc32(end)))
    result = cli("info", "forged.dcz", cwd=tmp_path, ok=1)
    assert error_line(result) == ("deepcompress: forged.dcz: end record claims 800 symbols in 800 bytes, "
                                  "the blocks hold 400 symbols in 400 bytes")


# ---------------------------------------------------------------- outputs (issue 12 §4)


def test_dash_output_means_stdout(tmp_path, sample):
    compressed = cli("compress", "-o", "-", "-m", "histogram", "sample.txt", cwd=tmp_path).stdout
    assert compressed == cli("compress", "-c", "-m", "histogram", "sample.txt", cwd=tmp_path).stdout
    (tmp_path / "s.dcz").write_bytes(compressed)
    assert cli("decompress", "-o", "-", "s.dcz", cwd=tmp_path).stdout == DATA
    assert listing(tmp_path) == ["s.dcz", "sample.txt"]


def test_stdout_that_is_closed_is_one_line(tmp_path, sample):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(f"{sys.executable} -m deepcompress compress -c sample.txt >&-", shell=True, cwd=tmp_path,
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.decode() == "deepcompress: (stdout): standard output is closed\n"
    (tmp_path / "s.dcz").write_bytes(deepcompress.compress(DATA, "histogram"))
    done = subprocess.run(f"{sys.executable} -m deepcompress info s.dcz >&-", shell=True, cwd=tmp_path,
                          env=env, capture_output=True, timeout=60, check=False)
    assert (done.returncode, done.stderr.decode()) == (1, "deepcompress: (stdout): standard output is closed\n")


def _on_a_terminal(args: list[str], cwd: Path, stream: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        files = {"stdin": slave} if stream == "stdin" else {"stdout": slave, "input": stdin}
        return subprocess.run([sys.executable, "-m", "deepcompress", *args], cwd=cwd, stderr=subprocess.PIPE, env=env,
                              timeout=60, check=False, **files)
    finally:
        os.close(slave)
        os.close(master)


def test_no_compressed_data_from_a_terminal_and_no_binary_to_one(tmp_path):
    for command in ("decompress", "test", "info"):
        done = _on_a_terminal([command, "-"], tmp_path, "stdin")
        assert done.returncode == 1, command
        assert done.stderr.decode() == "deepcompress: (stdin): refusing to read compressed data from a terminal; use a file or a pipe\n"
    done = _on_a_terminal(["sample", "-m", str(GOLDEN / "records_k5_d3.dcm"), "-n", "3"], tmp_path, "stdout")
    assert done.returncode == 1 and "refusing to write samples to a terminal" in done.stderr.decode()


def test_a_missing_model_file_is_named_once(tmp_path):
    (tmp_path / "a.dcz").write_bytes(deepcompress.compress(DATA, "histogram"))
    for command in ("decompress", "test", "nll"):
        result = cli(command, "-m", "missing.dcm", "a.dcz", "a.dcz", cwd=tmp_path, ok=1)
        assert error_line(result).startswith("deepcompress: missing.dcm: no such model file"), command
    assert listing(tmp_path) == ["a.dcz"]
