"""The gzip/zstd-style top-level command: `deepcompress [-z|-d|-t|-l] [OPTIONS] FILE...`."""

from __future__ import annotations

import io
import itertools
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import deepcompress
from deepcompress import api, models
from deepcompress.cli import main
from deepcompress.cli.progress import LARGE
from deepcompress.models import adaptive

ROOT = Path(__file__).resolve().parents[1]
FAST = ("-m", "histogram-adaptive")  # where the model does not matter
DATA = b"It was the best of times, it was the worst of times.\n" * 100
OTHER = b"Call me Ishmael. Some years ago, never mind how long precisely.\n" * 50
WHEN = (1_000_000_000, 1_100_000_000)  # (atime, mtime) in seconds, well in the past


def cli(*args: str, cwd: Path, stdin: bytes = b"", ok: int | None = 0):
    """The command run in this process by click's CliRunner; anything but a clean exit fails."""
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        done = CliRunner(catch_exceptions=False).invoke(main, list(args), input=stdin)
    finally:
        os.chdir(previous)
    assert "Traceback" not in done.stderr, done.stderr
    if ok is not None:
        assert done.exit_code == ok, f"exit {done.exit_code}, stderr: {done.stderr}"
    return done


def listing(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


@pytest.fixture
def two(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(DATA)
    (tmp_path / "b.txt").write_bytes(OTHER)
    return tmp_path


# ---------------------------------------------------------------- operations


def test_files_without_a_command_are_compressed_and_kept(two):
    cli(*FAST, "a.txt", "b.txt", cwd=two)
    assert listing(two) == ["a.txt", "a.txt.dcz", "b.txt", "b.txt.dcz"]
    assert deepcompress.decompress((two / "a.txt.dcz").read_bytes()) == DATA
    assert deepcompress.decompress((two / "b.txt.dcz").read_bytes()) == OTHER
    # the same stream as the compress subcommand writes
    assert (two / "a.txt.dcz").read_bytes() == cli("compress", "-c", *FAST, "a.txt", cwd=two).stdout_bytes


def test_decompress_flag_and_rm(two):
    cli("-z", "--rm", *FAST, "a.txt", cwd=two)
    assert listing(two) == ["a.txt.dcz", "b.txt"]
    cli("-d", "--rm", "a.txt.dcz", cwd=two)
    assert listing(two) == ["a.txt", "b.txt"] and (two / "a.txt").read_bytes() == DATA
    cli("--decompress", "-k", *FAST, "a.txt", cwd=two, ok=1)  # not a .dcz: refused, nothing written
    assert listing(two) == ["a.txt", "b.txt"]


def test_the_last_mode_given_wins(two):
    cli("-d", "-z", *FAST, "a.txt", cwd=two)
    assert (two / "a.txt.dcz").is_file()
    (two / "a.txt").unlink()
    cli("-z", "-d", "a.txt.dcz", cwd=two)
    assert (two / "a.txt").read_bytes() == DATA


def test_no_operands_or_dash_is_stdin_to_stdout(tmp_path):
    compressed = cli(*FAST, cwd=tmp_path, stdin=DATA).stdout_bytes
    assert deepcompress.decompress(compressed) == DATA
    assert cli("-d", "-", cwd=tmp_path, stdin=compressed).stdout_bytes == DATA
    assert cli("-dc", cwd=tmp_path, stdin=compressed).stdout_bytes == DATA
    assert listing(tmp_path) == []


def test_stdout_with_several_files_writes_one_stream_after_another(two):
    both = cli("-c", *FAST, "a.txt", "b.txt", cwd=two).stdout_bytes
    one = cli("-c", *FAST, "a.txt", cwd=two).stdout_bytes
    assert both == one + cli("-c", *FAST, "b.txt", cwd=two).stdout_bytes
    assert listing(two) == ["a.txt", "b.txt"]
    cli(*FAST, "a.txt", "b.txt", cwd=two)
    assert cli("-dc", "a.txt.dcz", "b.txt.dcz", cwd=two).stdout_bytes == DATA + OTHER


def test_output_option(two):
    cli(*FAST, "-o", "packed.bin", "a.txt", cwd=two)
    assert deepcompress.decompress((two / "packed.bin").read_bytes()) == DATA
    cli("-d", "-o", "plain", "packed.bin", cwd=two)
    assert (two / "plain").read_bytes() == DATA
    assert cli("-o", "x", "a.txt", "b.txt", cwd=two, ok=2).stderr  # one input only
    cli(*FAST, "-o", "plain", "a.txt", cwd=two, ok=1)  # exists: -f needed
    cli(*FAST, "-f", "-o", "plain", "a.txt", cwd=two)
    assert deepcompress.decompress((two / "plain").read_bytes()) == DATA


def test_test_flag(two):
    cli(*FAST, "a.txt", cwd=two)
    assert cli("-t", "a.txt.dcz", cwd=two).stdout == f"a.txt.dcz: OK ({len(DATA)} bytes)\n"
    assert cli("-tq", "a.txt.dcz", cwd=two).stdout == ""
    blob = bytearray((two / "a.txt.dcz").read_bytes())
    blob[-20] ^= 0xFF
    (two / "bad.dcz").write_bytes(bytes(blob))
    done = cli("-t", "bad.dcz", "a.txt.dcz", cwd=two, ok=1)
    assert done.stderr.startswith("deepcompress: bad.dcz: ") and "a.txt.dcz: OK" in done.stdout
    assert cli("-t", "-c", "a.txt.dcz", cwd=two, ok=2).stderr  # writes nothing: -c does not apply


def test_list_flag(two):
    cli(*FAST, "a.txt", "b.txt", cwd=two)
    sizes = {name: (two / name).stat().st_size for name in ("a.txt.dcz", "b.txt.dcz")}
    lines = cli("-l", "a.txt.dcz", "b.txt.dcz", cwd=two).stdout.splitlines()
    assert lines[0].split() == ["compressed", "uncompressed", "bits/byte", "model", "name"]
    assert lines[1].split() == [str(sizes["a.txt.dcz"]), str(len(DATA)), f"{8 * sizes['a.txt.dcz'] / len(DATA):.3f}",
                                "histogram", "a.txt.dcz"]
    assert lines[3].split()[:2] == [str(sum(sizes.values())), str(len(DATA) + len(OTHER))]
    assert lines[3].endswith("(totals of 2 files)") and len(lines) == 4
    assert len(cli("-l", "a.txt.dcz", cwd=two).stdout.splitlines()) == 2  # no totals for one file
    verbose = cli("-lv", "a.txt.dcz", cwd=two).stdout
    assert "fingerprint:" in verbose and f"original_bytes: {len(DATA)}" in verbose
    done = cli("-l", "a.txt", cwd=two, ok=1)
    assert done.stderr.startswith("deepcompress: a.txt: ")


# ---------------------------------------------------------------- gzip's file conventions


def test_outputs_keep_the_inputs_mtime_and_permission_bits(two):
    source = two / "a.txt"
    source.chmod(0o640)
    os.utime(source, WHEN)
    cli(*FAST, "a.txt", cwd=two)
    packed = (two / "a.txt.dcz").stat()
    assert (packed.st_mode & 0o777, packed.st_mtime) == (0o640, WHEN[1])
    source.unlink()
    os.utime(two / "a.txt.dcz", (WHEN[0], WHEN[1] + 60))
    cli("-d", "a.txt.dcz", cwd=two)
    restored = source.stat()
    assert (restored.st_mode & 0o777, restored.st_mtime) == (0o640, WHEN[1] + 60)  # as gzip: the .dcz's times
    cli("compress", *FAST, "-o", "sub.dcz", "a.txt", cwd=two)  # the subcommands too
    assert (two / "sub.dcz").stat().st_mtime == WHEN[1] + 60
    assert cli(*FAST, "-c", "a.txt", cwd=two).stdout_bytes  # -c: nothing to keep, nothing fails


def test_dcz_inputs_are_skipped_unless_forced(tmp_path):
    (tmp_path / "x.dcz").write_bytes(DATA)
    done = cli(*FAST, "x.dcz", cwd=tmp_path)
    assert done.stderr == "deepcompress: x.dcz: already has the .dcz suffix; skipped (use -f to compress it again)\n"
    assert cli("compress", *FAST, "-q", "x.dcz", cwd=tmp_path).stderr == ""
    assert listing(tmp_path) == ["x.dcz"]
    assert deepcompress.decompress(cli(*FAST, "-c", "x.dcz", cwd=tmp_path).stdout_bytes) == DATA  # -c: as gzip
    cli(*FAST, "-f", "x.dcz", cwd=tmp_path)
    assert deepcompress.decompress((tmp_path / "x.dcz.dcz").read_bytes()) == DATA


def test_recursive(tmp_path):
    tree = tmp_path / "tree"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "one.txt").write_bytes(DATA)
    (tree / "deep" / "two.txt").write_bytes(OTHER)
    (tree / "deep" / "er" / "three").write_bytes(DATA + OTHER)
    (tree / "deep" / "old.dcz").write_bytes(deepcompress.compress(OTHER, "histogram"))
    assert cli(*FAST, "tree", cwd=tmp_path, ok=1).stderr == "deepcompress: tree: is a directory\n"
    done = cli(*FAST, "-r", "--rm", "tree", cwd=tmp_path)
    assert done.stderr == "deepcompress: tree/deep/old.dcz: already has the .dcz suffix; skipped (use -f to compress it again)\n"
    assert listing(tmp_path) == ["tree/deep/er/three.dcz", "tree/deep/old.dcz", "tree/deep/two.txt.dcz", "tree/one.txt.dcz"]
    assert cli("-t", "-r", "tree", cwd=tmp_path).stdout.count(": OK") == 4
    assert len(cli("-lr", "tree", cwd=tmp_path).stdout.splitlines()) == 6
    cli("-dr", "--rm", "tree", cwd=tmp_path)
    assert listing(tmp_path) == ["tree/deep/er/three", "tree/deep/old", "tree/deep/two.txt", "tree/one.txt"]
    assert (tree / "deep" / "er" / "three").read_bytes() == DATA + OTHER
    assert cli("-dr", "tree", cwd=tmp_path).stderr == ""  # only .dcz files are decompressed: none left
    assert cli("-r", "-o", "all.dcz", "tree", cwd=tmp_path, ok=2).stderr  # several inputs, one output


def test_quiet_and_verbose(two):
    line = cli(*FAST, "-v", "a.txt", cwd=two).stderr
    assert line.startswith(f"a.txt: {len(DATA)} -> ") and "bits/byte" in line
    assert cli(*FAST, "-qv", "b.txt", cwd=two).stderr == ""
    assert cli(*FAST, "-q", "a.txt.dcz", cwd=two).stderr == ""  # the skip message too


# ---------------------------------------------------------------- levels


@pytest.mark.parametrize("command", [[], ["compress"]])
def test_levels_select_the_adaptive_model(two, command):
    """The same level flags at the top level (`deepcompress -9 f`) and after `compress`."""
    assert set(adaptive.LEVELS) == set(range(1, 10)) and adaptive.DEFAULT_LEVEL in adaptive.LEVELS
    for flags, level in ((["-1"], 1), (["-9"], 9), (["--level", "5"], 5), (["--fast"], 1), (["--best"], 9),
                         (["-4", "-m", "adaptive"], 4), (["-2", "--level", "7"], 7)):
        blob = cli(*command, *flags, "-c", "a.txt", cwd=two).stdout_bytes
        assert blob == deepcompress.compress(DATA, level=level), flags
        assert deepcompress.decompress(blob) == DATA and api.read_info(io.BytesIO(blob)).header.model == "adaptive"
    for flags in (["-5", *FAST], ["--level", "0"], ["--level", "10"], ["-3", "-m", "model.dcm"]):
        assert cli(*command, *flags, "a.txt", cwd=two, ok=2).stderr, flags
    assert listing(two) == ["a.txt", "b.txt"]
    if not command:
        cli("-d9", *FAST, "-c", "a.txt", cwd=two, ok=1)  # -d with a level still decompresses: a.txt is no .dcz


def test_level_api():
    assert models.level_model(9).name == "adaptive"
    for bad in (0, 10, -1):
        with pytest.raises(ValueError, match="compression level"):
            models.level_model(bad)
    with pytest.raises(ValueError, match="adaptive"):
        deepcompress.compress(DATA, "histogram", level=3)
    assert deepcompress.decompress(deepcompress.compress(DATA, level=1)) == DATA
    assert api.level_spec("histogram", None) == "histogram"


# ---------------------------------------------------------------- progress


def test_progress_callback_of_the_stream_functions():
    data = bytes(range(256)) * 40  # 10,240 bytes in 4 blocks of 3,000
    calls: list[tuple[int, int]] = []
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, "histogram-adaptive", block_size=3000,
                        progress=lambda *seen: calls.append(seen))
    assert [read for read, _ in calls] == [3000, 6000, 9000, len(data)]
    assert all(a[1] < b[1] for a, b in itertools.pairwise(calls)) and calls[-1][1] < len(sink.getvalue())
    calls.clear()
    api.decompress_stream(io.BytesIO(sink.getvalue()), None, progress=lambda *seen: calls.append(seen))
    assert [written for _, written in calls] == [3000, 6000, 9000, len(data)]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls)) and calls[-1][0] < len(sink.getvalue())


