"""The Python API, in the spirit of the gzip and lzma modules.

    >>> import deepcompress
    >>> blob = deepcompress.compress(b"abracadabra" * 100)
    >>> deepcompress.decompress(blob) == b"abracadabra" * 100
    True
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Union

import numpy as np

from deepcompress import codec, container, modelfile, models
from deepcompress import symbols as symbols_module
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
)
from deepcompress.models.base import InexactTableError, Model, Session
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
    if isinstance(spec, Model):
        return spec
    if isinstance(spec, str) and spec in models.BUILTIN_MODELS:
        return models.builtin(spec, alphabet_size)
    path = os.fspath(spec)
    if not os.path.isfile(path):
        raise ModelFileError(f"no such model file {path!r} (built-in models: {', '.join(models.BUILTIN_MODELS)})")
    return modelfile.load_model(path)[0]


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


def _sized_blocks(model: Model, source: BinaryIO, layout: Layout, block_size: int) -> tuple[Model, Iterator[bytes]]:
    """The model sized for the input when its first block is all of it (`Model.sized_for`), and
    the raw blocks. Compression and the NLL functions size alike, so they code alike."""
    blocks = _raw_blocks(source, layout, block_size)
    first = next(blocks, b"")
    if len(first) < block_size * layout.item_size:
        model = model.sized_for(len(first) // layout.item_size)
    return model, itertools.chain([first] if first else [], blocks)


def _fits(model_alphabet: int, data_alphabet: int) -> bool:
    """A model codes data over its own alphabet, or a byte model data over at most 256 values."""
    return model_alphabet == data_alphabet or (model_alphabet == 256 and data_alphabet <= 256)


def stream_header(model: Model, coder: str, block_size: int, layout: Layout) -> container.StreamHeader:
    """The header of a stream of `model`: its config when that alone rebuilds the model (a
    built-in), else its fingerprint (a model file, passed again to decode)."""
    config = model.config()
    try:
        rebuilt = models.from_header(model.name, config)
    except ValueError:  # not registered, or its config does not rebuild it
        rebuilt = None
    by_config = rebuilt is not None and rebuilt.fingerprint() == model.fingerprint()
    return container.StreamHeader(model.name, config if by_config else {}, None if by_config else model.fingerprint(),
                                  coder, block_size, layout.kind, layout.to_extra(), models.model_id(model.name))


class StreamWriter:
    """Writes one stream piece by piece: `push` blocks of raw bytes, then `finish` -> Stats.

    The header is written with the first block (or by `finish`), so that a model sized for
    its input (`Model.sized_for`) can be built once the input's length is known: when the
    caller passes `n_symbols`, or the first block is the last. A block that coding would
    not make smaller than storing it is stored raw.
    model: a resolved model; layout: what the data is (default: bytes).
    """

    def __init__(self, sink: BinaryIO, model: Model, coder: str = DEFAULT_CODER,
                 block_size: int = DEFAULT_BLOCK_SIZE, layout: Layout | None = None,
                 n_symbols: int | None = None) -> None:
        self.layout = layout or Layout()
        if not _fits(model.alphabet_size, self.layout.alphabet_size):
            raise ValueError(f"the data needs a model over {self.layout.alphabet_size} symbols, got {model.alphabet_size}")
        if not 0 < block_size <= container.MAX_BLOCK_SYMBOLS:
            raise ValueError(f"block_size must be in [1, {container.MAX_BLOCK_SYMBOLS}], got {block_size}")
        self.coder = codec.stream_coder(model, coder)
        self.block_size = block_size
        self._sink = sink
        self._model = model
        self._n_symbols = n_symbols
        self._session: Session | None = None
        self._totals = container.StreamTotals.starting_with(self.layout.npy_header)
        self._written = 0

    @property
    def model(self) -> Model:
        """The model coding the stream (sized for the input once the header is written)."""
        return self._model

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._written += len(data)

    def _write_header(self, n_symbols: int | None) -> None:
        self._model = self._model.sized_for(n_symbols)
        self._write(container.encode_header(stream_header(self._model, self.coder, self.block_size, self.layout)))
        self._session = self._model.session()

    def push(self, raw: bytes, last: bool = False) -> container.BlockRecord:
        """Code one block: raw holds 1..block_size whole elements. last: no block follows."""
        layout = self.layout
        if not 0 < len(raw) <= self.block_size * layout.item_size or len(raw) % layout.item_size:
            raise ValueError(f"a block holds 1 to {self.block_size} whole {layout.item_size}-byte elements, "
                             f"not {len(raw)} bytes")
        if self._session is None:
            self._write_header(self._n_symbols if self._n_symbols is not None or not last
                               else len(raw) // layout.item_size)
        symbols = layout.to_symbols(raw)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= layout.alphabet_size):
            raise ValueError(f"data values lie outside the stream's alphabet of {layout.alphabet_size} values")
        block = codec.encode_block(self._model, self._session, symbols, self.coder)
        raw = bytes(raw)
        record = dataclasses.replace(block, data_crc32=zlib.crc32(raw))
        coded = container.encode_block(record)
        # Stored when coding does not pay; the decoder still runs the model over the block
        # (encoding it again) so that its state follows the encoder's.
        stored = dataclasses.replace(record, side_info=b"", words=np.zeros(0, np.uint32), stored=True, raw=raw)
        stored_bytes = container.encode_block(stored)
        if len(stored_bytes) <= len(coded):
            record, coded = stored, stored_bytes
        self._write(coded)
        self._totals.add_record(record)
        self._totals.add_data(raw)
        return record

    def finish(self) -> Stats:
        """Write the end record; the stream's Stats."""
        if self._session is None:
            self._write_header(0)
        self._write(container.encode_end(self._totals.data_crc32))
        return _stats(self._model.name, self._totals, self._written)


