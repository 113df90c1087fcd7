"""The Python API, in the spirit of the gzip and lzma modules.

    >>> import deepcompress
    >>> blob = deepcompress.compress(b"abracadabra" * 100)
    >>> deepcompress.decompress(blob) == b"abracadabra" * 100
    True
"""

from __future__ import annotations

import collections
import dataclasses
import io
import itertools
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Union

import numpy as np

from deepcompress import codec, container, inputs, longrange, modelfile, models
from deepcompress import symbols as symbols_module
from deepcompress.arguments import check
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
)
from deepcompress.models.base import InexactTableError, Model, Session
from deepcompress.symbols import Layout, storage_order_bytes

if TYPE_CHECKING:
    from concurrent.futures import Future

ModelSpec = Union[str, "os.PathLike[str]", Model]
# progress(bytes read from the source, bytes written to the sink), both so far: called after each block.
Progress = Callable[[int, int], None]

DEFAULT_MODEL = "adaptive"
DEFAULT_CODER = "range"
DEFAULT_BLOCK_SIZE = 1 << 20
# A byte stream longer than SEGMENT_BYTES is written as members ("segments") of that many
# bytes each (whole blocks: at least one), every one coded from a fresh model: a rule of the
# writer (the format has none; members decode one after another), fixed so that the bytes
# never depend on the thread count, and what lets `threads` code and decode segments in
# parallel. 4 MiB: no corpus file is split, an 8 MB input is two segments.
SEGMENT_BYTES = 4 << 20
# A member's last block of at most this many bytes is stored without running the model: a
# coded record costs at least 11 bytes plus its payload (1 byte or more) and, alone in its
# member, ends it 4 bytes shorter; a stored one costs its bytes plus 6. So coding could save
# at most 3 bytes there, and no block follows whose coding needs the model's state after it.
# So a tiny input never builds a session (never loads numba); its record's NLL is its raw size.
STORED_TAIL_BYTES = 5


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
    fingerprint = None if by_config else container.recorded_fingerprint(model.fingerprint())
    return container.StreamHeader(model.name, config if by_config else {}, fingerprint, coder, block_size, layout.kind,
                                  layout.to_extra(), models.model_id(model.name))


class StreamWriter:
    """Writes one stream piece by piece: `push` blocks of raw bytes, then `finish` -> Stats.

    The header is written with the first block (or by `finish`), so that a model sized for
    its input (`Model.sized_for`) can be built once the input's length is known: when the
    caller passes `n_symbols`, or the first block is the last. A block that coding would
    not make smaller than storing it is stored raw.
    model: a resolved model; layout: what the data is (default: bytes). copies: the header
    extra of a member whose pushed bytes are the literals among copies (`container.copies_extra`).
    """

    def __init__(self, sink: BinaryIO, model: Model, coder: str = DEFAULT_CODER,
                 block_size: int = DEFAULT_BLOCK_SIZE, layout: Layout | None = None,
                 n_symbols: int | None = None, copies: dict[str, Any] | None = None) -> None:
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
        self._copies = copies
        self._session: Session | None = None
        self._header_written = False
        self._totals = container.StreamTotals.starting_with(self.layout.npy_header, block_size)
        self._written = 0

    @property
    def model(self) -> Model:
        """The model coding the stream (sized for the input once the header is written)."""
        return self._model

    @property
    def bytes_written(self) -> int:
        """Bytes written to the sink so far."""
        return self._written

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._written += len(data)

    def _write_header(self, n_symbols: int | None) -> None:
        self._model = self._model.sized_for(n_symbols)
        header = stream_header(self._model, self.coder, self.block_size, self.layout)
        if self._copies is not None:
            header = dataclasses.replace(header, kind=container.COPIES_KIND, extra=self._copies)
        self._write(container.encode_header(header))
        self._header_written = True

    def push(self, raw: bytes, last: bool = False) -> container.BlockRecord:
        """Code one block: raw holds 1..block_size whole elements. last: no block follows."""
        layout = self.layout
        if not 0 < len(raw) <= self.block_size * layout.item_size or len(raw) % layout.item_size:
            raise ValueError(f"a block holds 1 to {self.block_size} whole {layout.item_size}-byte elements, "
                             f"not {len(raw)} bytes")
        if not self._header_written:
            self._write_header(self._n_symbols if self._n_symbols is not None or not last
                               else len(raw) // layout.item_size)
        symbols = layout.to_symbols(raw)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= layout.alphabet_size):
            raise ValueError(f"data values lie outside the stream's alphabet of {layout.alphabet_size} values")
        raw = bytes(raw)
        if last and len(raw) <= STORED_TAIL_BYTES:
            record = container.BlockRecord(len(symbols), codec.choose_lanes(self._model, len(symbols)), b"",
                                           np.zeros(0, np.uint32), 8.0 * len(raw), zlib.crc32(raw), True, raw)
            coded = container.encode_block(record)
        else:
            if self._session is None:  # not before: a session may load kernels
                self._session = self._model.session()
            block = codec.encode_block(self._model, self._session, symbols, self.coder)
            record = dataclasses.replace(block, data_crc32=zlib.crc32(raw))
            coded = container.encode_block(record)
            # Stored when coding does not pay; the decoder still runs the model over the block
            # (before it decodes the next one) so that its state follows the encoder's.
            stored = dataclasses.replace(record, side_info=b"", words=np.zeros(0, np.uint32), stored=True, raw=raw)
            stored_bytes = container.encode_block(stored)
            # Coded, a member's only block makes its end record 4 bytes shorter (`encode_end`).
            coded_totals = dataclasses.replace(self._totals)
            coded_totals.add_record(record)
            shorter_end = 4 if last and coded_totals.is_one_coded_block else 0
            if len(stored_bytes) + shorter_end <= len(coded):
                record, coded = stored, stored_bytes
        self._write(coded)
        self._totals.add_record(record)
        self._totals.add_data(raw)
        return record

    def finish(self) -> Stats:
        """Write the end record; the stream's Stats."""
        if not self._header_written:
            self._write_header(0)
        totals = self._totals
        kind = container.COPIES_KIND if self._copies is not None else self.layout.kind
        self._write(container.encode_end(None if totals.is_one_coded_block else totals.data_crc32, kind))
        return _stats(self._model.name, self._totals, self._written)


