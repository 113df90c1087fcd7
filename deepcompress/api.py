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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np

from deepcompress import codec, container, models
from deepcompress import symbols as symbols_module
from deepcompress.arguments import check
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
)
from deepcompress.models.base import Model
from deepcompress.symbols import Layout, storage_order_bytes

ModelSpec = Union[str, "os.PathLike[str]", Model]

DEFAULT_MODEL = "adaptive"
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
    def bits_per_symbol(self) -> float:
        """Compressed bits per coded symbol (per element, i.e. per dimension, for arrays)."""
        return 8 * self.compressed_bytes / self.n_symbols if self.n_symbols else 0.0

    @property
    def nll_bits_per_symbol(self) -> float:
        return self.nll_bits / self.n_symbols if self.n_symbols else 0.0

    @property
    def overhead(self) -> float:
        """(compressed bits - NLL bits) / NLL bits: what the coder and container add."""
        return (8 * self.compressed_bytes - self.nll_bits) / self.nll_bits if self.nll_bits else 0.0


def load_model(spec: ModelSpec, alphabet_size: int = 256) -> Model:
    """A model from an instance, a built-in name (`models.BUILTIN_MODELS`, built for
    `alphabet_size` symbols) or a model file path."""
    check(spec=spec, alphabet_size=alphabet_size)
    if isinstance(spec, Model):
        return spec
    if isinstance(spec, str) and spec in models.BUILTIN_MODELS:
        return models.builtin(spec, alphabet_size)
    path = os.fspath(spec)
    if not os.path.isfile(path):
        raise ModelFileError(f"no such model file {path!r} (built-in models: {', '.join(models.BUILTIN_MODELS)})")
    from deepcompress import modelfile  # imports torch: only when a model file is used

    return modelfile.load_model(path)[0]


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


def _raw_blocks(source: BinaryIO, layout: Layout, block_size: int) -> Iterator[bytes]:
    """Raw element bytes of `source`, block_size elements at a time."""
    while raw := _read_block(source, block_size * layout.item_size):
        if len(raw) % layout.item_size:
            raise ValueError(f"array data ends inside an element ({len(raw)} bytes of {layout.item_size}-byte items)")
        yield raw


def _fits(model_alphabet: int, data_alphabet: int) -> bool:
    """A model codes data over its own alphabet, or a byte model data over at most 256 values."""
    return model_alphabet == data_alphabet or (model_alphabet == 256 and data_alphabet <= 256)


def compress_stream(
    source: BinaryIO,
    sink: BinaryIO,
    model: ModelSpec = DEFAULT_MODEL,
    coder: str = DEFAULT_CODER,
    block_size: int = DEFAULT_BLOCK_SIZE,
    layout: Layout | None = None,
) -> Stats:
    """Compress everything readable from `source` into `sink`, one block at a time.

    layout: what the data is (default: bytes); for arrays `source` starts at the first
    element byte (see `symbols.read_npy_layout`). Memory stays bounded by the block size,
    so inputs of any length (pipes too) work.
    """
    check(source=source, sink=sink, model=model, coder=coder, block_size=block_size, layout=layout)
    layout = layout or Layout()
    model = load_model(model, layout.alphabet_size)
    if not _fits(model.alphabet_size, layout.alphabet_size):
        raise ValueError(f"the data needs a model over {layout.alphabet_size} symbols, got {model.alphabet_size}")
    if not 0 < block_size <= container.MAX_BLOCK_SYMBOLS:
        raise ValueError(f"block_size must be in [1, {container.MAX_BLOCK_SYMBOLS}], got {block_size}")
    if coder not in codec.coding.CODERS:
        raise ValueError(f"unknown coder {coder!r}; choose one of {', '.join(codec.coding.CODERS)}")
    header = container.StreamHeader(
        model.name, model.config(), model.fingerprint(), coder, block_size, layout.kind, layout.to_extra()
    )
    written = sink.write(container.encode_header(header))
    session = model.session()
    n_symbols, original_bytes, crc = 0, len(layout.npy_header), zlib.crc32(layout.npy_header)
    nll_bits, payload_bits = 0.0, 0
    for raw in _raw_blocks(source, layout, block_size):
        symbols = layout.to_symbols(raw)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= layout.alphabet_size):
            raise ValueError(f"data values lie outside the stream's alphabet of {layout.alphabet_size} values")
        block = codec.encode_block(model, session, symbols, coder)
        record = container.BlockRecord(block.n_symbols, block.lanes, block.side_info, block.words, block.nll_bits, zlib.crc32(raw))
        written += sink.write(container.encode_block(record))
        n_symbols += block.n_symbols
        original_bytes += len(raw)
        crc = zlib.crc32(raw, crc)
        nll_bits += block.nll_bits
        payload_bits += block.payload_bits
    written += sink.write(container.encode_end(container.Trailer(n_symbols, original_bytes, crc)))
    return Stats(model.name, original_bytes, written, n_symbols, nll_bits, payload_bits)