def _stats(model_name: str, totals: container.StreamTotals, compressed_bytes: int) -> Stats:
    return Stats(model_name, totals.original_bytes, compressed_bytes, totals.n_symbols, totals.nll_bits,
                 totals.payload_bits)


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
    layout = layout or Layout()
    writer = StreamWriter(sink, load_model(model, layout.alphabet_size), coder, block_size, layout)
    for raw in _raw_blocks(source, layout, block_size):
        writer.push(raw, last=len(raw) < block_size * layout.item_size)
    return writer.finish()


def _model_for(header: container.StreamHeader, model: ModelSpec | None, alphabet_size: int = 256) -> Model:
    """The model a member needs: the given one if its fingerprint matches, else a built-in
    rebuilt from the header's config (a v2 header of a built-in records no fingerprint: its
    config is the whole model)."""
    expected, rebuilt = header.fingerprint, None
    if expected is None:
        rebuilt = _rebuild(header)
        expected = rebuilt.fingerprint()
    if model is not None:
        resolved = load_model(model, header.config.get("alphabet_size", alphabet_size))
        if resolved.fingerprint() != expected:
            raise ModelMismatchError(
                f"stream needs model {header.model!r} with fingerprint {expected[:16]}, "
                f"got {resolved.name!r} with fingerprint {resolved.fingerprint()[:16]}"
            )
        return resolved
    if rebuilt is not None:
        return rebuilt
    needs_file = ModelMismatchError(
        f"stream needs the model file of {header.model!r} with fingerprint {expected[:16]}; pass it as model")
    if header.version >= 2:  # a fingerprint instead of a config: a model file's stream
        raise needs_file
    rebuilt = _rebuild(header)
    if rebuilt is None:
        raise needs_file
    if rebuilt.fingerprint() != header.fingerprint:
        raise ModelMismatchError(f"stream's model {header.model!r} fingerprint does not match its config")
    return rebuilt


def _rebuild(header: container.StreamHeader) -> Model | None:
    """The model a header's name and config build; None if it needs a model file (v1 only:
    a v2 header holding a config always rebuilds)."""
    try:
        rebuilt = models.from_header(header.model, header.config)
    except ValueError as error:
        raise CorruptStreamError(f"cannot rebuild the stream's model: {error}") from None
    if rebuilt is None and header.version >= 2:
        raise CorruptStreamError(f"cannot rebuild the stream's model {header.model!r} from its config")
    return rebuilt


def _named(header: container.StreamHeader) -> container.StreamHeader:
    """The header with its model's name filled in from the registry id a v2 header records."""
    if not header.model_id:
        return header
    try:
        return dataclasses.replace(header, model=models.name_for_id(header.model_id))
    except ValueError as error:
        raise CorruptStreamError(f"cannot rebuild the stream's model: {error}") from None