def _stats(model_name: str, totals: container.StreamTotals, compressed_bytes: int) -> Stats:
    return Stats(model_name, totals.original_bytes, compressed_bytes, totals.n_symbols, totals.nll_bits,
                 totals.payload_bits)


class SegmentWriter:
    """Writes a stream as segments: `push` blocks of raw bytes, then `finish` -> Stats (totals).

    Bytes are written as members of SEGMENT_BYTES each (an array, whose end record must
    match its shape, as one member); a segment after the first is coded without what it
    repeats of the input before it (`longrange`: a member of kind "copies"). threads > 1: up
    to that many segments are coded at a time, each in a worker thread (the numba kernels
    release the GIL), and written once all before it are; the bytes are the same for every
    thread count. Memory: one block in the first segment with threads = 1, else a segment
    (threads + 1 with threads > 1) of input and its output, and up to MAX_COPY_DISTANCE of
    the input before it, plus a copy of that (and the finder's index, ~2 bytes an input byte)
    for each segment being coded.
    """

    def __init__(self, sink: BinaryIO, model: Model, coder: str = DEFAULT_CODER,
                 block_size: int = DEFAULT_BLOCK_SIZE, layout: Layout | None = None, threads: int = 1) -> None:
        check(threads=threads)
        self.layout = layout or Layout()
        self._args = (model, coder, block_size, self.layout)
        self._sink = sink
        block_bytes = block_size * self.layout.item_size
        self._per_member = max(1, SEGMENT_BYTES // block_bytes) if self.layout.kind == "bytes" else None
        self._threads = threads
        self._pool = None
        if threads > 1 and self._per_member:
            # Imported when used: ~8 ms of every process's start-up otherwise.
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(threads)
        self._writer: StreamWriter | None = None  # the first member, written block by block (no pool)
        self._segment: list[tuple[bytes, bool]] = []  # the segment being gathered (pool, or after the first)
        self._history = bytearray()  # the input before that segment: what it may copy
        self._after_first = False  # the first segment has ended
        self._in_segment = 0
        self._pending: collections.deque[Future] = collections.deque()
        self._members: list[Stats] = []
        self._written = 0

    @property
    def bytes_written(self) -> int:
        """Bytes written to the sink so far."""
        return self._written + (self._writer.bytes_written if self._writer is not None else 0)

    def push(self, raw: bytes, last: bool = False) -> None:
        """Code one block: raw holds 1..block_size whole elements. last: no block follows."""
        if self._in_segment == self._per_member:
            self._end_segment()
        self._in_segment += 1
        if self._pool is not None or self._after_first:
            self._segment.append((bytes(raw), last))
            return
        if self._per_member:
            self._history += raw
        if self._writer is None:
            self._writer = StreamWriter(self._sink, *self._args)
        self._writer.push(raw, last)

    def _end_segment(self) -> None:
        self._in_segment = 0
        if self._writer is not None:
            self._add(self._writer.finish())
            self._writer = None
            self._after_first = True
        if self._segment:
            if self._pool is None:  # coded before the history grows: no snapshot needed
                data, stats = _compress_segment(self._segment, self._history, *self._args)
                self._sink.write(data)
                self._add(stats)
            else:
                if len(self._pending) == self._threads:  # at most `threads` segments in flight
                    self._write_oldest()
                self._pending.append(self._pool.submit(_compress_segment, self._segment, bytes(self._history),
                                                       *self._args))
            for raw, _ in self._segment:
                self._history += raw
            del self._history[:-container.MAX_COPY_DISTANCE]
            self._after_first = True
            self._segment = []

    def _add(self, stats: Stats) -> None:
        self._members.append(stats)
        self._written += stats.compressed_bytes

    def _write_oldest(self) -> None:
        data, stats = self._pending.popleft().result()
        self._sink.write(data)
        self._add(stats)

    def finish(self) -> Stats:
        """Code what is left and write every segment; the totals over the members."""
        try:
            self._end_segment()
            while self._pending:
                self._write_oldest()
        finally:
            self.abort()
        if not self._members:  # an empty input is one member
            self._add(StreamWriter(self._sink, *self._args).finish())
        return _sum_stats(self._members)

    def abort(self) -> None:
        """Stop the workers (segments not yet started are dropped); nothing more is written."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _compress_segment(blocks: list[tuple[bytes, bool]], history: bytes | bytearray, model: Model, coder: str,
                      block_size: int, layout: Layout) -> tuple[bytes, Stats]:
    """One segment (its (raw, last) blocks) as a member, coded as a lone stream of it: (bytes, Stats).

    history: the input before it (bytes only). Where the segment repeats it (`longrange.find_copies`),
    the member is of kind "copies": its blocks hold the other bytes, re-cut into blocks of block_size.
    """
    sink = io.BytesIO()
    copies: container.CopyList = []
    if history:
        original = b"".join(raw for raw, _ in blocks)
        copies, literals = longrange.find_copies(history, original)
    if not copies:
        writer = StreamWriter(sink, model, coder, block_size, layout)
        for raw, last in blocks:
            writer.push(raw, last)
        stats = writer.finish()
        return sink.getvalue(), stats
    writer = StreamWriter(sink, model, coder, block_size, layout,
                          copies=container.copies_extra(copies, zlib.crc32(original)))
    step = block_size * layout.item_size
    for start in range(0, len(literals), step):
        writer.push(literals[start:start + step], last=blocks[-1][1] and start + step >= len(literals))
    stats = dataclasses.replace(writer.finish(), original_bytes=len(original))
    return sink.getvalue(), stats


def compress_stream(
    source: BinaryIO,
    sink: BinaryIO,
    model: ModelSpec | None = DEFAULT_MODEL,
    coder: str = DEFAULT_CODER,
    block_size: int = DEFAULT_BLOCK_SIZE,
    layout: Layout | None = None,
    *,
    level: int | None = None,
    progress: Progress | None = None,
    threads: int = 1,
) -> Stats:
    """Compress everything readable from `source` into `sink`, one block at a time.

    layout: what the data is (default: bytes); for arrays `source` starts at the first
    element byte (see `symbols.read_npy_layout`). Memory stays bounded by the block size
    (with threads, by the segments in flight), so inputs of any length (pipes too) work.
    level: 1..9, the adaptive model at that level (`compression_model`). progress: called
    after each block (an array's .npy header counts as read). threads: segments coded at a
    time (`SegmentWriter`); the output is the same for every thread count.
    """
    check(source=source, sink=sink, model=model, coder=coder, block_size=block_size, layout=layout, threads=threads)
    layout = layout or Layout()
    writer = SegmentWriter(sink, compression_model(model, level, layout.alphabet_size), coder, block_size, layout,
                           threads)
    read = len(layout.npy_header)
    try:
        for raw in _raw_blocks(source, layout, block_size):
            writer.push(raw, last=len(raw) < block_size * layout.item_size)
            if progress is not None:
                read += len(raw)
                progress(read, writer.bytes_written)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def level_spec(model: ModelSpec | None, level: int | None) -> ModelSpec | None:
    """`model`, or with a `level` (1..9) the built-in adaptive model at that level (`models.level_model`).

    ValueError for a level outside 1..9, or a level with a model other than adaptive.
    """
    if level is None:
        return model
    if model is not None and model != "adaptive" and not (isinstance(model, Model) and model.name == "adaptive"):
        name = model.name if isinstance(model, Model) else os.fspath(model)
        raise ValueError(f"a compression level selects the adaptive model; it cannot be used with model {name!r}")
    return models.level_model(level)


def compression_model(model: ModelSpec | None = None, level: int | None = None, alphabet_size: int = 256) -> Model:
    """The model to compress with: `model` (default `DEFAULT_MODEL`), or with a `level` the
    built-in adaptive model at that level (`level_spec`: ValueError for a level with another model)."""
    spec = level_spec(model, level)
    return load_model(DEFAULT_MODEL if spec is None else spec, alphabet_size)


def _model_for(header: container.StreamHeader, model: ModelSpec | None, alphabet_size: int = 256) -> Model:
    """The model a member needs: the given one if its fingerprint matches (in one of its
    input-sized variants), else a built-in rebuilt from the header's config (a v2/v3 header
    of a built-in records no fingerprint: its config is the whole model)."""
    expected, rebuilt = header.fingerprint, None
    if expected is None:
        rebuilt = _rebuild(header)
        expected = rebuilt.fingerprint()
    if model is not None:
        alphabet_size = header.config.get("alphabet_size", alphabet_size)
        if type(alphabet_size) is not int or alphabet_size < 1:  # not bool: a forged header
            raise CorruptStreamError(f"malformed header: alphabet size {str(alphabet_size)[:40]!r}")
        resolved = load_model(model, alphabet_size)
        for sized in _sized_variants(resolved):
            if container.fingerprint_matches(expected, sized.fingerprint()):
                return sized
        raise ModelMismatchError(
            f"stream needs model {header.model!r} with fingerprint {expected[:16]}, "
            f"got {resolved.name!r} with fingerprint {resolved.fingerprint()[:16]}"
        )
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
    a v2/v3 header holding a config always rebuilds)."""
    try:
        rebuilt = models.from_header(header.model, header.config)
    except ValueError as error:
        raise CorruptStreamError(f"cannot rebuild the stream's model: {error}") from None
    if rebuilt is None and header.version >= 2:
        raise CorruptStreamError(f"cannot rebuild the stream's model {header.model!r} from its config")
    return rebuilt


def _named(header: container.StreamHeader) -> container.StreamHeader:
    """The header with its model's name filled in from the registry id a v2/v3 header records."""
    if not header.model_id:
        return header
    try:
        return dataclasses.replace(header, model=models.name_for_id(header.model_id))
    except ValueError as error:
        raise CorruptStreamError(f"cannot rebuild the stream's model: {error}") from None


def read_member_header(source: BinaryIO) -> container.StreamHeader:
    """The next member's header, its model named."""
    return _named(container.read_header(source))


def _sized_variants(model: Model) -> Iterator[Model]:
    """`model`, then what `Model.sized_for` may have made of it (`Model.sized_variants`).

    The encoder may have sized the model for its input before writing the header, so the
    model a caller names matches the stream in one of these.
    """
    yield model
    yield from model.sized_variants()


def read_layout(header: container.StreamHeader) -> Layout:
    """The data layout a stream declares; CorruptStreamError if malformed. A member of kind
    "copies" holds bytes (its copies are `StreamReader.copies`)."""
    if header.kind == container.COPIES_KIND:
        return Layout()
    try:
        return Layout.from_header(header.kind, header.extra)
    except ValueError as error:
        raise CorruptStreamError(str(error)) from None


class StreamReader:
    """Reads a stream of one or more members: the first header on construction, then
    `blocks()` yields verified raw bytes of every member in turn (the concatenation of their
    inputs); `read_block` reads the current member only.

    `prefix` holds the bytes that precede the first block's data (an array's .npy header; a
    later member's prefix is yielded by `blocks()` in its place); `header`, `layout` and
    `model` are those of the member being read; `stats` (totals over the members read) and
    `members` (one Stats each) grow as each end record is checked. Every block is checked
    (its CRC before decoding, its data CRC after) before it is returned. `copies`: the
    member's copies and output CRC-32 (`container.decode_copies`; None for most members):
    `read_block` returns its literals, `blocks()` the output with the copies put back.
    """

    def __init__(self, source: BinaryIO, model: ModelSpec | None = None) -> None:
        self._source = source if isinstance(source, _PushedBytes) else container.MemberSource(source)
        self._model_spec = model
        self.stats: Stats | None = None
        self.members: list[Stats] = []
        self._open_member()
        self.prefix = self.layout.npy_header

    def _open_member(self) -> None:
        self._start = self._source.bytes_read
        self.header = read_member_header(self._source)
        self.layout = read_layout(self.header)
        self.copies = container.decode_copies(self.header)
        self.model = _model_for(self.header, self._model_spec, self.layout.alphabet_size)
        try:
            codec.check_coder(self.model, self.header.coder)
        except ValueError as error:
            raise CorruptStreamError(str(error)) from None
        if not _fits(self.model.alphabet_size, self.layout.alphabet_size):
            raise CorruptStreamError(
                f"a model over {self.model.alphabet_size} symbols cannot code data over {self.layout.alphabet_size}")
        self._session: Session | None = None
        self._unreplayed: np.ndarray | None = None  # a stored block's symbols the model has not seen yet
        self._totals = container.StreamTotals.starting_with(self.layout.npy_header, self.header.block_size)

    def read_block(self) -> bytes | None:
        """The current member's next block's original bytes, verified; None once its end
        record is read (its totals checked, `members` and `stats` extended). Reads exactly
        one record from the source."""
        header, model, totals = self.header, self.model, self._totals
        record = container.read_block(self._source, header, self.layout.item_size)
        if not isinstance(record, container.BlockRecord):
            _check_totals(record, totals, self.layout)
            if not totals.matches(record):
                raise CorruptStreamError("stream length or checksum does not match its end record")
            stats = _stats(header.model, totals, self._source.bytes_read - self._start)
            self.members.append(dataclasses.replace(stats, original_bytes=stats.original_bytes + _copied_bytes(self.copies)))
            self.stats = _sum_stats(self.members)
            return None
        at = totals.n_symbols
        # The encoder always takes the model's lane count; a forged one (say 1 lane for a
        # whole block) would only make decoding slow before the checksum can fail.
        expected_lanes = codec.choose_lanes(model, record.n_symbols)
        if record.lanes != expected_lanes:
            raise CorruptStreamError(f"block at symbol {at} declares {record.lanes} lanes, the model codes it in "
                                     f"{expected_lanes}")
        raw = self._stored_block(record, at) if record.stored else self._decode_block(record, at)
        totals.add_record(record)
        totals.add_data(raw)
        return raw

    def _model_state(self, at: int) -> Session:
        """The session, having seen every block before `at` (a stored block is replayed only
        now, once another block follows it: after the last one nothing needs the state)."""
        if self._session is None:  # at the first block that needs it: a session may load kernels
            self._session = self.model.session()
        if self._unreplayed is not None:
            symbols, self._unreplayed = self._unreplayed, None
            try:
                codec.encode_block(self.model, self._session, symbols, self.header.coder)
            except InexactTableError:
                raise
            except ValueError as error:
                raise CorruptStreamError(f"cannot replay the stored block before symbol {at}: {error}") from None
        return self._session

    def _decode_block(self, record: container.BlockRecord, at: int) -> bytes:
        session = self._model_state(at)
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

    def _stored_block(self, record: container.BlockRecord, at: int) -> bytes:
        """A stored block's bytes; the model codes them (output unused) before the next block,
        to advance as the encoder's did (`_model_state`)."""
        layout = self.layout
        symbols = layout.to_symbols(record.raw)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= layout.alphabet_size):
            raise CorruptStreamError(f"stored block at symbol {at} holds values outside the alphabet")
        if self._unreplayed is not None:
            self._model_state(at)
        self._unreplayed = symbols
        return record.raw

    def blocks(self) -> Iterator[bytes]:
        """The original bytes of each block in order (with the copies among them), member after
        member (a later member's .npy header in its place); after the last end record only
        another member may follow."""
        resolver = longrange.CopyResolver()
        while True:
            resolver.begin(self.copies)
            while (raw := self.read_block()) is not None:
                yield resolver.feed(raw)
            if rest := resolver.end():
                yield rest
            if not container.next_member(self._source):
                return
            self._open_member()
            if self.layout.npy_header:
                yield self.layout.npy_header


