"""The CLI under faults: full disks, unwritable directories, kills, interrupts, bad models.

Every failure must leave the input intact, put nothing under the output's final name,
exit non-zero with one line `deepcompress: FILE: reason` and no traceback; `--rm` must
never delete an input when anything failed. Temporary files are named `.NAME.*.tmp`:
removed on any exception, left behind only by SIGKILL.
"""

import errno
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import deepcompress
from deepcompress import api, cli

ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, cwd: Path, stdin: bytes | None = None, stdout=subprocess.PIPE
) -> subprocess.CompletedProcess:
    """The real command in a fresh process (this checkout's package), as a user would run it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "deepcompress", *args],
        cwd=cwd,
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=environment,
        timeout=300,
        check=False,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "deepcompress", *args],
        cwd=cwd,
        stderr=subprocess.PIPE,
        env=environment,
        # A job started in the background inherits SIGINT ignored, and Python then keeps
        # ignoring it: restore the default so the test sends what a user's Ctrl-C sends.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def temporary_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def assert_failed_cleanly(
    returncode: int, stderr: bytes | str, directory: Path, output_name: str
) -> None:
    """Non-zero exit, one line of reason, no traceback, no output and no temporary file left."""
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert returncode != 0
    assert "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepcompress: "), text
    assert not (directory / output_name).exists()
    assert temporary_files(directory) == []


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, bytes]:
    data = b"a robust compressor keeps its input when anything fails\n" * 2000
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    return path, data


def large_input(path: Path, n_bytes: int) -> bytes:
    """Skewed random bytes: slow enough to code that a process can be stopped mid-write."""
    symbols = np.random.default_rng(0).geometric(0.05, n_bytes).clip(0, 255).astype(np.uint8)
    data = symbols.tobytes()
    path.write_bytes(data)
    return data


# --- full disk ----------------------------------------------------------------------------


class FullDiskFile:
    """A file whose writes fail with ENOSPC once `room` bytes have been written."""

    def __init__(self, file, room: int):
        self._file, self._room = file, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every file the CLI opens for output through os.fdopen has room for 100 bytes."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        os,
        "fdopen",
        lambda fd, *args, **kwargs: FullDiskFile(real_fdopen(fd, *args, **kwargs), 100),
    )


@pytest.mark.parametrize("remove", [False, True])
def test_compress_onto_a_full_disk_keeps_the_input(sample, full_disk, remove):
    path, data = sample
    result = CliRunner().invoke(cli.main, ["compress", *(["--rm"] if remove else []), str(path)])
    assert_failed_cleanly(result.exit_code, result.stderr, path.parent, "input.txt.dcz")
    assert "No space left on device" in result.stderr
    assert path.read_bytes() == data


def test_decompress_onto_a_full_disk_keeps_the_input(sample, monkeypatch):
    path, data = sample
    compressed = path.parent / "input.txt.dcz"
    compressed.write_bytes(deepcompress.compress(data))
    path.unlink()
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        os,
        "fdopen",
        lambda fd, *args, **kwargs: FullDiskFile(real_fdopen(fd, *args, **kwargs), 100),
    )
    result = CliRunner().invoke(cli.main, ["decompress", "--rm", str(compressed)])
    assert_failed_cleanly(result.exit_code, result.stderr, path.parent, "input.txt")
    assert compressed.read_bytes() == deepcompress.compress(data)


def _mount_tmpfs(mountpoint: Path, options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A real 64 KiB file system: writing more fails with ENOSPC."""
    mountpoint = tmp_path / "tiny"
    _mount_tmpfs(mountpoint, "size=64k")
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_output_onto_a_really_full_file_system(tmp_path, tiny_tmpfs, command):
    data = large_input(tmp_path / "input.bin", 1 << 20)
    source = tmp_path / "input.bin"
    if command == "decompress":
        source = tmp_path / "input.bin.dcz"
        source.write_bytes(deepcompress.compress(data, "histogram"))
    before = source.read_bytes()
    result = run_cli(command, "--rm", "-o", str(tiny_tmpfs / "output"), str(source), cwd=tmp_path)
    assert_failed_cleanly(result.returncode, result.stderr, tiny_tmpfs, "output")
    assert b"No space left on device" in result.stderr
    assert source.read_bytes() == before


def test_compress_to_stdout_on_a_full_device_fails_cleanly(sample):
    path, data = sample
    with open("/dev/full", "wb") as full:
        result = run_cli("compress", "-c", str(path), cwd=path.parent, stdout=full)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("deepcompress: ") and b"Traceback" not in result.stderr
    assert path.read_bytes() == data


