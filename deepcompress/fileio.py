"""Operands and outputs of the file commands, treated as gzip treats them. Prints nothing.

- An operand is read for a named output (FILE -> FILE.dcz), or removed, only if it is a
  regular file; a symbolic link only when asked to follow it (gzip: -f or -c). Standard
  input holding compressed data is never a terminal.
- A file output is written beside its target and renamed into place only when complete;
  an existing output that is not a regular file is never replaced.
- Every write is checked; EPIPE on standard output raises `StdoutClosed`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

STDOUT = "(stdout)"


class OperandError(Exception):
    """An operand cannot be processed: the message is the reason; `name` the operand at fault
    when it is not the one being processed (an output file, standard output)."""

    def __init__(self, reason: str, name: str | None = None):
        super().__init__(reason)
        self.name = name


class StdoutClosed(BaseException):
    """The reader of standard output went away (EPIPE): the run stops, as gzip does on SIGPIPE."""


def is_terminal(stream: object) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@dataclass(frozen=True)
class Opened:
    """An operand opened for reading. entry: lstat of its name (None for stdin), to check before removing it."""

    source: BinaryIO
    entry: os.stat_result | None


@contextlib.contextmanager
def open_operand(path: str, compressed: bool, regular: bool = False, follow: bool = True) -> Iterator[Opened]:
    """Read an operand as gzip does. "-": standard input (never a terminal when it holds
    compressed data). regular: refuse anything but a regular file (its output is named after
    it, or it may be removed); follow: follow a symbolic link (gzip: with -f or -c)."""
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise OperandError("standard input is closed")
        if compressed and is_terminal(stream):
            raise OperandError("refusing to read compressed data from a terminal; use a file or a pipe")
        yield Opened(stream, None)
        return
    entry = os.lstat(path)
    if stat.S_ISLNK(entry.st_mode) and not follow:
        raise OperandError("is a symbolic link; use -f to follow it")
    target = os.stat(path)
    if stat.S_ISDIR(target.st_mode):
        raise OperandError("is a directory")
    if regular and not stat.S_ISREG(target.st_mode):
        raise OperandError("not a regular file")
    # Non-blocking: a file swapped for a FIFO since the stat must not hang us (refused below);
    # no-follow: nor may a link swapped in for the file.
    flags = (os.O_RDONLY | getattr(os, "O_NOCTTY", 0) | (getattr(os, "O_NONBLOCK", 0) if regular else 0)
             | (0 if follow else getattr(os, "O_NOFOLLOW", 0)))
    with open(os.open(path, flags), "rb") as source:
        opened = os.fstat(source.fileno())
        if (opened.st_dev, opened.st_ino) != (target.st_dev, target.st_ino) or (regular and not stat.S_ISREG(opened.st_mode)):
            raise OperandError("changed while being opened")
        os.set_blocking(source.fileno(), True)
        yield Opened(source, entry)


def remove_operand(path: str, opened: Opened) -> None:
    """Remove a processed input: only the very entry that was opened, and only a regular file or a link to one."""
    now = os.lstat(path)
    if opened.entry is None or (now.st_dev, now.st_ino) != (opened.entry.st_dev, opened.entry.st_ino):
        raise OperandError("changed while being processed; not removed")
    os.unlink(path)


class CheckedSink:
    """A binary output whose every write is checked: a short write is an error, and an
    error names the output (EPIPE on standard output stops the run quietly)."""

    def __init__(self, stream: BinaryIO, name: str, flush: bool):
        self._stream, self._name, self._flush = stream, name, flush

    def write(self, data: bytes) -> int:
        rest = memoryview(data)
        try:
            while rest:  # a partial write (a pipe's reader is slow, or gone) is retried: the retry fails if gone
                written = self._stream.write(rest)
                if not written:
                    raise OSError(errno.EIO, f"short write ({len(data) - len(rest)} of {len(data)} bytes)")
                rest = rest[written:]
            if self._flush:  # the data reaches the pipe (or fails) now, not at exit
                self._stream.flush()
        except BrokenPipeError:
            if self._name == STDOUT:
                raise StdoutClosed from None
            raise
        except OSError as error:
            raise OSError(error.errno, error.strerror, self._name) from None
        return len(data)


@contextlib.contextmanager
def output(path: str, force: bool, binary: str | None, mode: int | None = None,
           times_ns: tuple[int, int] | None = None) -> Iterator[BinaryIO]:
    """Where a command writes. "-": standard output, refused when it is a terminal and the data
    is `binary` (what it is, for the message); a file: written atomically (`atomic_output`),
    with permission bits `mode` and (access, modification) times `times_ns` when given."""
    if path != "-":
        with _atomicoutput(path, force, mode, times_ns) as sink:
            yield CheckedSink(sink, path, flush=False)
        return
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        raise OperandError("standard output is closed", STDOUT)
    if binary is not None and is_terminal(stream):
        raise OperandError(f"refusing to write {binary} to a terminal; use -o FILE or a pipe")
    yield CheckedSink(stream, STDOUT, flush=True)


@contextlib.contextmanager
def _atomicoutput(path: str, force: bool, mode: int | None, times_ns: tuple[int, int] | None) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`, renamed over it only once complete.

    A failure (or a stop signal) removes the temporary file, so no partial output ever
    appears and an existing file is never clobbered by one; an existing output that is not
    a regular file (a device, /dev/stdout...) is never replaced, even with -f.
    """
    if os.path.lexists(path):
        if not force:
            raise OperandError(f"{path} already exists; use -f to overwrite")
        if not os.path.isfile(path):  # following links: the final entry must be a regular file
            raise OperandError("exists and is not a regular file; not replaced (use -c to write to it)", path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise OSError(error.errno, error.strerror, path) from None
    try:
        with os.fdopen(handle, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temporary, mode if mode is not None else 0o666 & ~umask())
        if times_ns is not None:
            os.utime(temporary, ns=times_ns)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