def _copied_bytes(copies: tuple[container.CopyList, int] | None) -> int:
    """The bytes a member's copies add to its literals."""
    return sum(length for _, _, length in copies[0]) if copies else 0


def _sum_stats(members: list[Stats]) -> Stats:
    """Totals over the members of a stream (the first member's model name)."""
    return Stats(members[0].model, sum(m.original_bytes for m in members), sum(m.compressed_bytes for m in members),
                 sum(m.n_symbols for m in members), sum(m.nll_bits for m in members),
                 sum(m.payload_bits for m in members))


class _NeedInput(Exception):
    """The pushed input ends inside the record being parsed."""


class _PushedBytes:
    """A source for the container parser over bytes pushed piece by piece (`feed`).

    A read reaching past what has arrived raises _NeedInput, consuming nothing, so the
    caller can `rewind` to the last `mark` (the start of the record) and parse it again
    once more input arrives. At the end of input (`ended`) reads come up short like a
    file's, so a cut stream gets the container's own error. Marking drops the parsed bytes:
    at most one record plus the unparsed input is held.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0
        self._dropped = 0
        self.needed = 0  # bytes after the mark the last parse wanted: none sooner can succeed
        self.ended = False
        # what parses of the header so far decoded of its lists, by header offset (`container._decode_list`)
        self.header_lists: dict[int, tuple[list, int]] = {}

    @property
    def available(self) -> int:
        """Bytes after the last mark."""
        return len(self._buffer)

    @property
    def bytes_read(self) -> int:
        return self._dropped + self._position

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def read(self, size: int = -1) -> bytes:
        available = len(self._buffer) - self._position
        if size < 0 or size > available:
            if not self.ended:
                self.needed = len(self._buffer) + 1 if size < 0 else self._position + size
                raise _NeedInput
            size = available
        with memoryview(self._buffer) as view:
            piece = bytes(view[self._position : self._position + size])
        self._position += size
        return piece

    def expect_header_bytes(self, size: int) -> None:
        """The parse will read `size` more bytes at least (`container._expect`): until they have
        arrived it cannot succeed, so it stops now, as a read past the input would, rather than
        at each piece until then (a header is parsed from its start at each try)."""
        if not self.ended and self._position + size > len(self._buffer):
            self.needed = self._position + size
            raise _NeedInput

    def mark(self) -> None:
        del self._buffer[: self._position]
        self._dropped += self._position
        self._position = self.needed = 0
        self.header_lists.clear()

    def rewind(self) -> None:
        self._position = 0

    def unread(self) -> bytes:
        """The input after the last mark."""
        return bytes(self._buffer[self._position :])


class PushStreamReader:
    """The incremental twin of StreamReader: input is pushed (`feed`), blocks are pulled.

    `read_block` returns the next verified block once its whole record has arrived, None
    while more input is needed or after the end record (`eof`). One member only: the bytes
    after its end record are `unused_data` (the next member of a concatenation, or junk).
    After `end_input` (no more input comes) the rest is parsed as a file's end, so a cut
    stream raises the container's error (`TruncatedStreamError`, ...) instead of waiting.
    """

    def __init__(self, model: ModelSpec | None = None) -> None:
        self._model = model
        self._input = _PushedBytes()
        self._reader: StreamReader | None = None
        self.eof = False

    @property
    def reader(self) -> StreamReader | None:
        """The underlying StreamReader (header, layout, model, stats) once the header has arrived."""
        return self._reader

    @property
    def unused_data(self) -> bytes:
        """Input after the end record (empty before `eof`)."""
        return self._input.unread() if self.eof else b""

    def feed(self, data: bytes) -> None:
        if data and self._input.ended:
            raise ValueError("input has already ended")
        self._input.feed(data)

    def read_block(self) -> bytes | None:
        if self.eof or (self._input.available < self._input.needed and not self._input.ended):
            return None  # the parse would stop where it stopped before
        try:
            if self._reader is None:
                self._reader = StreamReader(self._input, self._model)
                self._input.mark()
            raw = self._reader.read_block()
        except _NeedInput:
            self._input.rewind()
            return None
        self._input.mark()
        self.eof = raw is None
        return raw

    def end_input(self) -> None:
        """No more input comes: from now on `read_block` raises where the stream is cut."""
        self._input.ended = True


def decompress_stream(source: BinaryIO, sink: BinaryIO | None, model: ModelSpec | None = None,
                      progress: Progress | None = None, threads: int = 1) -> Stats:
    """Decompress a stream of one or more members from `source` into `sink` (None: verify only).

    Every block is checked (its CRC before decoding, its data CRC after) before it is
    written; each member's end record is checked after its last block. Concatenated
    members decode to the concatenation of their inputs; returns the totals.
    progress: called after each block (bytes decoded count as written, even with no sink).
    threads: members (segments) decoded at a time (`_decompress_parallel`); the output is the same.
    """
    check(source=source, sink=sink, model=model, threads=threads)
    if threads > 1:
        return _decompress_parallel(source, sink, resolve_model(model), progress, threads)
    reader = StreamReader(source, model)
    written = len(reader.prefix)
    if sink is not None:
        sink.write(reader.prefix)
    for raw in reader.blocks():
        if sink is not None:
            sink.write(raw)
        if progress is not None:
            written += len(raw)
            progress(reader._source.bytes_read, written)
    return reader.stats


class _Recording:
    """Reads through `source`, keeping what was read."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.data = bytearray()

    def read(self, size: int) -> bytes:
        piece = self._source.read(size)
        self.data += piece
        return piece