# --- unwritable output directory ----------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory nobody can write to, root included (a read-only tmpfs; chmod for other users)."""
    directory = tmp_path / "read-only"
    if os.geteuid() == 0:
        _mount_tmpfs(directory, "size=1m")
        (directory / "input.txt").write_bytes(b"already here\n" * 100)
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
        subprocess.run(["umount", str(directory)], check=True)
    else:
        directory.mkdir()
        (directory / "input.txt").write_bytes(b"already here\n" * 100)
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)


def test_output_into_an_unwritable_directory(sample, read_only_dir):
    path, data = sample
    result = run_cli(
        "compress", "--rm", "-o", str(read_only_dir / "out.dcz"), str(path), cwd=path.parent
    )
    assert_failed_cleanly(result.returncode, result.stderr, read_only_dir, "out.dcz")
    assert path.read_bytes() == data


def test_compress_in_place_in_an_unwritable_directory(read_only_dir):
    before = (read_only_dir / "input.txt").read_bytes()
    result = run_cli("compress", "--rm", "input.txt", cwd=read_only_dir)
    assert_failed_cleanly(result.returncode, result.stderr, read_only_dir, "input.txt.dcz")
    assert (read_only_dir / "input.txt").read_bytes() == before


# --- killed and interrupted mid-write -----------------------------------------------------


def _stop_mid_write(process: subprocess.Popen, directory: Path, how: signal.Signals) -> None:
    """Send `how` once the process has written part of its temporary output file."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(path.stat().st_size > 4096 for path in temporary_files(directory)):
            process.send_signal(how)
            process.wait(60)
            return
        time.sleep(0.005)
    pytest.fail("the process finished (or never wrote) before it could be stopped mid-write")


@pytest.fixture(scope="module")
def large_pair(tmp_path_factory) -> tuple[bytes, bytes]:
    """(data, its .dcz) big enough that coding takes seconds."""
    data = large_input(tmp_path_factory.mktemp("large") / "input.bin", 24 << 20)
    return data, deepcompress.compress(data, "histogram-adaptive")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGKILL", "SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_stopped_mid_write_keeps_the_input_and_writes_no_output(tmp_path, large_pair, command, how):
    data, compressed = large_pair
    source, output = (
        ("input.bin", "input.bin.dcz") if command == "compress" else ("input.bin.dcz", "input.bin")
    )
    (tmp_path / source).write_bytes(data if command == "compress" else compressed)
    process = start_cli(command, "--rm", "-m", "histogram-adaptive", source, cwd=tmp_path)
    _stop_mid_write(process, tmp_path, how)
    stderr = process.stderr.read().decode()
    assert process.returncode != 0
    assert zlib.crc32((tmp_path / source).read_bytes()) == zlib.crc32(
        data if command == "compress" else compressed
    )
    assert not (tmp_path / output).exists()
    assert "Traceback" not in stderr
    leftovers = temporary_files(tmp_path)
    if how == signal.SIGKILL:  # nothing can clean up after SIGKILL: a leftover must look temporary
        assert all(path.name.startswith(f".{output}.") for path in leftovers)
    else:  # the stop signals unwind like Ctrl-C: the temporary file is removed, exit 128 + N
        assert leftovers == []
        assert process.returncode == 128 + how and stderr == ""


# --- bad model, damaged data, --rm --------------------------------------------------------


def test_missing_model_file(sample):
    path, data = sample
    result = run_cli("compress", "--rm", "-m", "no-such-model.dcm", "input.txt", cwd=path.parent)
    assert_failed_cleanly(result.returncode, result.stderr, path.parent, "input.txt.dcz")
    assert path.read_bytes() == data
    path.with_suffix(".txt.dcz").write_bytes(deepcompress.compress(data))
    path.unlink()
    result = run_cli(
        "decompress", "--rm", "-m", "no-such-model.dcm", "input.txt.dcz", cwd=path.parent
    )
    assert_failed_cleanly(result.returncode, result.stderr, path.parent, "input.txt")
    assert deepcompress.decompress((path.parent / "input.txt.dcz").read_bytes()) == data


def test_decompress_with_the_wrong_model(sample):
    path, data = sample
    compressed = path.parent / "input.txt.dcz"
    compressed.write_bytes(deepcompress.compress(data, "histogram"))
    path.unlink()
    result = run_cli(
        "decompress", "--rm", "-m", "histogram-adaptive", "input.txt.dcz", cwd=path.parent
    )
    assert_failed_cleanly(result.returncode, result.stderr, path.parent, "input.txt")
    assert b"fingerprint" in result.stderr
    assert compressed.read_bytes() == deepcompress.compress(data, "histogram")


def _damaged(blob: bytes, where: str) -> bytes:
    """A multi-block stream damaged in its last block's data or in its trailer."""
    damaged = bytearray(blob)
    damaged[-5 if where == "trailer" else -40] ^= 0x01
    return bytes(damaged)


