"""What is coded: raw data <-> integer symbols in [0, alphabet_size). Pure numpy.

Two kinds of data:
- "bytes": any file; one symbol per byte, alphabet 256.
- "npy": a NumPy integer array (any width, signedness, byte order, shape, C or Fortran
  order). Elements are coded in storage order as `value - offset`; the original .npy
  header is kept verbatim so decompression reproduces the file byte for byte.
"""

from __future__ import annotations

import base64
import io
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import numpy.lib.format as npy_format

# The coder's 24-bit precision gives every value of the alphabet at least one of 2**24 slots;
# constriction cannot normalise a table of 2**24 - 1 or more entries (measured), so this is the largest.
MAX_ALPHABET = (1 << 24) - 2
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Layout:
    """How raw data maps to symbols. shape: record structure (records = shape[0] for 2-D)."""

    kind: str = "bytes"
    dtype: str = "|u1"
    shape: tuple[int, ...] = ()
    fortran_order: bool = False
    offset: int = 0
    alphabet_size: int = 256
    npy_header: bytes = field(default=b"", repr=False)

    @property
    def item_size(self) -> int:
        return np.dtype(self.dtype).itemsize

    def to_symbols(self, raw: bytes) -> np.ndarray:
        """Raw element bytes (a whole number of elements) -> int64 symbols."""
        if self.kind == "bytes":
            return np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        values = np.frombuffer(raw, dtype=self.dtype)
        return _subtract_offset(values, self.offset)

    def to_raw(self, symbols: np.ndarray) -> bytes:
        """int64 symbols -> raw element bytes (inverse of `to_symbols`)."""
        if self.kind == "bytes":
            return symbols.astype(np.uint8).tobytes()
        dtype = np.dtype(self.dtype)
        wide = np.uint64 if dtype.kind == "u" else np.int64
        values = (symbols.astype(np.uint64) + np.uint64(self.offset % (1 << 64))).view(wide)
        return values.astype(dtype).tobytes()

    def to_extra(self) -> dict[str, Any]:
        """JSON-serialisable description for the stream header (empty for bytes)."""
        if self.kind == "bytes":
            return {}
        return {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "fortran_order": self.fortran_order,
            "offset": self.offset,
            "alphabet_size": self.alphabet_size,
            "npy_header": base64.b64encode(self.npy_header).decode(),
        }

    @classmethod
    def from_header(cls, kind: str, extra: dict[str, Any]) -> Layout:
        """Inverse of `to_extra`. Raises ValueError on anything malformed, keys it does not write
        included (a header that is not what a writer made is not what it means)."""
        if kind not in ("bytes", "npy"):
            raise ValueError(f"unknown data kind {kind!r}")
        expected = set(cls.to_extra(cls("npy"))) if kind == "npy" else set()
        if set(extra) != expected:
            raise ValueError(f"malformed array description: keys {sorted(map(str, extra))} for kind {kind!r}")
        if kind == "bytes":
            return cls()
        try:
            layout = cls(
                "npy", str(extra["dtype"]), tuple(extra["shape"]), bool(extra["fortran_order"]),
                int(extra["offset"]), int(extra["alphabet_size"]), base64.b64decode(extra["npy_header"], validate=True),
            )
            dtype = np.dtype(layout.dtype)
            element_count(layout.shape, dtype.itemsize)
        except (KeyError, TypeError, ValueError, OverflowError) as error:  # OverflowError: int(1e999)
            raise ValueError(f"malformed array description: {error}") from None
        if dtype.kind not in "iu" or not 1 <= layout.alphabet_size <= MAX_ALPHABET or min(layout.shape, default=0) < 0:
            raise ValueError("array description out of range")
        return layout


def _subtract_offset(values: np.ndarray, offset: int) -> np.ndarray:
    """values - offset as int64, exact for every integer dtype (wrapping 64-bit arithmetic)."""
    wrapped = values.astype(np.int64 if values.dtype.kind == "i" else np.uint64).view(np.uint64)
    return (wrapped - np.uint64(offset % (1 << 64))).view(np.int64)


def alphabet_of(values: np.ndarray) -> tuple[int, int]:
    """(offset, alphabet_size) spanning the values: offset = min, size = max - min + 1 (1 if empty)."""
    if values.dtype.kind not in "iu":
        raise ValueError(f"only integer arrays can be coded, got dtype {values.dtype}")
    if values.size == 0:
        return 0, 1
    return _alphabet(int(values.min()), int(values.max()))


def _alphabet(low: int, high: int) -> tuple[int, int]:
    size = high - low + 1
    if size > MAX_ALPHABET:
        raise ValueError(f"array values span {size} values [{low}, {high}]; at most {MAX_ALPHABET} are supported")
    return low, size