def _model_for(header: container.StreamHeader, model: ModelSpec | None) -> Model:
    """The model a stream needs: the given one if its fingerprint matches, else a built-in."""
    if model is not None:
        alphabet_size = header.config.get("alphabet_size", 256)
        if type(alphabet_size) is not int or alphabet_size < 1:  # not bool: a forged header
            raise CorruptStreamError(f"malformed header: alphabet size {str(alphabet_size)[:40]!r}")
        resolved = load_model(model, alphabet_size)
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


def read_layout(header: container.StreamHeader) -> Layout:
    """The data layout a stream declares; CorruptStreamError if malformed."""
    try:
        return Layout.from_header(header.kind, header.extra)
    except ValueError as error:
        raise CorruptStreamError(str(error)) from None


def decompress_stream(source: BinaryIO, sink: BinaryIO | None, model: ModelSpec | None = None) -> Stats:
    """Decompress a stream from `source` into `sink` (None: verify only, write nothing).

    Every block is checked (payload checksum before decoding, data checksum after) before
    it is written; the end record's totals and checksum are checked at the end.
    """
    check(source=source, sink=sink, model=model)
    source = _CountingReader(source)
    header = container.read_header(source)
    layout = read_layout(header)
    resolved = _model_for(header, model)
    if header.coder not in codec.coding.CODERS:
        raise CorruptStreamError(f"unknown coder {header.coder!r}")
    if not _fits(resolved.alphabet_size, layout.alphabet_size):
        raise CorruptStreamError(f"a model over {resolved.alphabet_size} symbols cannot code data over {layout.alphabet_size}")
    if sink is not None:
        sink.write(layout.npy_header)
    session = resolved.session()
    n_symbols, original_bytes, crc = 0, len(layout.npy_header), zlib.crc32(layout.npy_header)
    nll_bits, payload_bits = 0.0, 0
    while isinstance(record := container.read_block(source, header), container.BlockRecord):
        block = codec.EncodedBlock(record.n_symbols, record.lanes, record.side_info, record.words, record.nll_bits)
        # The encoder always takes the model's lane count; a forged one (say 1 lane for a
        # whole block) would only make decoding slow before the checksum can fail.
        if record.lanes != codec.choose_lanes(resolved, record.n_symbols):
            raise CorruptStreamError(f"block at symbol {n_symbols} declares {record.lanes} lanes, the model codes it in "
                                     f"{codec.choose_lanes(resolved, record.n_symbols)}")
        try:
            symbols = codec.decode_block(session, block, header.coder)
        except ValueError as error:  # malformed side info or words
            raise CorruptStreamError(f"cannot decode block at symbol {n_symbols}: {error}") from None
        raw = layout.to_raw(symbols)
        if zlib.crc32(raw) != record.data_crc32:
            raise CorruptStreamError(f"checksum mismatch in the block at symbol {n_symbols} (wrong model or damaged data)")
        if sink is not None:
            sink.write(raw)
        n_symbols += record.n_symbols
        original_bytes += len(raw)
        crc = zlib.crc32(raw, crc)
        nll_bits += record.nll_bits
        payload_bits += block.payload_bits
    trailer = record
    _check_totals(trailer, n_symbols, layout)
    if (trailer.n_symbols, trailer.original_bytes, trailer.data_crc32) != (n_symbols, original_bytes, crc):
        raise CorruptStreamError("stream length or checksum does not match its end record")
    return Stats(header.model, original_bytes, source.bytes_read, n_symbols, nll_bits, payload_bits)