@pytest.mark.parametrize("where", ["last block", "trailer"])
def test_decompress_checks_everything_before_the_output_appears(tmp_path, where):
    data = bytes(range(256)) * 40
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, "histogram", block_size=1000)
    compressed = tmp_path / "input.bin.dcz"
    compressed.write_bytes(_damaged(sink.getvalue(), where))
    result = run_cli("decompress", "--rm", "input.bin.dcz", cwd=tmp_path)
    assert_failed_cleanly(result.returncode, result.stderr, tmp_path, "input.bin")
    assert compressed.read_bytes() == _damaged(sink.getvalue(), where)


def test_rm_keeps_the_input_when_verification_fails(sample, monkeypatch):
    """compress --rm re-decodes its output; if that fails the input stays (the output is reported)."""
    path, data = sample

    def failing_verify(source, sink, model=None, **options):
        raise deepcompress.CorruptStreamError("checksum mismatch (simulated)")

    monkeypatch.setattr(api, "decompress_stream", failing_verify)
    result = CliRunner().invoke(cli.main, ["compress", "--rm", str(path)])
    assert (
        result.exit_code == 1 and "simulated" in result.stderr and "Traceback" not in result.stderr
    )
    assert path.read_bytes() == data


def test_rm_keeps_the_input_when_the_output_exists(sample):
    path, data = sample
    (path.parent / "input.txt.dcz").write_bytes(b"precious")
    result = run_cli("compress", "--rm", "input.txt", cwd=path.parent)
    assert result.returncode == 1 and b"already exists" in result.stderr
    assert path.read_bytes() == data and (path.parent / "input.txt.dcz").read_bytes() == b"precious"


def test_rm_deletes_the_input_after_a_verified_write(sample):
    """The control case: without a fault, --rm does remove the input."""
    path, data = sample
    result = run_cli("compress", "--rm", "input.txt", cwd=path.parent)
    assert result.returncode == 0 and result.stderr == b""
    assert not path.exists()
    assert deepcompress.decompress((path.parent / "input.txt.dcz").read_bytes()) == data


# --- deepcompress test --------------------------------------------------------------------


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in directory.iterdir()
    }


def test_the_test_command_writes_nothing(tmp_path):
    blob = deepcompress.compress(b"checked, never written\n" * 500)
    (tmp_path / "good.dcz").write_bytes(blob)
    (tmp_path / "bad.dcz").write_bytes(_damaged(blob, "trailer"))
    before = _snapshot(tmp_path)
    good = run_cli("test", "good.dcz", cwd=tmp_path)
    bad = run_cli("test", "bad.dcz", cwd=tmp_path)
    piped = run_cli("test", "-", cwd=tmp_path, stdin=blob)
    assert _snapshot(tmp_path) == before
    assert good.returncode == 0 and good.stdout == b"good.dcz: OK (11500 bytes)\n"
    assert piped.returncode == 0 and piped.stdout == b"(stdin): OK (11500 bytes)\n"
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and bad.stderr.startswith(
        b"deepcompress: bad.dcz: "
    )


# --- only regular files are compressed to a named output or removed ----------------------------


