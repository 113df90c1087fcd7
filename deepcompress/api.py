"""The Python API, in the spirit of the gzip and lzma modules.

    >>> import deepcompress
    >>> blob = deepcompress.compress(b"abracadabra" * 100)
    >>> deepcompress.decompress(blob) == b"abracadabra" * 100
    True
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np

from deepcompress import codec, container, models
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
)
from deepcompress.models.base import Model

ModelSpec = Union[str, "os.PathLike[str]", Model]

DEFAULT_MODEL = "histogram-adaptive"
DEFAULT_CODER = "range"
DEFAULT_BLOCK_SIZE = 1 << 20


@dataclass(frozen=True)
class Stats:
    """Sizes and code lengths of one stream."""

    model: str
    original_bytes: int
    compressed_bytes: int
    n_symbols: int
    nll_bits: float
    payload_bits: int

    @property
    def header_bytes(self) -> int:
        """Everything that is not coder payload: header, block records, side info, trailer."""
        return self.compressed_bytes - self.payload_bits // 8

    @property
    def bits_per_byte(self) -> float:
        return 8 * self.compressed_bytes / self.original_bytes if self.original_bytes else 0.0

    @property
    def nll_bits_per_byte(self) -> float:
        return self.nll_bits / self.original_bytes if self.original_bytes else 0.0

    @property
    def overhead(self) -> float:
        """(compressed bits - NLL bits) / NLL bits: what the coder and container add."""
        return (8 * self.compressed_bytes - self.nll_bits) / self.nll_bits if self.nll_bits else 0.0


def load_model(spec: ModelSpec) -> Model:
    """A model from an instance, a built-in name (`models.BUILTIN_MODELS`) or a model file path."""
    if isinstance(spec, Model):
        return spec
    if isinstance(spec, str) and spec in models.BUILTIN_MODELS:
        return models.builtin(spec)
    path = os.fspath(spec)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file (built-in models: {', '.join(models.BUILTIN_MODELS)})")
    raise ModelFileError(f"{path}: model files are not supported yet")


class _CountingReader:
    """A read-only view of a binary stream that counts the bytes read through it."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data


def _read_block(source: BinaryIO, size: int) -> bytes:
    pieces, remaining = [], size
    while remaining:
        piece = source.read(remaining)
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