def read_member_header(source: container.MemberSource) -> container.StreamHeader:
    """The next member's header, its model named."""
    return _named(container.read_header(source))


def read_layout(header: container.StreamHeader) -> Layout:
    """The data layout a stream declares; CorruptStreamError if malformed."""
    try:
        return Layout.from_header(header.kind, header.extra)
    except ValueError as error:
        raise CorruptStreamError(str(error)) from None


class StreamReader:
    """Reads a stream of one or more members: the first header on construction, then `blocks()`
    yields verified raw bytes of every member in turn (the concatenation of their inputs).

    `prefix` holds the bytes that precede the first block's data (an array's .npy header; a
    later member's prefix is yielded by `blocks()` in its place); `header`, `layout` and
    `model` are those of the member being read; `stats` (totals over all members) and
    `members` (one Stats each) are set once `blocks()` has checked the last end record.
    Every block is checked (its CRC before decoding, its data CRC after) before it is yielded.
    """

    def __init__(self, source: BinaryIO, model: ModelSpec | None = None) -> None:
        self._source = container.MemberSource(source)
        self._model_spec = model
        self._open_member()
        self.prefix = self.layout.npy_header
        self.stats: Stats | None = None
        self.members: list[Stats] = []

    def _open_member(self) -> None:
        self.header = read_member_header(self._source)
        self.layout = read_layout(self.header)
        self.model = _model_for(self.header, self._model_spec, self.layout.alphabet_size)
        try:
            codec.check_coder(self.model, self.header.coder)
        except ValueError as error:
            raise CorruptStreamError(str(error)) from None
        if not _fits(self.model.alphabet_size, self.layout.alphabet_size):
            raise CorruptStreamError(
                f"a model over {self.model.alphabet_size} symbols cannot code data over {self.layout.alphabet_size}")

    def blocks(self) -> Iterator[bytes]:
        """The original bytes of each block in order, member after member; each member's end
        record is checked after its last block."""
        start = 0
        while True:
            yield from self._member_blocks()
            self.members.append(dataclasses.replace(self._member_stats, compressed_bytes=self._source.bytes_read - start))
            start = self._source.bytes_read
            if not container.next_member(self._source):
                break
            self._open_member()
            if self.layout.npy_header:
                yield self.layout.npy_header
        self.stats = _sum_stats(self.members)

    def _member_blocks(self) -> Iterator[bytes]:
        header, model, layout, source = self.header, self.model, self.layout, self._source
        session = model.session()
        totals = container.StreamTotals.starting_with(layout.npy_header)
        while isinstance(record := container.read_block(source, header, layout.item_size), container.BlockRecord):
            at = totals.n_symbols
            # The encoder always takes the model's lane count; a forged one (say 1 lane for a
            # whole block) would only make decoding slow before the checksum can fail.
            expected_lanes = codec.choose_lanes(model, record.n_symbols)
            if record.lanes != expected_lanes:
                raise CorruptStreamError(f"block at symbol {at} declares {record.lanes} lanes, the model codes it in "
                                         f"{expected_lanes}")
            raw = self._stored_block(record, session, at) if record.stored else self._decode_block(record, session, at)
            totals.add_record(record)
            totals.add_data(raw)
            yield raw
        if not totals.matches(record):
            raise CorruptStreamError("stream length or checksum does not match its end record")
        self._member_stats = _stats(header.model, totals, 0)

    def _decode_block(self, record: container.BlockRecord, session: Session, at: int) -> bytes:
        try:
            symbols = codec.decode_block(self.model, session, record, self.header.coder)
        except InexactTableError:
            raise
        except ValueError as error:  # malformed side info or words
            raise CorruptStreamError(f"cannot decode block at symbol {at}: {error}") from None
        raw = self.layout.to_raw(symbols)
        if zlib.crc32(raw) != record.data_crc32:
            raise CorruptStreamError(f"checksum mismatch in the block at symbol {at} (wrong model or damaged data)")
        return raw

    def _stored_block(self, record: container.BlockRecord, session: Session, at: int) -> bytes:
        """A stored block's bytes; the session codes them (output unused) to advance as the encoder's did."""
        layout = self.layout
        symbols = layout.to_symbols(record.raw)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= layout.alphabet_size):
            raise CorruptStreamError(f"stored block at symbol {at} holds values outside the alphabet")
        try:
            codec.encode_block(self.model, session, symbols, self.header.coder)
        except InexactTableError:
            raise
        except ValueError as error:
            raise CorruptStreamError(f"cannot replay the stored block at symbol {at}: {error}") from None
        return record.raw


