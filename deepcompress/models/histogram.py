"""The histogram: p(x) = count(x) / n, fitted by counting (maximum likelihood), in three uses.

- *static*: counts of each block are stored with it (side information) and every symbol
  of the block is coded under them; costs n*H0 plus the stored table.
- *adaptive*: nothing stored; counts start empty and grow as symbols are coded:
  p(x) = (count(x) + 1/16) / (n + K/16), i.e. frequency 16*count + 1. (A prior weight of
  1/16 rather than Krichevsky-Trofimov's 1/2 wastes less on the many byte values a file
  never uses: -0.05% over the Canterbury corpus.)
- *trained*: counts fitted on training data and kept in a model file.

All probability computations are integer counts, so they are bit-exact everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from deepcompress.models.base import Chunk, DecodeSteps, Model, Session
from deepcompress.symbols import MAX_ALPHABET

# Adaptive counts are frozen for a chunk of symbols, so each chunk is one fast i.i.d. coder
# call. Chunks grow with the data seen (1/ADAPT_FRACTION of it) up to MAX_CHUNK: short
# enough that a byte value appearing in a burst (spreadsheets, bitmaps) is learned within
# a chunk (+0.1% over per-symbol updates on Canterbury), long enough for ~10 MB/s.
ADAPT_FRACTION = 1024
MIN_CHUNK = 16
MAX_CHUNK = 1024
PRIOR_SCALE = 16


def adaptive_chunks(n_symbols: int, already_seen: int = 0, alphabet_size: int = 256) -> list[tuple[int, int]]:
    """(start, stop) ranges over which adaptive counts stay frozen; they tile [0, n_symbols).

    already_seen: symbols counted before this block (earlier blocks of the stream).
    Chunks hold at least alphabet_size / 16 symbols, so building a table per chunk costs
    O(1) per symbol even for alphabets of millions.
    """
    smallest = max(MIN_CHUNK, alphabet_size // 16)
    largest = max(MAX_CHUNK, smallest)
    ranges = []
    start = 0
    while start < n_symbols:
        seen = already_seen + start
        size = min(max(smallest, seen // ADAPT_FRACTION), largest, n_symbols - start)
        ranges.append((start, start + size))
        start += size
    return ranges


def _write_varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint in histogram counts")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def pack_counts(counts: np.ndarray) -> bytes:
    """int64[K] counts -> sparse varint bytes: number of non-zero entries, then (gap, count) pairs."""
    nonzero = np.flatnonzero(counts)
    out = bytearray()
    _write_varint(len(nonzero), out)
    previous = -1
    for index in nonzero.tolist():
        _write_varint(index - previous - 1, out)
        _write_varint(int(counts[index]), out)
        previous = index
    return bytes(out)


def unpack_counts(data: bytes, alphabet_size: int) -> np.ndarray:
    """Inverse of `pack_counts`. Raises ValueError on malformed or out-of-range data."""
    n_nonzero, position = _read_varint(data, 0)
    if n_nonzero > alphabet_size:
        raise ValueError(f"histogram lists {n_nonzero} symbols for an alphabet of {alphabet_size}")
    counts = np.zeros(alphabet_size, dtype=np.int64)
    index = -1
    for _ in range(n_nonzero):
        gap, position = _read_varint(data, position)
        count, position = _read_varint(data, position)
        index += gap + 1
        if index >= alphabet_size or count == 0 or count >= 1 << 62:
            raise ValueError("histogram counts out of range")
        counts[index] = count
    if position != len(data):
        raise ValueError("trailing bytes after histogram counts")
    return counts


class HistogramModel(Model):
    """Order-0 model over symbols in [0, alphabet_size).

    counts: int64[K] trained counts (every symbol gets at least 1), or None to count the
    data being coded (static: per block, stored; adaptive: online, not stored).
    """

    name: ClassVar[str] = "histogram"

    def __init__(self, alphabet_size: int = 256, adaptive: bool = False, counts: np.ndarray | None = None):
        if not 1 <= alphabet_size <= MAX_ALPHABET:
            raise ValueError(f"alphabet_size must be in [1, {MAX_ALPHABET}] (the coder's precision), got {alphabet_size}")
        if counts is not None:
            counts = np.asarray(counts, dtype=np.int64)
            if counts.shape != (alphabet_size,) or counts.min() < 1:
                raise ValueError(f"trained counts must be int64[{alphabet_size}] with every entry >= 1")
            if int(counts.max()) * alphabet_size >= 1 << 53:  # the coder's bound for exact row sums
                raise ValueError(f"trained counts must stay below 2**53 / {alphabet_size}")
            if adaptive:
                raise ValueError("a trained histogram is not adaptive")
        self.alphabet_size = alphabet_size
        self.adaptive = adaptive
        self.counts = counts

    @classmethod
    def fit(cls, symbols: np.ndarray, alphabet_size: int = 256) -> HistogramModel:
        """Maximum-likelihood counts of `symbols` (int[n]), plus one per symbol so none is impossible."""
        counts = np.bincount(np.asarray(symbols, dtype=np.int64), minlength=alphabet_size) + 1
        return cls(alphabet_size, counts=counts[:alphabet_size])

    @property
    def mode(self) -> str:
        return "trained" if self.counts is not None else "adaptive" if self.adaptive else "static"

    def config(self) -> dict[str, Any]:
        return {"alphabet_size": self.alphabet_size, "mode": self.mode}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HistogramModel | None:
        """A static or adaptive histogram from a stream header; None for a trained one (model file)."""
        mode = config.get("mode")
        if mode == "trained":
            return None
        if mode not in ("static", "adaptive"):
            raise ValueError(f"unknown histogram mode {mode!r}")
        alphabet_size = config.get("alphabet_size")
        if type(alphabet_size) is not int or not 1 <= alphabet_size <= 1 << 24:  # not bool
            raise ValueError(f"histogram alphabet size {alphabet_size!r} out of range")
        return cls(alphabet_size, adaptive=mode == "adaptive")

    @classmethod
    def for_alphabet(cls, alphabet_size: int) -> HistogramModel:
        """`-m histogram`: counts of each block, stored with it."""
        return cls(alphabet_size)

    def parameter_bytes(self) -> bytes:
        return b"" if self.counts is None else self.counts.astype("<i8").tobytes()

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        """What a model file stores: the trained counts (only trained histograms have any)."""
        if self.counts is None:
            raise ValueError(f"a {self.mode} histogram has no parameters to save")
        return {"counts": self.counts}

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> HistogramModel:
        if config.get("mode") != "trained" or set(arrays) != {"counts"}:
            raise ValueError("a histogram model file holds the counts of a trained histogram")
        return cls(int(config["alphabet_size"]), counts=arrays["counts"])

    def probs(self) -> np.ndarray:
        """Trained distribution: float64[K] (for reports and sampling; coding uses counts)."""
        if self.counts is None:
            raise ValueError(f"a {self.mode} histogram has no fixed distribution")
        return self.counts / self.counts.sum()

    @property
    def sampleable(self) -> bool:
        """Only a trained histogram has a fixed distribution (the others count the data coded)."""
        return self.counts is not None

    def session(self) -> Session:
        if self.counts is not None:
            return _FixedSession(self.counts)
        if self.adaptive:
            return _AdaptiveSession(self.alphabet_size)
        return _StaticSession(self.alphabet_size)


class AdaptiveHistogramModel(HistogramModel):
    """`-m histogram-adaptive`: the adaptive histogram (name and streams those of `HistogramModel`)."""

    def __init__(self, alphabet_size: int = 256) -> None:
        super().__init__(alphabet_size, adaptive=True)

    @classmethod
    def for_alphabet(cls, alphabet_size: int) -> HistogramModel:
        return cls(alphabet_size)


class _FixedSession(Session):
    def __init__(self, freqs: np.ndarray):
        self.freqs = freqs

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        yield symbols, Chunk.shared(self.freqs, len(symbols))

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        symbols = yield Chunk.shared(self.freqs, n_symbols)
        return symbols


class _StaticSession(_FixedSession):
    def __init__(self, alphabet_size: int):
        super().__init__(np.ones(alphabet_size, dtype=np.int64))
        self.alphabet_size = alphabet_size

    def block_side_info(self, symbols: np.ndarray) -> bytes:
        counts = np.bincount(symbols, minlength=self.alphabet_size)
        self.freqs = counts
        return pack_counts(counts)

    def load_side_info(self, side_info: bytes) -> None:
        self.freqs = unpack_counts(side_info, self.alphabet_size)


class _AdaptiveSession(Session):
    def __init__(self, alphabet_size: int):
        self.counts = np.zeros(alphabet_size, dtype=np.int64)

    def _freqs(self) -> np.ndarray:
        return PRIOR_SCALE * self.counts + 1

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        for start, stop in adaptive_chunks(len(symbols), int(self.counts.sum()), len(self.counts)):
            chunk_symbols = symbols[start:stop]
            yield chunk_symbols, Chunk.shared(self._freqs(), stop - start)
            self.counts += np.bincount(chunk_symbols, minlength=len(self.counts))

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        pieces = []
        for start, stop in adaptive_chunks(n_symbols, int(self.counts.sum()), len(self.counts)):
            chunk_symbols = yield Chunk.shared(self._freqs(), stop - start)
            self.counts += np.bincount(chunk_symbols, minlength=len(self.counts))
            pieces.append(chunk_symbols)
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
