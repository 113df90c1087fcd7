"""Entropy coding of integer symbols under integer frequency tables.

The only module that touches `constriction` (pinned: its 24-bit quantisation defines our
bitstream). Everything else hands it symbols and tables; it validates them, because
constriction silently corrupts the stream on some bad inputs (Fortran-ordered or negative
tables), and it computes the exact code length the coder will spend.

Tables. A table row holds the relative frequencies of the K symbols: non-negative
integers (exact) or finite floats, shape (K,) for i.i.d. symbols or (n, K) for one row
per symbol. Rows are handed to constriction as float64 and quantised by its
`perfect=False` rule, which `coder_frequencies` reproduces exactly; every symbol keeps at
least 2**-24 probability, so every symbol stays encodable. K == 1 needs no bits at all.

Coders: "range" (a queue: first in, first out; default, streams forward) and "ans" (a
stack; this module buffers the chunks and encodes them last-first, so callers use both the
same way).

Example:
    >>> freqs = np.array([[1, 3], [2, 2], [9, 1]])
    >>> words = encode(np.array([1, 0, 0]), freqs)
    >>> decode(words, freqs).tolist()
    [1, 0, 0]
"""

from __future__ import annotations

import constriction
import numpy as np

__all__ = [
    "CODERS",
    "PRECISION",
    "Decoder",
    "Encoder",
    "bytes_to_words",
    "coder_frequencies",
    "decode",
    "encode",
    "nll_bits",
    "symbol_bits",
    "words_to_bytes",
]

PRECISION = 24
CODERS = ("range", "ans")
_MAX_ROW_SUM = 2.0**53  # integer rows stay exact in float64 below this
_MIN_ROW_SUM = 2.0**-990  # below ~2**-999 the quantisation scale 2**24 / sum overflows float64
_FAMILY = constriction.stream.model.Categorical(perfect=False)


def _check_coder(coder: str) -> None:
    if coder not in CODERS:
        raise ValueError(f"unknown coder {coder!r}; choose one of {', '.join(CODERS)}")


def _as_table(freqs: np.ndarray, coder_checks_zero_rows: bool = False) -> np.ndarray:
    """Validate a (K,) or (n, K) table and return it as C-ordered float64.

    coder_checks_zero_rows: the table goes straight to constriction, which itself rejects
    all-zero rows, so integer tables need only a range check (the decoder's hot path).
    """
    freqs = np.asarray(freqs)
    if freqs.ndim not in (1, 2):
        raise ValueError(f"frequency table must be 1-D (K,) or 2-D (n, K), got shape {freqs.shape}")
    if freqs.dtype.kind not in "iuf":
        raise ValueError(f"frequency table must be integer or float, got dtype {freqs.dtype}")
    if freqs.shape[-1] < 1:
        raise ValueError("frequency table needs at least one symbol (K >= 1)")
    table = np.ascontiguousarray(freqs, dtype=np.float64)
    if table.size == 0:
        return table
    if coder_checks_zero_rows and freqs.dtype.kind in "iu":
        if freqs.min() < 0:
            raise ValueError("frequency table contains negative entries")
        if freqs.max() >= _MAX_ROW_SUM / freqs.shape[-1]:
            raise ValueError(f"every table row must sum to less than 2**53, got entries up to {freqs.max()}")
        return table
    if freqs.dtype.kind == "f" and not np.isfinite(table).all():
        raise ValueError("frequency table contains NaN or infinity")
    if table.min() < 0:
        raise ValueError("frequency table contains negative entries")
    row_sums = table.sum(axis=-1)
    if row_sums.min() < _MIN_ROW_SUM or row_sums.max() >= _MAX_ROW_SUM:
        raise ValueError(
            f"every table row must sum to a value in [2**-990, 2**53), got [{row_sums.min()}, {row_sums.max()}]"
        )
    return table