def _sum_stats(members: list[Stats]) -> Stats:
    """Totals over the members of a stream (the first member's model name)."""
    return Stats(members[0].model, sum(m.original_bytes for m in members), sum(m.compressed_bytes for m in members),
                 sum(m.n_symbols for m in members), sum(m.nll_bits for m in members),
                 sum(m.payload_bits for m in members))


def decompress_stream(source: BinaryIO, sink: BinaryIO | None, model: ModelSpec | None = None) -> Stats:
    """Decompress a stream of one or more members from `source` into `sink` (None: verify only).

    Every block is checked (its CRC before decoding, its data CRC after) before it is
    written; each member's end record is checked after its last block. Concatenated
    members decode to the concatenation of their inputs. Returns the totals.
    """
    reader = StreamReader(source, model)
    if sink is not None:
        sink.write(reader.prefix)
    for raw in reader.blocks():
        if sink is not None:
            sink.write(raw)
    return reader.stats


@dataclass(frozen=True)
class StreamInfo:
    """What a stream declares about itself, read without decoding (block and end CRCs checked).

    stats, n_blocks and lanes are totals over all members; header, layout and
    hyperparameters are the first member's; members: each member's Stats.
    """

    header: container.StreamHeader
    stats: Stats
    n_blocks: int
    lanes: tuple[int, ...]
    layout: Layout
    hyperparameters: dict[str, Any] | None  # every setting in force (None: the model needs a model file)
    members: tuple[Stats, ...] = ()


def read_info(source: BinaryIO) -> StreamInfo:
    """Header, sizes and stored NLL of a stream (every member), reading every record but decoding nothing."""
    source = container.MemberSource(source)
    first: tuple[container.StreamHeader, Layout, dict[str, Any] | None] | None = None
    lanes: list[int] = []
    members: list[Stats] = []
    while True:
        start = source.bytes_read
        header = read_member_header(source)
        layout = read_layout(header)
        if first is None:
            try:
                rebuilt = models.from_header(header.model, header.config) if header.version == 1 or not header.fingerprint else None
            except ValueError:
                rebuilt = None
            first = header, layout, rebuilt.hyperparameters() if rebuilt is not None else None
        totals = container.StreamTotals(original_bytes=len(layout.npy_header))
        while isinstance(record := container.read_block(source, header, layout.item_size), container.BlockRecord):
            lanes.append(record.lanes)
            totals.add_record(record)
            totals.original_bytes += record.n_symbols * layout.item_size
        if record.n_symbols is not None and (record.n_symbols, record.original_bytes) != (
                totals.n_symbols, totals.original_bytes):
            raise CorruptStreamError("stream length does not match its end record")
        members.append(Stats(header.model, totals.original_bytes, source.bytes_read - start, totals.n_symbols,
                             totals.nll_bits, totals.payload_bits))
        if not container.next_member(source):
            break
    header, layout, hyperparameters = first
    return StreamInfo(header, _sum_stats(members), len(lanes), tuple(lanes), layout, hyperparameters, tuple(members))


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
    data = decompress(blob, model)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise CorruptStreamError(f"not an array stream: {error}") from None


def nll_bits(data: bytes | np.ndarray, model: ModelSpec | None = None) -> float:
    """The model's exact code length of `data` in bits (side information excluded).

    data: bytes, or an integer array (coded per element, alphabet as `compress_array` infers it).
    """
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
    layout = layout or Layout()
    resolved = load_model(model or default_model(layout.alphabet_size), layout.alphabet_size)
    resolved, blocks = _sized_blocks(resolved, source, layout, block_size)
    session = resolved.session()
    n_symbols, bits = 0, 0.0
    for raw in blocks:
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
    if isinstance(data, np.ndarray):
        layout = _array_layout(data, model, None)
        symbols = layout.to_symbols(storage_order_bytes(data))
        resolved = load_model(model or default_model(layout.alphabet_size), layout.alphabet_size)
    else:
        symbols = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        resolved = load_model(model or DEFAULT_MODEL)
    if len(symbols) < block_size:  # as compress_stream sizes it
        resolved = resolved.sized_for(len(symbols))
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
    "StreamReader",
    "StreamWriter",
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