def _special_files(directory: Path) -> dict[str, Path]:
    """A FIFO, a socket, a directory and (as root) a character device like /dev/null."""
    import socket

    made = {"fifo": directory / "fifo", "directory": directory / "folder", "socket": directory / "socket"}
    os.mkfifo(made["fifo"])
    made["directory"].mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(made["socket"]))
    server.close()
    if os.geteuid() == 0:
        made["device"] = directory / "null-device"
        os.mknod(made["device"], 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return made


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_special_files_are_skipped_and_never_removed(tmp_path, sample, command):
    path, data = sample
    if command == "decompress":
        path = path.parent / "input.txt.dcz"
        path.write_bytes(deepcompress.compress(data, "histogram"))
    special = _special_files(tmp_path)
    names = [str(special[kind].name) + (".dcz" if command == "decompress" else "") for kind in special]
    for kind in special:  # decompress needs the suffix: give every special file one
        if command == "decompress":
            special[kind].rename(tmp_path / f"{special[kind].name}.dcz")
    before = sorted(p.name for p in tmp_path.iterdir())
    model = ["-m", "histogram"] if command == "compress" else []
    result = run_cli(command, "--rm", "-f", *model, *names, path.name, cwd=tmp_path)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    lines = result.stderr.decode().splitlines()
    assert sorted(lines) == sorted(
        f"deepcompress: {name}: {'is a directory' if 'folder' in name else 'not a regular file'}" for name in names
    )
    after = sorted(p.name for p in tmp_path.iterdir())
    produced = "input.txt.dcz" if command == "compress" else "input.txt"
    assert after == sorted({*before, produced} - {path.name})  # the regular operand was processed and removed
    assert temporary_files(tmp_path) == []


def test_a_device_is_never_an_output(tmp_path, sample):
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    path, _ = sample
    device = tmp_path / "null-device"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = run_cli("compress", "-f", "-o", str(device), path.name, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"deepcompress: {device}: exists and is not a regular file")
    assert stat.S_ISCHR(device.lstat().st_mode) and temporary_files(tmp_path) == []


def test_a_fifo_is_read_to_stdout_only_with_force_as_gzip_does(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = run_cli("compress", "-c", "-m", "histogram", "fifo", cwd=tmp_path)  # must not block on the FIFO
    assert refused.returncode == 1 and refused.stdout == b""
    assert refused.stderr.decode() == "deepcompress: fifo: not a regular file\n"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "deepcompress", "compress", "-c", "-f", "-m", "histogram", "fifo"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    with open(fifo, "wb") as writer:
        writer.write(b"through a named pipe\n" * 100)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert deepcompress.decompress(stdout) == b"through a named pipe\n" * 100
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_symbolic_links_are_followed_only_with_force(tmp_path, sample):
    path, data = sample
    (tmp_path / "link").symlink_to(path.name)
    result = run_cli("compress", "--rm", "link", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == "deepcompress: link: is a symbolic link; use -f to follow it\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt", "link"]
    assert run_cli("compress", "-c", "-m", "histogram", "link", cwd=tmp_path).returncode == 0  # -c reads through links
    result = run_cli("compress", "--rm", "-f", "-m", "histogram", "link", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # The link (the operand) is removed, never the file it points to.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt", "link.dcz"]
    assert path.read_bytes() == data
    assert deepcompress.decompress((tmp_path / "link.dcz").read_bytes()) == data


# --- standard output ------------------------------------------------------------------------


def test_a_closed_pipe_on_stdout_is_an_error(tmp_path):
    data = large_input(tmp_path / "big", 1 << 20)
    (tmp_path / "big.dcz").write_bytes(deepcompress.compress(data, "histogram"))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "deepcompress", "decompress", "-c", "big.dcz"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    assert process.stdout.read(10) == data[:10]  # like `| head -c 10`
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(60) == 128 + signal.SIGPIPE
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr


# --- out of memory --------------------------------------------------------------------------

LIMITED = """
import resource, sys
import deepcompress.models._cm_kernels, deepcompress.coding.binary  # numba, llvmlite and the compiled
# kernels are mapped before the limit is set (the adaptive model loads them lazily)
from deepcompress import cli
size = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:")) * 1024
limit = size + (64 << 20)  # far less than the default model's tables
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
cli.run(sys.argv[1:])
"""


def test_running_out_of_memory_is_one_line(tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    (tmp_path / "input.bin").write_bytes(bytes(3 << 20))  # longer than a block: tables at full size
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LIMITED, "compress", "input.bin"], cwd=tmp_path,
                          capture_output=True, env=environment, timeout=300, check=False)
    assert_failed_cleanly(done.returncode, done.stderr, tmp_path, "input.bin.dcz")
    assert done.stderr.startswith(b"deepcompress: input.bin: out of memory")


def test_rm_keeps_a_file_with_other_hard_links_unless_forced(tmp_path, sample):
    path, data = sample
    os.link(path, tmp_path / "other-name")
    result = run_cli("compress", "--rm", "-m", "histogram", "input.txt", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == "deepcompress: input.txt: has 1 other link; use -f to remove this one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt", "other-name"]
    assert run_cli("compress", "--rm", "-f", "-m", "histogram", "input.txt", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt.dcz", "other-name"]
    assert (tmp_path / "other-name").read_bytes() == data
