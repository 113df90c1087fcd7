"""File objects and incremental (de)compressors, in the style of the gzip, lzma and bz2 modules.

    >>> import deepcompress, io
    >>> sink = io.BytesIO()
    >>> with deepcompress.open(sink, "wt", encoding="utf-8") as f:
    ...     _ = f.write("hello\\n")
    >>> deepcompress.open(io.BytesIO(sink.getvalue()), "rt", encoding="utf-8").read()
    'hello\\n'

`Compressor` is built on `api.StreamWriter`, `Decompressor` on `api.PushStreamReader`; the
file object on those two. Memory stays bounded by about one block (`api.DEFAULT_BLOCK_SIZE`)
of data plus one coded block, whatever the length of the stream, plus for a stream longer than
a segment (`api.SEGMENT_BYTES`) up to twice `container.MAX_COPY_DISTANCE` of output kept as the
source of its copies (`longrange`), and a segment when writing.
"""

from __future__ import annotations

import builtins
import io
import os
from typing import Any, BinaryIO, Union

from deepcompress import api, longrange
from deepcompress.api import DEFAULT_BLOCK_SIZE, DEFAULT_CODER, ModelSpec
from deepcompress.errors import TruncatedStreamError

FileSpec = Union[str, bytes, "os.PathLike[str]", BinaryIO]

_READ_SIZE = 1 << 16  # compressed bytes read from the file at a time