@dataclass(frozen=True)
class StreamInfo:
    """What a stream declares about itself, read without decoding (checksums of records checked)."""

    header: container.StreamHeader
    stats: Stats
    n_blocks: int
    lanes: tuple[int, ...]
    layout: Layout
    hyperparameters: dict[str, int] | None  # every setting of a built-in model with presets, expanded


def read_info(source: BinaryIO) -> StreamInfo:
    """Header, sizes and stored NLL of a stream, reading every record but decoding nothing."""
    check(source=source)
    source = _CountingReader(source)
    header = container.read_header(source)
    layout = read_layout(header)
    try:
        rebuilt = models.from_header(header.model, header.config)
    except ValueError:
        rebuilt = None
    hyperparameters = rebuilt.hyperparameters() if hasattr(rebuilt, "hyperparameters") else None
    n_blocks, lanes, nll_bits, payload_bits, n_symbols = 0, [], 0.0, 0, 0
    while isinstance(record := container.read_block(source, header), container.BlockRecord):
        n_blocks += 1
        lanes.append(record.lanes)
        nll_bits += record.nll_bits
        payload_bits += 32 * len(record.words)
        n_symbols += record.n_symbols
    _check_totals(record, n_symbols, layout)
    stats = Stats(header.model, record.original_bytes, source.bytes_read, record.n_symbols, nll_bits, payload_bits)
    return StreamInfo(header, stats, n_blocks, tuple(lanes), layout, hyperparameters)


def _check_totals(trailer: container.Trailer, n_symbols: int, layout: Layout) -> None:
    """CorruptStreamError unless the end record's totals agree with the block records read.

    Each symbol is one element of `layout.item_size` bytes after the verbatim .npy header,
    so the original size follows from the symbol count; an array's shape fixes the count.
    """
    original_bytes = len(layout.npy_header) + n_symbols * layout.item_size
    if (trailer.n_symbols, trailer.original_bytes) != (n_symbols, original_bytes):
        raise CorruptStreamError(
            f"end record claims {trailer.n_symbols} symbols in {trailer.original_bytes} bytes, "
            f"the blocks hold {n_symbols} symbols in {original_bytes} bytes"
        )
    if layout.kind == "npy" and n_symbols != symbols_module.element_count(layout.shape, layout.item_size):
        raise CorruptStreamError(f"the blocks hold {n_symbols} elements, the array's shape {layout.shape} declares otherwise")


def compress(data: bytes, model: ModelSpec = DEFAULT_MODEL, coder: str = DEFAULT_CODER) -> bytes:
    """Compress bytes into a self-checking .dcz stream."""
    check(data=data, model=model, coder=coder)
    if isinstance(data, np.ndarray):
        raise TypeError("compress codes bytes; use compress_array for arrays")
    sink = io.BytesIO()
    compress_stream(io.BytesIO(data), sink, model, coder)
    return sink.getvalue()


def decompress(blob: bytes, model: ModelSpec | None = None) -> bytes:
    """Decompress a .dcz stream. `model` is needed only for streams made with a model file.

    Raises a `DeepCompressError` subclass for damaged, truncated or mismatched data.
    """
    check(blob=blob, model=model)
    sink = io.BytesIO()
    decompress_stream(io.BytesIO(blob), sink, model)
    return sink.getvalue()


def default_model(alphabet_size: int) -> str:
    """The built-in model used when none is named: `adaptive` for bytes-sized alphabets."""
    return DEFAULT_MODEL if alphabet_size <= 256 else "histogram-adaptive"