def array_layout(array: np.ndarray, alphabet: tuple[int, int] | None = None) -> Layout:
    """Layout of an in-memory integer array; alphabet (offset, size) inferred unless given."""
    if array.dtype.kind not in "iu":
        raise ValueError(f"only integer arrays can be coded, got dtype {array.dtype}")
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, npy_format.header_data_from_array_1_0(array))
    return _layout(array.dtype, array.shape, fortran, header.getvalue(), alphabet or alphabet_of(array))


def _layout(dtype: np.dtype, shape, fortran: bool, header: bytes, alphabet: tuple[int, int]) -> Layout:
    return Layout("npy", dtype.str, tuple(shape), fortran, alphabet[0], alphabet[1], header)


def storage_order_bytes(array: np.ndarray) -> bytes:
    """The element bytes of `array` as a .npy file stores them (Fortran order if F-contiguous)."""
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    return array.tobytes(order="F" if fortran else "C")


def is_npy(stream: BinaryIO) -> bool:
    """Whether a seekable stream starts with the .npy magic (position unchanged)."""
    position = stream.tell()
    magic = stream.read(len(NPY_MAGIC))
    stream.seek(position)
    return magic == NPY_MAGIC


def read_npy_layout(stream: BinaryIO, alphabet: tuple[int, int] | None = None, chunk_bytes: int = 1 << 24) -> Layout:
    """Layout of a seekable .npy stream of integers, leaving it at the first data byte.

    The alphabet is inferred by one bounded-memory pass over the data unless given.
    Raises ValueError for non-integer, object or malformed arrays.
    """
    start = stream.tell()
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    # numpy parses the header dict with `ast`: malformed text also raises tokenize's TokenError,
    # deep nesting RecursionError or MemoryError, odd keys TypeError, huge numbers OverflowError.
    except (ValueError, SyntaxError, EOFError, OverflowError, RecursionError, MemoryError, TypeError,
            tokenize.TokenError) as error:
        raise ValueError(f"not a valid .npy file: {error}") from None
    data_start = stream.tell()
    stream.seek(start)
    header = stream.read(data_start - start)
    if dtype.kind not in "iu" or dtype.hasobject:
        raise ValueError(f"only integer arrays can be coded, got dtype {dtype}")
    count = element_count(shape, dtype.itemsize)
    stream.seek(0, io.SEEK_END)
    if stream.tell() != data_start + count * dtype.itemsize:  # truncated, or bytes after the array
        raise ValueError(f".npy data is {stream.tell() - data_start} bytes, its header declares {count * dtype.itemsize}")
    stream.seek(data_start)
    if alphabet is None:
        alphabet = _scan_alphabet(stream, dtype, count, chunk_bytes)
    stream.seek(data_start)
    return _layout(dtype, shape, fortran, header, alphabet)


def element_count(shape: Sequence[int], item_size: int) -> int:
    """Elements of an array of `shape`; ValueError unless its data fits in 2**62 bytes.

    In Python integers, so a forged shape cannot overflow (np.prod would wrap or raise
    OverflowError).
    """
    count = 1
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"array shape {tuple(shape)!r} is not a tuple of non-negative integers")
        count *= n
        if count * item_size > 1 << 62:
            raise ValueError(f"array shape {tuple(shape)!r} is too large")
    return count


def _scan_alphabet(stream: BinaryIO, dtype: np.dtype, count: int, chunk_bytes: int) -> tuple[int, int]:
    low, high, remaining = None, None, count
    chunk_items = max(1, chunk_bytes // dtype.itemsize)
    while remaining:
        raw = stream.read(min(remaining, chunk_items) * dtype.itemsize)
        if len(raw) < dtype.itemsize:
            raise ValueError(f".npy data ends {remaining} elements early")
        values = np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype=dtype)
        low = int(values.min()) if low is None else min(low, int(values.min()))
        high = int(values.max()) if high is None else max(high, int(values.max()))
        remaining -= len(values)
    return (0, 1) if low is None else _alphabet(low, high)


def record_streams(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Training streams of integer arrays: their elements in storage order, as int64 (as coded)."""
    streams = []
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.kind not in "iu":
            raise ValueError(f"only integer arrays can be modelled, got dtype {array.dtype}")
        streams.append(np.frombuffer(storage_order_bytes(array), dtype=array.dtype).astype(np.int64))
    return streams


def record_size_of(array: np.ndarray) -> int:
    """Dimensions per record of an array: the product of its trailing axes (1 for 0-d and 1-D)."""
    return int(np.prod(array.shape[1:], dtype=np.int64)) if array.ndim >= 2 else 1