def _read_member(source: BinaryIO) -> tuple[bytes, bool]:
    """The next member's bytes read without decoding (header and block CRCs checked), and
    whether that is all of it: a member is cut after the record that takes it past
    SEGMENT_BYTES (the rest is still in `source`), so what is held stays bounded."""
    recording = _Recording(source)
    header = read_member_header(recording)
    item_size = read_layout(header).item_size
    while len(recording.data) <= SEGMENT_BYTES:
        if not isinstance(container.read_block(recording, header, item_size), container.BlockRecord):
            return bytes(recording.data), True
    return bytes(recording.data), False


class _Chained:
    """`head`'s bytes, then `source`'s."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        self._head = io.BytesIO(head)
        self._source = source

    def read(self, size: int) -> bytes:
        data = self._head.read(size)
        return data + self._source.read(size - len(data)) if len(data) < size else data


def _decode_member(source: BinaryIO, model: ModelSpec | None
                   ) -> tuple[bytes, list[bytes], Stats, tuple[container.CopyList, int] | None]:
    """One member's .npy header, decoded blocks (its literals, where it has copies), Stats and
    copies (`StreamReader.copies`); reads nothing past it."""
    reader = StreamReader(source, model)
    pieces: list[bytes] = []
    while (raw := reader.read_block()) is not None:
        pieces.append(raw)
    return reader.prefix, pieces, reader.stats, reader.copies


def _decompress_parallel(source: BinaryIO, sink: BinaryIO | None, model: ModelSpec | None, progress: Progress | None,
                         threads: int) -> Stats:
    """`decompress_stream` with up to `threads` members decoded at a time, each in a worker.

    The main thread reads each member's records (no decoding) and hands them to a worker;
    results are written in order, their copies put back (`longrange.CopyResolver`). A member
    too long to hold (`_read_member`) is decoded in order by the main thread, block by
    block, once the members before it are written.
    """
    source = container.MemberSource(source)
    members: list[Stats] = []
    pending: collections.deque[Future] = collections.deque()
    resolver = longrange.CopyResolver()
    written = 0

    def write(prefix: bytes, pieces: Iterable[bytes], copies: tuple[container.CopyList, int] | None,
              stats: Callable[[], Stats]) -> None:
        """A member's output; stats: its Stats, once its pieces are consumed."""
        nonlocal written
        out = sink.write if sink is not None else lambda piece: None
        resolver.begin(copies)
        out(prefix)
        for piece in pieces:
            out(resolver.feed(piece))
        out(resolver.end())
        members.append(stats())
        written += members[-1].original_bytes
        if progress is not None:
            progress(source.bytes_read, written)

    def write_result(prefix: bytes, pieces: list[bytes], stats: Stats,
                     copies: tuple[container.CopyList, int] | None) -> None:
        write(prefix, pieces, copies, lambda: stats)

    def decode_in_order(member: BinaryIO) -> None:
        """A member decoded here, each block written as it is decoded."""
        reader = StreamReader(member, model)
        write(reader.prefix, iter(reader.read_block, None), reader.copies, lambda: reader.stats)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        try:
            more = True
            while more or pending:
                while more and len(pending) < threads:
                    blob, whole = _read_member(source)
                    if whole:
                        pending.append(pool.submit(_decode_member, io.BytesIO(blob), model))
                    else:
                        while pending:
                            write_result(*pending.popleft().result())
                        decode_in_order(_Chained(blob, source))
                    more = container.next_member(source)
                if pending:
                    write_result(*pending.popleft().result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return _sum_stats(members)


@dataclass(frozen=True)
class StreamInfo:
    """What a stream declares about itself, read without decoding (block and end CRCs checked).

    stats, n_blocks and lanes are totals over all members; header, layout and
    hyperparameters are the first member's; members: each member's Stats; copied_bytes: the
    bytes of the output that members of kind "copies" copy rather than code (`longrange`).
    """

    header: container.StreamHeader
    stats: Stats
    n_blocks: int
    lanes: tuple[int, ...]
    layout: Layout
    hyperparameters: dict[str, Any] | None  # every setting in force (None: the model needs a model file)
    members: tuple[Stats, ...] = ()
    copied_bytes: int = 0


def read_info(source: BinaryIO) -> StreamInfo:
    """Header, sizes and stored NLL of a stream (every member), reading every record but decoding nothing."""
    check(source=source)
    source = container.MemberSource(source)
    first: tuple[container.StreamHeader, Layout, dict[str, Any] | None] | None = None
    lanes: list[int] = []
    members: list[Stats] = []
    copied_bytes = 0
    while True:
        start = source.bytes_read
        header = read_member_header(source)
        layout = read_layout(header)
        if first is None:
            try:
                rebuilt = models.from_header(header.model, header.config) if header.fingerprint is None or \
                    header.version == 1 else None
            except ValueError:
                rebuilt = None
            first = header, layout, rebuilt.hyperparameters() if rebuilt is not None else None
        totals = container.StreamTotals.starting_with(layout.npy_header, header.block_size)
        while isinstance(record := container.read_block(source, header, layout.item_size), container.BlockRecord):
            lanes.append(record.lanes)
            totals.add_record(record)
        _check_totals(record, totals, layout)
        copied = _copied_bytes(container.decode_copies(header))
        copied_bytes += copied
        members.append(Stats(header.model, len(layout.npy_header) + totals.n_symbols * layout.item_size + copied,
                             source.bytes_read - start, totals.n_symbols, totals.nll_bits, totals.payload_bits))
        if not container.next_member(source):
            break
    header, layout, hyperparameters = first
    return StreamInfo(header, _sum_stats(members), len(lanes), tuple(lanes), layout, hyperparameters, tuple(members),
                      copied_bytes)


def _check_totals(trailer: container.Trailer, totals: container.StreamTotals, layout: Layout) -> None:
    """CorruptStreamError unless the end record's totals (a v1 record's; v2/v3 records none)
    and form (a v3 short end: after one coded block only) agree with the block records read.

    The end record's totals are claims: each symbol is one element of `layout.item_size`
    bytes after the verbatim .npy header, so the original size follows from the symbol
    count; an array's shape fixes the count.
    """
    if trailer.of_one_block and not totals.is_one_coded_block:
        raise CorruptStreamError(f"a short end record after {totals.blocks} blocks ({totals.stored_blocks} stored, "
                                 f"{totals.n_symbols} symbols{', an array header' if totals.prefix_bytes else ''}): "
                                 "only a member of one coded block shorter than the block size has one")
    n_symbols = totals.n_symbols
    original_bytes = len(layout.npy_header) + n_symbols * layout.item_size
    if trailer.n_symbols is not None and (trailer.n_symbols, trailer.original_bytes) != (n_symbols, original_bytes):
        raise CorruptStreamError(
            f"end record claims {trailer.n_symbols} symbols in {trailer.original_bytes} bytes, "
            f"the blocks hold {n_symbols} symbols in {original_bytes} bytes"
        )
    if layout.kind == "npy" and n_symbols != symbols_module.element_count(layout.shape, layout.item_size):
        raise CorruptStreamError(f"the blocks hold {n_symbols} elements, the array's shape {layout.shape} declares otherwise")


def compress(data: bytes, model: ModelSpec | None = DEFAULT_MODEL, coder: str = DEFAULT_CODER, *,
             level: int | None = None, threads: int = 1) -> bytes:
    """Compress bytes into a self-checking .dcz stream. level: 1..9 (see `compression_model`);
    threads: segments coded at a time (`compress_stream`; the bytes do not depend on it)."""
    check(data=data, model=model, coder=coder, threads=threads)
    if isinstance(data, np.ndarray):
        raise TypeError("compress codes bytes; use compress_array for arrays")
    sink = io.BytesIO()
    compress_stream(io.BytesIO(data), sink, model, coder, level=level, threads=threads)
    return sink.getvalue()


def decompress(blob: bytes, model: ModelSpec | None = None, *, threads: int = 1) -> bytes:
    """Decompress a .dcz stream. `model` is needed only for streams made with a model file;
    threads: members decoded at a time.

    Raises a `DeepCompressError` subclass for damaged, truncated or mismatched data.
    """
    check(blob=blob, model=model, threads=threads)
    sink = io.BytesIO()
    decompress_stream(io.BytesIO(blob), sink, model, threads=threads)
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
    check(data=data, model=model, block_size=block_size)
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


# --- what the command-line tool runs, as library code (the CLI only parses, prints and exits) ---

CODERS: tuple[str, ...] = tuple(codec.coding.CODERS)
INPUT_KINDS: tuple[str, ...] = inputs.KINDS


def builtin_model_names() -> tuple[str, ...]:
    """The models that need no model file: what `-m NAME` accepts besides a model file's path."""
    return tuple(models.BUILTIN_MODELS)


def resolve_model(spec: ModelSpec | None) -> ModelSpec | None:
    """A model spec ready for many inputs: built-in names stay names (each input builds the
    model for its own alphabet), a model file is loaded once. None stays None (the default)."""
    if spec is None or (isinstance(spec, str) and spec in models.BUILTIN_MODELS):
        return spec
    return load_model(spec)


def open_input(source: BinaryIO, kind: str = "auto", model: ModelSpec | None = None) -> inputs.Input:
    """What `source` holds, detected as every command detects it (`inputs.detect`).

    With a loaded model (a model file) an array is coded over the model's alphabet 0..K-1.
    """
    return inputs.detect(source, kind, model.alphabet_size if isinstance(model, Model) else None)


def load_input(source: BinaryIO, kind: str = "auto") -> tuple[bytes, np.ndarray | None]:
    """All of `source`: (its bytes, its integer array when it is one), detected as `open_input` does."""
    return inputs.load(source, kind)


def compress_input(
    source: BinaryIO, sink: BinaryIO, model: ModelSpec | None = None, coder: str = DEFAULT_CODER, kind: str = "auto",
    level: int | None = None, progress: Progress | None = None, threads: int = 1,
) -> Stats:
    """`compress_stream` of whatever `source` holds: bytes, or an integer .npy array coded per element.

    model None: `default_model` of the input's alphabet (with a level: the adaptive model at that level).
    """
    model = resolve_model(level_spec(model, level))
    found = open_input(source, kind, model)
    return compress_stream(found.source, sink, model or default_model(found.layout.alphabet_size), coder,
                           layout=found.layout, progress=progress, threads=threads)


def nll_record(source: BinaryIO, model: ModelSpec | None = None, kind: str = "auto") -> dict[str, int | float]:
    """The model's code length of everything in `source`, block by block (bounded memory).

    Keys: n_symbols, nll_bits, bits_per_symbol; for arrays also bits_per_dimension (the same
    number), n_records (shape[0]; 1 for 0-d) and bits_per_record.
    """
    model = resolve_model(model)
    found = open_input(source, kind, model)
    n_symbols, bits = nll_stream(found.source, model, layout=found.layout)
    record: dict[str, int | float] = {"n_symbols": n_symbols, "nll_bits": bits,
                                      "bits_per_symbol": bits / n_symbols if n_symbols else 0.0}
    if found.is_array:
        n_records = found.layout.shape[0] if found.layout.shape else 1
        record |= {"bits_per_dimension": record["bits_per_symbol"], "n_records": n_records,
                   "bits_per_record": bits / n_records if n_records else 0.0}
    return record


def info_record(info: StreamInfo) -> dict:
    """A stream's `read_info` as one flat JSON-serialisable record (header, sizes, layout)."""
    stats, header = info.stats, info.header
    record = {
        "format_version": header.version,
        "members": len(info.members),  # sizes below are totals over members; header fields the first's
        "model": header.model, "config": header.config, "fingerprint": header.fingerprint, "coder": header.coder,
        "kind": header.kind, "original_bytes": stats.original_bytes, "compressed_bytes": stats.compressed_bytes,
        "n_symbols": stats.n_symbols, "n_blocks": info.n_blocks, "block_size": header.block_size,
        "lanes": list(info.lanes), "payload_bits": stats.payload_bits, "nll_bits": stats.nll_bits,
        "header_bytes": stats.header_bytes, "bits_per_byte": stats.bits_per_byte, "copied_bytes": info.copied_bytes,
    }
    if info.hyperparameters is not None:
        record["hyperparameters"] = info.hyperparameters
    if info.layout.kind == "npy":
        layout = info.layout
        record |= {"dtype": layout.dtype, "shape": list(layout.shape), "fortran_order": layout.fortran_order,
                   "offset": layout.offset, "alphabet_size": layout.alphabet_size}
    return record


def model_file_bytes(model: Model, metadata: dict | None = None) -> bytes:
    """`model` as a .dcm model file (what `load_model` reads back), with JSON-serialisable `metadata`."""
    return modelfile.model_to_bytes(model, metadata)


def sample_data(model: ModelSpec, n_symbols: int, seed: int = 0) -> bytes:
    """`n_symbols` drawn from `model` as a file: bytes for a byte model, an (N, d) .npy array of
    N records for a record model. ValueError for models that cannot be sampled to a file."""
    resolved = load_model(model)
    drawn = np.asarray(resolved.sample(n_symbols, seed))  # ValueError if it has no fixed distribution
    if resolved.record_size is not None:
        buffer = io.BytesIO()
        np.save(buffer, drawn.astype(np.min_scalar_type(resolved.alphabet_size - 1)))
        return buffer.getvalue()
    if resolved.alphabet_size > 256:
        raise ValueError("only byte and record models can be sampled to a file")
    return drawn.astype(np.uint8).tobytes()


__all__ = [
    "DEFAULT_MODEL",
    "DeepCompressError",
    "PushStreamReader",
    "SegmentWriter",
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
    "resolve_model",
    "symbol_bits",
]
