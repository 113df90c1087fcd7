"""The contract between probability models and the coder.

A model never sees the entropy coder. It turns symbols into *coding decisions* with
integer frequency tables, through a `Session` that holds all predictive state for one
stream. `deepcompress.codec` drives a session and hands its tables to
`deepcompress.coding`; the same tables feed `nll_bits`, so the model's NLL and the
real code length are computed from identical numbers.

Exactness rule: every frequency a session yields must be a pure function of the
symbols coded before it, computed with integer (or provably exact) arithmetic, so the
decoder reproduces it bit for bit on any machine, thread count or batch shape.

Chunks. A session yields its tables as `Chunk`s, in *decode order*:

- `Chunk(freqs)` with `freqs: int64[m, K]`: one table per decision, m decisions;
- `Chunk(freqs, count=m)` with `freqs: int64[K]`: m i.i.d. decisions from one table
  (the fast path of counting models).

Frequencies are non-negative integers, every row sums to at least 1 and below 2**53
(`coding` checks). A zero frequency is still encodable (the coder floors it at
2**-24), but costs ~24 bits: models should give every symbol a count.

Lanes. A block of n symbols may be split into S lanes (segments) coded in lockstep so
that each decode step is one batched model call; the lane count is chosen by the
codec and stored in the container. A session that has no use for lanes ignores it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """Integer frequency tables for the next decisions of a session.

    freqs: int64[m, K] (one table per decision) or int64[K] (shared by `count` decisions).
    count: number of decisions this chunk covers.
    """

    freqs: np.ndarray
    count: int

    @classmethod
    def rows(cls, freqs: np.ndarray) -> Chunk:
        return cls(freqs, len(freqs))

    @classmethod
    def shared(cls, freqs: np.ndarray, count: int) -> Chunk:
        return cls(freqs, count)


# What `Session.decode_block` yields and is sent back: a chunk, then its decisions int64[count].
DecodeSteps = Generator[Chunk, np.ndarray, np.ndarray]


def lockstep_positions(n_symbols: int, lanes: int, decisions_per_symbol: int = 1) -> np.ndarray:
    """Symbol index of each decision when n symbols are coded in `lanes` lanes in lockstep.

    Lane j holds symbols [j*L, (j+1)*L) with L = ceil(n / lanes). Decode order: for each
    position t, for each decision d of a symbol, every lane still active at t.
    Returns int64[n * decisions_per_symbol].
    """
    if n_symbols == 0:
        return np.zeros(0, dtype=np.int64)
    lane_length = -(-n_symbols // lanes)
    positions = (
        np.arange(lanes)[None, None, :] * lane_length
        + np.arange(lane_length)[:, None, None]
        + np.zeros((1, decisions_per_symbol, 1), dtype=np.int64)
    )  # (L, D, S)
    positions = positions.reshape(-1)
    return positions[positions < n_symbols]


class Session:
    """Predictive state for one stream; blocks are coded in order and state carries over.

    decisions_per_symbol: coding decisions per symbol (1, or 8 for a binary decomposition of bytes).
    """

    decisions_per_symbol: int = 1

    def decision_positions(self, n_symbols: int, lanes: int) -> np.ndarray:
        """Symbol index int64[m] of each decision in decode order (default: lockstep lanes)."""
        return lockstep_positions(n_symbols, lanes, self.decisions_per_symbol)

    def block_side_info(self, symbols: np.ndarray) -> bytes:
        """Encoder only: side information stored with the block (e.g. fitted counts); default none.

        Called before `encode_block`; its bytes are handed to `load_side_info` before decoding.
        """
        return b""

    def load_side_info(self, side_info: bytes) -> None:
        """Decoder only: receive what `block_side_info` stored. Raises ValueError if malformed."""
        if side_info:
            raise ValueError("this model stores no side information")

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        """Yield (decisions int64[m], chunk) pairs in decode order, advancing the state.

        symbols: int64[n] in [0, alphabet_size).
        """
        raise NotImplementedError

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        """Generator: yields chunks, is sent each chunk's decisions, returns int64[n_symbols]."""
        raise NotImplementedError

    def encode_words(self, symbols: np.ndarray, lanes: int) -> tuple[np.ndarray, float]:
        """Self-coding models only: code a block itself -> (words uint32[W], nll_bits), advancing
        the state exactly as `encode_block` would (same probabilities)."""
        raise NotImplementedError

    def decode_words(self, words: np.ndarray, n_symbols: int, lanes: int) -> np.ndarray:
        """Self-coding models only: inverse of `encode_words` -> int64[n_symbols]."""
        raise NotImplementedError


class Model:
    """A probability model over sequences of symbols in [0, alphabet_size)."""

    name: ClassVar[str]
    alphabet_size: int
    # The coder a self-coding model runs inside its session ("binary"), None for table models.
    self_coder: str | None = None

    def sized_for(self, n_symbols: int | None) -> Model:
        """This model fitted to an input of n_symbols (None: unknown); default: itself."""
        return self

    def config(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters: everything needed to rebuild the model's shape."""
        raise NotImplementedError

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        """The exact coding parameters by name (what a model file stores); {} for parameter-free models."""
        return {}

    def parameter_bytes(self) -> bytes:
        """The exact coding parameters as bytes: each array's name and little-endian values, by name."""
        return b"".join(
            name.encode() + array.astype(array.dtype.newbyteorder("<")).tobytes()
            for name, array in sorted(self.parameter_arrays().items())
        )

    def fingerprint(self) -> str:
        """128-bit hex digest (sha256, truncated) of name, config and exact coding parameters.

        Equal fingerprints code equally; a stream records its model's fingerprint.
        """
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update(json.dumps(self.config(), sort_keys=True).encode())
        digest.update(self.parameter_bytes())
        return digest.hexdigest()[:32]

    def session(self) -> Session:
        """A fresh predictive state for coding one stream."""
        raise NotImplementedError