def _as_symbols(symbols: np.ndarray, alphabet_size: int) -> np.ndarray:
    """Validate 1-D integer symbols in [0, alphabet_size) and return them as int32."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {symbols.shape}")
    if symbols.dtype.kind not in "iu":
        raise ValueError(f"symbols must be integers, got dtype {symbols.dtype}")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet_size):
        raise ValueError(f"symbols must lie in [0, {alphabet_size}), got [{symbols.min()}, {symbols.max()}]")
    return symbols.astype(np.int32)


def _check_rows(table: np.ndarray, count: int) -> None:
    if table.ndim == 2 and len(table) != count:
        raise ValueError(f"got {len(table)} table rows for {count} symbols")


def coder_frequencies(freqs: np.ndarray) -> np.ndarray:
    """The 24-bit frequencies the coder really uses for each table row.

    Reproduces constriction 0.5.0's `perfect=False` quantisation exactly: with
    C_i = sum_{j<i} f_j (sequential float64 sums) and scale = (2**24 - K) / C_K, the left
    cumulative of symbol i is floor(C_i * scale) + i, and the last symbol ends at 2**24.

    freqs: (K,) or (n, K) table. Returns int64 of the same shape; rows sum to 2**24, entries >= 1.
    """
    return _quantise(_as_table(freqs))


def _quantise(table: np.ndarray) -> np.ndarray:
    """`coder_frequencies` of an already validated float64 table."""
    alphabet_size = table.shape[-1]
    if alphabet_size == 1:
        return np.full(table.shape, 1 << PRECISION, dtype=np.int64)
    cumulative = np.cumsum(table, axis=-1)  # sequential, as in constriction
    scale = float((1 << PRECISION) - alphabet_size) / cumulative[..., -1:]
    # boundaries[..., i] = left cumulative of symbol i (floor; products are >= 0), then 2**24
    boundaries = np.empty(table.shape[:-1] + (alphabet_size + 1,), dtype=np.int64)
    boundaries[..., 0] = 0
    boundaries[..., 1:-1] = (cumulative[..., :-1] * scale).astype(np.int64) + np.arange(1, alphabet_size)
    boundaries[..., -1] = 1 << PRECISION
    return np.diff(boundaries, axis=-1)


def symbol_bits(symbols: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Exact code length of each symbol under the coder's quantised tables.

    symbols: int[n]; freqs: (K,) or (n, K). Returns float64[n] bits (-log2 q / 2**24).
    """
    table = _as_table(freqs)
    symbols = _as_symbols(symbols, table.shape[-1])
    _check_rows(table, len(symbols))
    return _symbol_bits(symbols, table)


def _symbol_bits(symbols: np.ndarray, table: np.ndarray) -> np.ndarray:
    quantised = _quantise(table)
    if quantised.ndim == 1:
        chosen = quantised[symbols]
    else:
        chosen = quantised[np.arange(len(symbols)), symbols]
    return PRECISION - np.log2(chosen.astype(np.float64))


def nll_bits(symbols: np.ndarray, freqs: np.ndarray) -> float:
    """Total exact code length in bits: the sum of `symbol_bits` (coder overhead excluded)."""
    table = _as_table(freqs)
    symbols = _as_symbols(symbols, table.shape[-1])
    _check_rows(table, len(symbols))
    return float(_symbol_bits(symbols, table).sum())


def words_to_bytes(words: np.ndarray) -> bytes:
    """uint32 coder words -> little-endian bytes, on every host."""
    return np.asarray(words, dtype="<u4").tobytes()


