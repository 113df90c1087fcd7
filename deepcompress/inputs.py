"""What an input is: raw bytes, or the elements of an integer .npy array. Pure numpy.

One rule for every command (compress, nll, surprisal, train) and every kind of source (a
file, a redirect, a pipe): an input is an array exactly when it is a well-formed .npy file
of integers whose length is what its header declares; anything else (a float or object
array, trailing bytes, a damaged header) is coded as bytes. A pipe that starts with the
.npy magic is spooled (to memory, then disk) so it can be inspected like a file.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from deepcompress.symbols import NPY_MAGIC, Layout, is_npy, read_npy_layout

KINDS = ("auto", "bytes", "npy")
SPOOL_IN_MEMORY = 1 << 24  # bytes of a piped .npy kept in memory before spooling to disk


@dataclass(frozen=True)
class Input:
    """A source positioned at its first coded byte (an array's first element byte), and its layout."""

    source: BinaryIO
    layout: Layout

    @property
    def is_array(self) -> bool:
        return self.layout.kind == "npy"


class _Prefixed:
    """A read-only stream: `prefix` (bytes already read from `rest`), then the rest of `rest`."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix, self._rest = prefix, rest

    def read(self, size: int = -1) -> bytes:
        if not self._prefix:
            return self._rest.read(size)
        if size is None or size < 0:
            head, self._prefix = self._prefix, b""
            return head + self._rest.read()
        head, self._prefix = self._prefix[:size], self._prefix[size:]
        return head


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    pieces, remaining = [], size
    while remaining and (piece := source.read(remaining)):
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


def _seekable(source: BinaryIO) -> BinaryIO:
    """`source` itself if it can seek; a spooled copy of a pipe that starts with the .npy magic;
    any other pipe behind the few bytes read from it (a `_Prefixed`, which holds bytes)."""
    try:
        if source.seekable():
            return source
    except (AttributeError, OSError, ValueError):
        pass
    head = _read_exactly(source, len(NPY_MAGIC))
    if head != NPY_MAGIC:
        return _Prefixed(head, source)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned; closed by its user)
    spool.write(head)
    shutil.copyfileobj(source, spool, 1 << 20)
    spool.seek(0)
    return spool


def detect(source: BinaryIO, kind: str = "auto", alphabet_size: int | None = None) -> Input:
    """What to code from `source`. kind: "auto" (arrays when the input is one), "bytes", or "npy" (insist).

    alphabet_size: a model's K (a model file): an array is then coded over values 0..K-1 and
    values outside are refused with ValueError, as `api.compress_array` does.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "bytes":
        return Input(source, Layout())
    source = _seekable(source)
    if isinstance(source, _Prefixed) or not is_npy(source):
        if kind == "npy":
            raise ValueError("not a .npy file")
        return Input(source, Layout())
    start = source.tell()
    try:
        layout = read_npy_layout(source)
    except (ValueError, OverflowError) as error:  # OverflowError: a forged header's shape
        if kind == "npy":
            raise ValueError(str(error)) from None
        source.seek(start)  # not an integer array of the declared length: auto codes it as bytes
        return Input(source, Layout())
    return Input(source, layout if alphabet_size is None else fit_alphabet(layout, alphabet_size))


def fit_alphabet(layout: Layout, alphabet_size: int) -> Layout:
    """An array layout coded over a model's alphabet 0..K-1; ValueError if its values lie outside."""
    low, high = layout.offset, layout.offset + layout.alphabet_size - 1
    if np.prod(layout.shape, dtype=np.int64) and (low < 0 or high >= alphabet_size):
        raise ValueError(f"array values [{low}, {high}] lie outside the model's alphabet [0, {alphabet_size})")
    return dataclasses.replace(layout, offset=0, alphabet_size=alphabet_size)


def load(source: BinaryIO, kind: str = "auto") -> tuple[bytes, np.ndarray | None]:
    """All of `source` in memory: (its bytes, and its array when `detect` says it is one, else None)."""
    data = source.read()
    found = detect(io.BytesIO(data), kind)
    if not found.is_array:
        return data, None
    layout = found.layout
    elements = np.frombuffer(data, dtype=layout.dtype, offset=len(layout.npy_header))
    return data, elements.reshape(layout.shape, order="F" if layout.fortran_order else "C")