def test_progress_only_when_asked_or_on_a_terminal(two):
    big = two / "big"
    big.write_bytes(os.urandom(LARGE // 2).hex().encode())  # LARGE bytes and a bit: two blocks
    assert cli(*FAST, "big", cwd=two).stderr == ""  # not a terminal
    shown = cli(*FAST, "-f", "--progress", "big", cwd=two).stderr
    assert shown.startswith("big: ") and " -> " in shown and "/s" in shown and shown.endswith("\n")
    assert "100%" in shown.splitlines()[-1]
    assert cli(*FAST, "-f", "--progress", "-q", "big", cwd=two).stderr == ""
    assert cli("-t", "--progress", "big.dcz", cwd=two).stderr.startswith("big.dcz: ")
    assert cli(*FAST, "-f", "--progress", "--no-progress", "big", cwd=two).stderr == ""


def _stderr_on_a_terminal(args: list[str], cwd: Path, stdin: bytes = b"") -> bytes:
    """What a real process writes to stderr when stderr is a terminal (a pty)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "deepcompress", *args], cwd=cwd, input=stdin,
                              stdout=subprocess.PIPE, stderr=slave, env=env, timeout=120, check=False)
        assert done.returncode == 0
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            chunk = os.read(master, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(slave)
        os.close(master)


def test_progress_on_a_terminal_for_large_inputs_only(two):
    (two / "big").write_bytes(os.urandom(3 * LARGE // 4).hex().encode())  # 1.5 blocks
    shown = _stderr_on_a_terminal([*FAST, "big"], two)
    assert shown.startswith(b"\rbig:   0% 0 B -> 0 B\x1b[K\rbig:  67% 1.00 MiB -> ")  # at once, then per block
    assert b"ETA" in shown and b"/s" in shown
    assert shown.endswith(b"\r\x1b[K")  # the line is erased at the end
    piped = _stderr_on_a_terminal([*FAST, "-c"], two, stdin=(two / "big").read_bytes())
    assert piped.startswith(b"\r(stdin): 1.00 MiB -> ") and b"ETA" not in piped  # size unknown: after 1 MiB
    assert _stderr_on_a_terminal([*FAST, "-c"], two, stdin=DATA) == b""
    assert _stderr_on_a_terminal([*FAST, "-f", "--no-progress", "big"], two) == b""
    assert _stderr_on_a_terminal([*FAST, "a.txt"], two) == b""  # small


# ---------------------------------------------------------------- the subcommands stay


def test_help_lists_the_flags_and_the_commands(tmp_path):
    text = cli("--help", cwd=tmp_path).stdout
    for flag in ("--decompress", "--test", "--list", "--stdout", "--keep", "--rm", "--force", "--output", "--quiet",
                 "--verbose", "--level", "--recursive", "--progress", "--version"):
        assert flag in text, flag
    for command in ("compress", "decompress", "test", "info", "nll", "surprisal", "train", "sample", "bench"):
        assert f"\n  {command} " in text, command


def test_a_file_named_like_a_command(tmp_path):
    (tmp_path / "test").write_bytes(DATA)
    cli(*FAST, "--", "test", cwd=tmp_path)
    assert deepcompress.decompress((tmp_path / "test.dcz").read_bytes()) == DATA
    assert cli("frobnicate", cwd=tmp_path, ok=1).stderr == "deepcompress: frobnicate: No such file or directory\n"
    assert cli("test", "test.dcz", cwd=tmp_path).stdout.endswith(": OK (5300 bytes)\n")  # still the command
    done = cli("decompres", "test.dcz", cwd=tmp_path, ok=2)  # a mistyped command: nothing is done
    assert "did you mean the command 'decompress'?" in done.stderr
    assert listing(tmp_path) == ["test", "test.dcz"]