def bytes_to_words(data: bytes) -> np.ndarray:
    """Little-endian bytes -> native uint32 words. len(data) must be a multiple of 4."""
    if len(data) % 4:
        raise ValueError(f"compressed words need a multiple of 4 bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class Encoder:
    """Streaming encoder: call `encode` chunk by chunk in decode order, then `finish`.

    `nll_bits` is the exact code length of everything encoded so far (coder overhead excluded).
    """

    def __init__(self, coder: str = "range") -> None:
        _check_coder(coder)
        self.coder = coder
        self._range = constriction.stream.queue.RangeEncoder() if coder == "range" else None
        self._ans_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._row_bits = 0.0
        # i.i.d. chunks of one alphabet size: (table, symbol counts), costed in one batch
        self._shared: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._finished = False

    def encode(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """Append symbols: int[n] in [0, K), coded under freqs (K,) shared or (n, K) per symbol."""
        if self._finished:
            raise ValueError("encoder already finished")
        table = _as_table(freqs)
        if table.ndim == 1:
            self._encode_shared(symbols, table)
            return
        symbols = _as_symbols(symbols, table.shape[-1])
        _check_rows(table, len(symbols))
        if len(symbols) == 0 or table.shape[-1] == 1:
            return
        self._push(symbols, table)
        self._row_bits += float(_symbol_bits(symbols, table).sum())

    def _encode_shared(self, symbols: np.ndarray, table: np.ndarray) -> None:
        """The i.i.d. fast path: symbols are costed by one bincount over the alphabet."""
        symbols = np.asarray(symbols)
        if symbols.ndim != 1 or symbols.dtype.kind not in "iu":
            raise ValueError(f"symbols must be 1-D integers, got shape {symbols.shape} dtype {symbols.dtype}")
        if len(symbols) == 0:
            return
        if symbols.min() < 0 or symbols.max() >= len(table):
            raise ValueError(f"symbols must lie in [0, {len(table)}), got [{symbols.min()}, {symbols.max()}]")
        counts = np.bincount(symbols, minlength=len(table))
        if len(table) == 1:
            return
        self._push(symbols.astype(np.int32), table)
        self._shared.setdefault(len(table), []).append((table, counts))

    def _push(self, symbols: np.ndarray, table: np.ndarray) -> None:
        if self._range is not None:
            _push(self._range.encode, symbols, table)
        else:
            self._ans_chunks.append((symbols, table))

    @property
    def nll_bits(self) -> float:
        total = self._row_bits
        for pairs in self._shared.values():
            tables = np.stack([table for table, _ in pairs])
            counts = np.stack([count for _, count in pairs])
            total += float((counts * (PRECISION - np.log2(_quantise(tables).astype(np.float64)))).sum())
        return total

    def finish(self) -> np.ndarray:
        """The compressed words: uint32[W]. Encoding more afterwards is an error."""
        if self._finished:
            raise ValueError("encoder already finished")
        self._finished = True
        if self._range is not None:
            words = self._range.get_compressed()
        else:
            ans = constriction.stream.stack.AnsCoder()
            for symbols, table in reversed(self._ans_chunks):
                _push(ans.encode_reverse, symbols, table)
            words = ans.get_compressed()
        self._range, self._ans_chunks = None, []
        return np.asarray(words, dtype=np.uint32)


def _push(method, symbols: np.ndarray, table: np.ndarray) -> None:
    if table.ndim == 1:
        method(symbols, constriction.stream.model.Categorical(table, perfect=False))
    else:
        method(symbols, _FAMILY, table)


class Decoder:
    """Streaming decoder over the words of one `Encoder`; call `decode` in the same chunks."""

    def __init__(self, words: np.ndarray, coder: str = "range") -> None:
        _check_coder(coder)
        words = np.ascontiguousarray(words, dtype=np.uint32)
        if coder == "range":
            self._coder = constriction.stream.queue.RangeDecoder(words)
        else:
            try:
                self._coder = constriction.stream.stack.AnsCoder(words)
            except ValueError as error:  # e.g. a trailing zero word: not ANS data
                raise ValueError(f"invalid ANS data: {error}") from None

    def decode(self, freqs: np.ndarray, count: int | None = None) -> np.ndarray:
        """Decode the next symbols: `count` i.i.d. under freqs (K,), or one per row of freqs (n, K).

        Returns int64[count]. Decoding past the end or with other tables than the encoder's
        usually returns garbage rather than failing (the container checks lengths and
        checksums); words the range decoder finds invalid raise ValueError.
        """
        table = _as_table(freqs, coder_checks_zero_rows=True)
        if table.ndim == 2:
            count = len(table) if count is None else count
            _check_rows(table, count)
        elif count is None:
            raise ValueError("a shared (K,) table needs a symbol count")
        if count == 0 or table.shape[-1] == 1:
            return np.zeros(count, dtype=np.int64)
        try:
            if table.ndim == 1:
                model = constriction.stream.model.Categorical(table, perfect=False)
                symbols = self._coder.decode(model, count)
            else:
                symbols = self._coder.decode(_FAMILY, table)
        except AssertionError as error:  # constriction's range decoder on invalid data
            raise ValueError(f"invalid compressed data: {error}") from None
        return np.asarray(symbols, dtype=np.int64)


def encode(symbols: np.ndarray, freqs: np.ndarray, coder: str = "range") -> np.ndarray:
    """One-shot encode of symbols int[n] under freqs (K,) or (n, K). Returns uint32[W] words."""
    encoder = Encoder(coder)
    encoder.encode(symbols, freqs)
    return encoder.finish()


def decode(words: np.ndarray, freqs: np.ndarray, count: int | None = None, coder: str = "range") -> np.ndarray:
    """One-shot inverse of `encode`. Returns int64[count] (count defaults to the rows of freqs)."""
    return Decoder(words, coder).decode(freqs, count)