def _byte_view(data: Any) -> memoryview:
    """Any bytes-like object as a flat view of bytes (TypeError for str and other types)."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Compressor:
    """Incremental compression of one stream, like `lzma.LZMACompressor`.

    `compress(data)` returns the compressed bytes ready so far (often none: data is coded a
    block at a time); `flush()` codes the rest and ends the stream. The concatenated
    outputs equal `deepcompress.compress(all data)` byte for byte, for any `threads`
    (segments coded at a time, `api.SegmentWriter`). `stats` is set by flush.
    """

    def __init__(self, level: int | None = None, model: ModelSpec | None = None, coder: str = DEFAULT_CODER,
                 block_size: int = DEFAULT_BLOCK_SIZE, threads: int = 1) -> None:
        self._sink = io.BytesIO()
        self._writer = api.SegmentWriter(self._sink, api.compression_model(model, level), coder, block_size,
                                         threads=threads)
        self._pending = bytearray()
        self._block_bytes = block_size * self._writer.layout.item_size
        self._finished = False
        self.stats: api.Stats | None = None

    def compress(self, data: bytes) -> bytes:
        """Feed data (any bytes-like object); the compressed bytes completed by it."""
        if self._finished:
            raise ValueError("compressor has been flushed")
        self._pending += _byte_view(data)
        # Full blocks are pushed as not last, as compress_stream pushes them: same bytes.
        while len(self._pending) >= self._block_bytes:
            self._writer.push(bytes(self._pending[: self._block_bytes]))
            del self._pending[: self._block_bytes]
        return self._take()

    def flush(self) -> bytes:
        """Code the buffered data, end the stream; the remaining compressed bytes."""
        if self._finished:
            raise ValueError("repeated call to flush()")
        self._finished = True
        if self._pending:
            self._writer.push(bytes(self._pending), last=True)
            self._pending = bytearray()
        self.stats = self._writer.finish()
        return self._take()

    def _take(self) -> bytes:
        out = self._sink.getvalue()
        self._sink.seek(0)
        self._sink.truncate()
        return out


class Decompressor:
    """Incremental decompression of one stream, like `lzma.LZMADecompressor`.

    `decompress(data, max_length=-1)` returns at most max_length bytes (all available if
    negative). `eof` is true once the end of the stream has been reached and all its data
    returned; what followed it (say the next member of a concatenation) is `unused_data`.
    `needs_input` is false when output is pending that a call with no new data would
    return. model: needed only for streams made with a model file. previous: the Decompressor
    of the member before this one in the same stream (at its end): a member that copies from
    the output before it (`longrange`, a stream longer than a segment) needs it.
    """

    def __init__(self, model: ModelSpec | None = None, *, previous: Decompressor | None = None) -> None:
        if previous is not None and not previous.eof:
            raise ValueError("previous has not reached the end of its member")
        self._reader = api.PushStreamReader(model)
        self._resolver = previous._resolver if previous is not None else longrange.CopyResolver()
        self._pending = bytearray()  # decoded bytes not yet returned
        self._started = False  # the stream's prefix (an array's .npy header) is out
        self._needs_input = True

    @property
    def eof(self) -> bool:
        return self._reader.eof and not self._pending

    @property
    def needs_input(self) -> bool:
        return self._needs_input

    @property
    def unused_data(self) -> bytes:
        return self._reader.unused_data

    @property
    def stats(self) -> api.Stats | None:
        """The stream's Stats once its end has been read."""
        reader = self._reader.reader
        return reader.stats if reader is not None else None

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Feed data; up to max_length decompressed bytes. Raises a DeepCompressError subclass
        for damaged data, EOFError after the end of the stream."""
        if self.eof:
            raise EOFError("already at the end of the stream")
        self._reader.feed(_byte_view(data))
        out, starved = self._pending, False
        while max_length < 0 or len(out) < max_length:
            raw = self._reader.read_block()
            if not self._started and self._reader.reader is not None:
                self._started = True
                out += self._reader.reader.prefix
                self._resolver.begin(self._reader.reader.copies)
            if raw is None:
                starved = not self._reader.eof
                if not starved:
                    out += self._resolver.end()
                break
            out += self._resolver.feed(raw)
        if 0 <= max_length < len(out):
            self._pending = out[max_length:]
            del out[max_length:]
        else:
            self._pending = bytearray()
        self._needs_input = starved
        return bytes(out)

    def _end_input(self, max_length: int) -> bytes:
        """The input has ended: up to max_length more bytes, or the error where the stream is cut."""
        self._reader.end_input()
        out = self.decompress(b"", max_length)
        if not (out or self._reader.eof):  # unreachable: a short read at the end raises in the container
            raise TruncatedStreamError("compressed data ended before the end of the stream")
        return out


class _MembersReader(io.RawIOBase):
    """The decompressed data of every member in a compressed file, in order (as gzip reads
    concatenated members). Seeking backwards rereads from where the file started."""

    def __init__(self, fp: BinaryIO, model: ModelSpec | None) -> None:
        self._fp = fp
        self._model = model
        self._start = fp.tell() if self.seekable() else 0
        self._reset()

    def _reset(self) -> None:
        self._decompressor = Decompressor(self._model)
        self._position = 0
        self._eof = False
        self._size = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        seekable = getattr(self._fp, "seekable", None)  # a file object may have read() only
        return bool(seekable and seekable())

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            data = self.read(len(target))
            target[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        if not size or self._eof:
            return b""
        data = b""
        while not data:
            decompressor = self._decompressor
            if decompressor.eof:  # a member ended: the next one starts, or the file ends
                rest = decompressor.unused_data or self._fp.read(_READ_SIZE)
                if not rest:
                    break
                self._decompressor = Decompressor(self._model, previous=decompressor)
                data = self._decompressor.decompress(rest, size)
            elif decompressor.needs_input:
                compressed = self._fp.read(_READ_SIZE)
                data = (decompressor.decompress(compressed, size) if compressed
                        else decompressor._end_input(size))
            else:
                data = decompressor.decompress(b"", size)
        if not data:
            self._eof = True
            self._size = self._position
            return b""
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        chunks = []
        while data := self.read(DEFAULT_BLOCK_SIZE):
            chunks.append(data)
        return b"".join(chunks)

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            if self._size < 0:
                while self.read(DEFAULT_BLOCK_SIZE):
                    pass
            offset += self._size
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if offset < self._position:  # no way back through a model's state: start again
            self._fp.seek(self._start)
            self._reset()
        else:
            offset -= self._position
        while offset > 0:
            data = self.read(min(DEFAULT_BLOCK_SIZE, offset))
            if not data:
                break
            offset -= len(data)
        return self._position


_READ_MODES = {"r": "rb", "rb": "rb"}
_WRITE_MODES = {"w": "wb", "wb": "wb", "x": "xb", "xb": "xb", "a": "ab", "ab": "ab"}


class DeepCompressFile(io.BufferedIOBase):
    """A deepcompress file opened for reading ("r"/"rb") or writing ("w"/"wb", "x"/"xb", "a"/"ab").

    file: a path (str, bytes, os.PathLike) or a binary file object. Reading decodes every
    member of the file in turn; appending ("a") adds a member. Writing codes a block at a
    time; close() ends the stream (closing `file` only if it was opened here). level, model,
    threads: as for `deepcompress.compress` (writing); model is needed to read a model-file stream.
    """

    def __init__(self, file: FileSpec, mode: str = "r", *, level: int | None = None,
                 model: ModelSpec | None = None, threads: int = 1) -> None:
        self._fp: BinaryIO | None = None
        self._close_fp = False
        if mode in _READ_MODES:
            if level is not None:
                raise ValueError("level is for writing; a stream records how it was compressed")
            if threads != 1:
                raise ValueError("threads is for writing (members are read one after another)")
            file_mode = _READ_MODES[mode]
        elif mode in _WRITE_MODES:
            file_mode = _WRITE_MODES[mode]
        else:
            raise ValueError(f"invalid mode: {mode!r}")
        if isinstance(file, (str, bytes, os.PathLike)):
            fp = builtins.open(file, file_mode)  # noqa: SIM115 -- closed by close()
            self._close_fp = True
        elif hasattr(file, "read") or hasattr(file, "write"):
            fp = file
        else:
            raise TypeError("file must be a str, bytes or os.PathLike object, or a file object")
        try:
            if file_mode == "rb":
                self._buffer: io.BufferedReader | None = io.BufferedReader(_MembersReader(fp, model))
                self._compressor: Compressor | None = None
            else:
                self._buffer = None
                self._compressor = Compressor(level, model, threads=threads)
                self._written = 0
        except BaseException:
            if self._close_fp:
                fp.close()
            raise
        self._fp = fp
        self._mode = "rb" if file_mode == "rb" else "wb"

    def close(self) -> None:
        """Flush and close: a writer writes the end of the stream. Closing twice does nothing."""
        if self._fp is None:
            return
        try:
            if self._compressor is not None:
                self._fp.write(self._compressor.flush())
                self._compressor = None
            elif self._buffer is not None:
                self._buffer.close()
        finally:
            try:
                if self._close_fp:
                    self._fp.close()
            finally:
                self._fp = self._buffer = self._compressor = None
                self._close_fp = False

    @property
    def closed(self) -> bool:
        return self._fp is None

    @property
    def name(self) -> Any:
        self._check_open()
        return self._fp.name

    @property
    def mode(self) -> str:
        return self._mode

    def fileno(self) -> int:
        self._check_open()
        return self._fp.fileno()

    def _check_open(self) -> None:
        if self._fp is None:
            raise ValueError("I/O operation on closed file")

    def _check_readable(self) -> io.BufferedReader:
        self._check_open()
        if self._buffer is None:
            raise io.UnsupportedOperation("file not open for reading")
        return self._buffer

    def _check_writable(self) -> Compressor:
        self._check_open()
        if self._compressor is None:
            raise io.UnsupportedOperation("file not open for writing")
        return self._compressor

    def readable(self) -> bool:
        self._check_open()
        return self._buffer is not None

    def writable(self) -> bool:
        self._check_open()
        return self._compressor is not None

    def seekable(self) -> bool:
        """Readers over a seekable file seek: forward by decoding up to the offset, backward
        by rewinding. Writers seek forward only (writing zeros), as gzip's do."""
        if self.writable():
            return True
        return self._buffer.seekable()

    def peek(self, size: int = -1) -> bytes:
        """Buffered data without advancing (at least one byte unless at the end)."""
        return self._check_readable().peek(size)

    def read(self, size: int | None = -1) -> bytes:
        return self._check_readable().read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._check_readable().read1(size)

    def readinto(self, buffer: Any) -> int:
        return self._check_readable().readinto(buffer)

    def readline(self, size: int | None = -1) -> bytes:
        return self._check_readable().readline(-1 if size is None else size)

    def write(self, data: Any) -> int:
        """Compress data (any bytes-like object); returns its length in bytes."""
        compressor = self._check_writable()
        view = _byte_view(data)
        self._fp.write(compressor.compress(view))
        self._written += len(view)
        return len(view)

    def flush(self) -> None:
        """Flush the underlying file. The stream's coded blocks reach it a block at a time and
        its end at close(), so that the file equals `deepcompress.compress` of its data."""
        self._check_open()
        if self._compressor is not None and hasattr(self._fp, "flush"):
            self._fp.flush()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if self._compressor is not None:
            if whence == io.SEEK_CUR:
                offset += self._written
            elif whence != io.SEEK_SET:
                raise ValueError("writers seek from the start or the current position only")
            if offset < self._written:
                raise OSError("negative seek in write mode")
            zeros = bytes(min(offset - self._written, DEFAULT_BLOCK_SIZE))
            while self._written < offset:
                self.write(zeros[: offset - self._written])
            return self._written
        if not self._buffer.seekable():
            raise io.UnsupportedOperation("the underlying file is not seekable")
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        self._check_open()
        return self._buffer.tell() if self._buffer is not None else self._written


def open(
    file: FileSpec,
    mode: str = "rb",
    level: int | None = None,
    model: ModelSpec | None = None,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    *,
    threads: int = 1,
) -> DeepCompressFile | io.TextIOWrapper:
    """Open a deepcompress file in binary ("rb", "wb", "xb", "ab"; "b" optional) or text mode
    ("rt", "wt", "xt", "at"), like `gzip.open`. Text mode wraps the file in an
    `io.TextIOWrapper` with the given encoding, errors and newline handling. threads
    (writing): segments coded at a time; the bytes written do not depend on it.
    """
    if "t" in mode:
        if "b" in mode:
            raise ValueError(f"invalid mode: {mode!r}")
    elif encoding is not None or errors is not None or newline is not None:
        raise ValueError("encoding, errors and newline are for text mode")
    binary = DeepCompressFile(file, mode.replace("t", ""), level=level, model=model, threads=threads)
    if "t" in mode:
        return io.TextIOWrapper(binary, io.text_encoding(encoding), errors, newline)
    return binary


__all__ = ["Compressor", "Decompressor", "DeepCompressFile", "open"]