def compress_array(
    array: np.ndarray, model: ModelSpec | None = None, coder: str = DEFAULT_CODER, alphabet: tuple[int, int] | None = None
) -> bytes:
    """Compress an integer array (any dtype width, shape, C or Fortran order).

    alphabet: (offset, size) of the values; inferred from the data unless given (a model
    file's alphabet starts at 0). Raises ValueError for non-integer arrays.
    """
    check(array=array, model=model, coder=coder, alphabet=alphabet)
    array = np.asarray(array)
    layout = _array_layout(array, model, alphabet)
    sink = io.BytesIO()
    model = model or default_model(layout.alphabet_size)
    compress_stream(io.BytesIO(storage_order_bytes(array)), sink, model, coder, layout=layout)
    return sink.getvalue()


def _array_layout(array: np.ndarray, model: ModelSpec | None, alphabet: tuple[int, int] | None) -> Layout:
    array = np.asarray(array)
    if alphabet is None and model is not None and not (isinstance(model, str) and model in models.BUILTIN_MODELS):
        alphabet = (0, load_model(model).alphabet_size)
    layout = symbols_module.array_layout(array, alphabet)
    if alphabet is not None and array.size:
        low, high = int(array.min()), int(array.max())
        if low < layout.offset or high >= layout.offset + layout.alphabet_size:
            raise ValueError(
                f"array values [{low}, {high}] lie outside the alphabet [{layout.offset}, {layout.offset + layout.alphabet_size})"
            )
    return layout


def decompress_array(blob: bytes, model: ModelSpec | None = None) -> np.ndarray:
    """Inverse of `compress_array`: the array with its dtype, shape and memory order."""
    check(blob=blob, model=model)
    data = decompress(blob, model)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise CorruptStreamError(f"not an array stream: {error}") from None


def nll_bits(data: bytes | np.ndarray, model: ModelSpec | None = None) -> float:
    """The model's exact code length of `data` in bits (side information excluded).

    data: bytes, or an integer array (coded per element, alphabet as `compress_array` infers it).
    """
    check(data=data, model=model)
    if isinstance(data, np.ndarray):
        layout = _array_layout(data, model, None)
        return nll_stream(io.BytesIO(storage_order_bytes(data)), model, layout=layout)[1]
    return nll_stream(io.BytesIO(data), model)[1]


def nll_stream(
    source: BinaryIO, model: ModelSpec | None = None, block_size: int = DEFAULT_BLOCK_SIZE, layout: Layout | None = None
) -> tuple[int, float]:
    """(symbols read, the model's exact code length of them in bits) for everything readable from `source`.

    layout: as for `compress_stream` (default: bytes). Measured block by block as
    `compress_stream` codes it, so memory stays bounded for any input.
    """
    check(source=source, model=model, block_size=block_size, layout=layout)
    layout = layout or Layout()
    resolved = load_model(model or default_model(layout.alphabet_size), layout.alphabet_size)
    session = resolved.session()
    n_symbols, bits = 0, 0.0
    for raw in _raw_blocks(source, layout, block_size):
        symbols = layout.to_symbols(raw)
        bits += codec.block_nll_bits(resolved, session, symbols)
        n_symbols += len(symbols)
    return n_symbols, bits


def symbol_bits(data: bytes | np.ndarray, model: ModelSpec | None = None, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Bits the coder spends on each symbol of `data`, block by block as compression codes it.

    data: bytes (one symbol per byte) or an integer array (one symbol per element, in
    storage order, alphabet as `compress_array` infers it). Returns float64[n]; side
    information (a static histogram's stored counts) is excluded.
    """
    check(data=data, model=model, block_size=block_size)
    if isinstance(data, np.ndarray):
        layout = _array_layout(data, model, None)
        symbols = layout.to_symbols(storage_order_bytes(data))
        resolved = load_model(model or default_model(layout.alphabet_size), layout.alphabet_size)
    else:
        symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        resolved = load_model(model or DEFAULT_MODEL)
    session = resolved.session()
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
    "compress_array",
    "compress_stream",
    "decompress",
    "decompress_array",
    "decompress_stream",
    "load_model",
    "nll_bits",
    "nll_stream",
    "read_info",
    "symbol_bits",
]