def compress_stream(
    source: BinaryIO,
    sink: BinaryIO,
    model: ModelSpec = DEFAULT_MODEL,
    coder: str = DEFAULT_CODER,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Stats:
    """Compress everything readable from `source` into `sink`, one block at a time.

    Memory stays bounded by the block size, so inputs of any length (pipes too) work.
    """
    model = load_model(model)
    if model.alphabet_size != 256:
        raise ValueError(f"byte data needs a model over 256 symbols, got {model.alphabet_size}")
    if not 0 < block_size <= container.MAX_BLOCK_SYMBOLS:
        raise ValueError(f"block_size must be in [1, {container.MAX_BLOCK_SYMBOLS}], got {block_size}")
    header = container.StreamHeader(model.name, model.config(), model.fingerprint(), coder, block_size)
    written = sink.write(container.encode_header(header))
    session = model.session()
    n_symbols, crc, nll_bits, payload_bits = 0, 0, 0.0, 0
    while data := _read_block(source, block_size):
        symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        block = codec.encode_block(model, session, symbols, coder)
        record = container.BlockRecord(block.n_symbols, block.lanes, block.side_info, block.words, block.nll_bits, zlib.crc32(data))
        written += sink.write(container.encode_block(record))
        n_symbols += len(data)
        crc = zlib.crc32(data, crc)
        nll_bits += block.nll_bits
        payload_bits += block.payload_bits
    written += sink.write(container.encode_end(container.Trailer(n_symbols, n_symbols, crc)))
    return Stats(model.name, n_symbols, written, n_symbols, nll_bits, payload_bits)


def _model_for(header: container.StreamHeader, model: ModelSpec | None) -> Model:
    """The model a stream needs: the given one if its fingerprint matches, else a built-in."""
    if model is not None:
        resolved = load_model(model)
        if resolved.fingerprint() != header.fingerprint:
            raise ModelMismatchError(
                f"stream needs model {header.model!r} with fingerprint {header.fingerprint[:16]}, "
                f"got {resolved.name!r} with fingerprint {resolved.fingerprint()[:16]}"
            )
        return resolved
    try:
        rebuilt = models.from_header(header.model, header.config)
    except ValueError as error:
        raise CorruptStreamError(f"cannot rebuild the stream's model: {error}") from None
    if rebuilt is None:
        raise ModelMismatchError(
            f"stream needs the model file of {header.model!r} with fingerprint {header.fingerprint[:16]}; pass it as model"
        )
    if rebuilt.fingerprint() != header.fingerprint:
        raise ModelMismatchError(f"stream's model {header.model!r} fingerprint does not match its config")
    return rebuilt


def decompress_stream(source: BinaryIO, sink: BinaryIO | None, model: ModelSpec | None = None) -> Stats:
    """Decompress a stream from `source` into `sink` (None: verify only, write nothing).

    Every block is checked (payload checksum before decoding, data checksum after) before
    it is written; the trailer's length and checksum are checked at the end.
    """
    source = _CountingReader(source)
    header = container.read_header(source)
    resolved = _model_for(header, model)
    if resolved.alphabet_size != 256:
        raise CorruptStreamError(f"byte data needs a model over 256 symbols, the stream names {resolved.alphabet_size}")
    if header.coder not in codec.coding.CODERS:
        raise CorruptStreamError(f"unknown coder {header.coder!r}")
    session = resolved.session()
    n_symbols, crc, nll_bits, payload_bits = 0, 0, 0.0, 0
    while isinstance(record := container.read_block(source, header), container.BlockRecord):
        block = codec.EncodedBlock(record.n_symbols, record.lanes, record.side_info, record.words, record.nll_bits)
        try:
            symbols = codec.decode_block(session, block, header.coder)
        except ValueError as error:  # malformed side info or words
            raise CorruptStreamError(f"cannot decode block at symbol {n_symbols}: {error}") from None
        data = symbols.astype(np.uint8).tobytes()
        if zlib.crc32(data) != record.data_crc32:
            raise CorruptStreamError(f"checksum mismatch in the block at symbol {n_symbols} (wrong model or damaged data)")
        if sink is not None:
            sink.write(data)
        n_symbols += len(data)
        crc = zlib.crc32(data, crc)
        nll_bits += record.nll_bits
        payload_bits += block.payload_bits
    trailer = record
    if (trailer.n_symbols, trailer.original_bytes, trailer.data_crc32) != (n_symbols, n_symbols, crc):
        raise CorruptStreamError("stream length or checksum does not match its trailer")
    return Stats(header.model, n_symbols, source.bytes_read, n_symbols, nll_bits, payload_bits)


@dataclass(frozen=True)
class StreamInfo:
    """What a stream declares about itself, read without decoding (checksums of records checked)."""

    header: container.StreamHeader
    stats: Stats
    n_blocks: int
    lanes: tuple[int, ...]


def read_info(source: BinaryIO) -> StreamInfo:
    """Header, sizes and stored NLL of a stream, reading every record but decoding nothing."""
    source = _CountingReader(source)
    header = container.read_header(source)
    n_blocks, lanes, nll_bits, payload_bits = 0, [], 0.0, 0
    while isinstance(record := container.read_block(source, header), container.BlockRecord):
        n_blocks += 1
        lanes.append(record.lanes)
        nll_bits += record.nll_bits
        payload_bits += 32 * len(record.words)
    stats = Stats(header.model, record.original_bytes, source.bytes_read, record.n_symbols, nll_bits, payload_bits)
    return StreamInfo(header, stats, n_blocks, tuple(lanes))


def compress(data: bytes, model: ModelSpec = DEFAULT_MODEL, coder: str = DEFAULT_CODER) -> bytes:
    """Compress bytes into a self-checking .dcz stream."""
    sink = io.BytesIO()
    compress_stream(io.BytesIO(data), sink, model, coder)
    return sink.getvalue()


def decompress(blob: bytes, model: ModelSpec | None = None) -> bytes:
    """Decompress a .dcz stream. `model` is needed only for streams made with a model file.

    Raises a `DeepCompressError` subclass for damaged, truncated or mismatched data.
    """
    sink = io.BytesIO()
    decompress_stream(io.BytesIO(blob), sink, model)
    return sink.getvalue()


def nll_bits(data: bytes, model: ModelSpec = DEFAULT_MODEL) -> float:
    """The model's exact code length of `data` in bits (side information excluded)."""
    return nll_stream(io.BytesIO(data), model)[1]


def nll_stream(source: BinaryIO, model: ModelSpec = DEFAULT_MODEL, block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[int, float]:
    """(bytes read, the model's exact code length of them in bits) for everything readable from `source`.

    Measured block by block as `compress_stream` codes it, so memory stays bounded for any input.
    """
    resolved = load_model(model)
    session = resolved.session()
    n_bytes, bits = 0, 0.0
    while data := _read_block(source, block_size):
        symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        bits += float(codec.block_symbol_bits(resolved, session, symbols).sum())
        n_bytes += len(data)
    return n_bytes, bits


def symbol_bits(data: bytes, model: ModelSpec = DEFAULT_MODEL, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Bits the coder spends on each byte of `data`, block by block as `compress` codes it.

    Returns float64[len(data)]; side information (a static histogram's counts) excluded.
    """
    resolved = load_model(model)
    session = resolved.session()
    symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    pieces = [
        codec.block_symbol_bits(resolved, session, symbols[start : start + block_size])
        for start in range(0, len(symbols), block_size)
    ]
    return np.concatenate(pieces) if pieces else np.zeros(0)


__all__ = [
    "DEFAULT_MODEL",
    "DeepCompressError",
    "Stats",
    "StreamInfo",
    "compress",
    "compress_stream",
    "decompress",
    "decompress_stream",
    "load_model",
    "nll_bits",
    "nll_stream",
    "read_info",
    "symbol_bits",
]
