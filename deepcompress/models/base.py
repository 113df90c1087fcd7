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
that each decode step is one batched model call; the lane count is the model's choice
(`Model.choose_lanes`) and stored in the container. A session that has no use for lanes
ignores it.

Two kinds of model (see `Model.self_coder`):

- *table models* (`self_coder is None`): `codec` codes the session's `Chunk` tables with
  the coder the stream names ("range" or "ans");
- *self-coding models* (`self_coder == "binary"`, say): the session codes a whole block
  itself (`Session.encode_words` / `decode_words`, e.g. inside compiled code). Such a
  session still implements `encode_block`, yielding the very integer tables it codes
  with, so NLL and per-symbol bits are measured through the table path.

Writing a model: subclass `Model` (a `name`, `alphabet_size`, `config`, `session`), give
it a `Session` (`encode_block`, `decode_block`), and register it: `models.register(name,
loader)`. Everything else has a working default below; `codec.check_inverse` tests it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations only

# Input sizes whose `sized_for` variants a decoder tries (`Model.sized_variants`): 0, 1, 2, 4 ... 2**31.
SIZE_PROBES = (0, *(1 << k for k in range(32)))


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


class InexactTableError(ValueError):
    """A model yielded a table the decoder could not reproduce bit for bit (not integers)."""


def exact_freqs(freqs: np.ndarray, model_name: str) -> np.ndarray:
    """`freqs` as it is, if it is an integer array; InexactTableError otherwise.

    The premise of decodability: the decoder must rebuild every table bit for bit on any
    machine. Integer arrays are exact by construction (and so never NaN or infinite);
    float tables may differ in their last bits across machines, thread counts or batch
    shapes, so they are refused even when they happen to hold whole numbers.
    """
    freqs = np.asarray(freqs)
    if freqs.dtype.kind not in "iu":
        raise InexactTableError(
            f"model {model_name!r} yields frequency tables of dtype {freqs.dtype}: tables must be integer "
            "arrays, so that every machine decodes the same stream (see deepcompress.models.base)"
        )
    return freqs


def table_code_bits(freqs: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Ideal code length -log2(f[x] / sum f) of each symbol under its own table row: float64[N].

    freqs: int64[N, K] (one row per symbol); symbols: int64[N]. The model's own bits,
    before the coder quantises the tables (`coding.nll_bits` / `coding.symbol_bits` give
    what the coder spends). Float: for reports and training only, never fed to a coder.
    """
    chosen = np.take_along_axis(freqs, np.asarray(symbols, dtype=np.int64)[:, None], axis=1)[:, 0]
    return np.log2(freqs.sum(axis=1)) - np.log2(chosen)


def draw_from_tables(chunk: Chunk, rng: np.random.Generator) -> np.ndarray:
    """One decision per table of `chunk`, drawn by inverse CDF of its integer frequencies: int64[count].

    u uniform in [0, sum f) maps to the symbol i with cumsum(f)[i-1] <= u < cumsum(f)[i], so
    symbol i has probability f[i] / sum f exactly; numpy's PCG64 makes a seed reproducible
    on every machine.
    """
    if chunk.freqs.ndim == 1:
        cumulative = np.cumsum(chunk.freqs)
        uniform = rng.integers(0, cumulative[-1], size=chunk.count)
        return np.searchsorted(cumulative, uniform, side="right").astype(np.int64)
    cumulative = np.cumsum(chunk.freqs, axis=1)                                     # (m, K)
    uniform = rng.integers(0, cumulative[:, -1])
    return (cumulative <= uniform[:, None]).sum(axis=1).astype(np.int64)


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
        """Self-coding models only: code a block with the model's own coder, advancing the state.

        symbols: int64[n]. Returns (words uint32[W], nll_bits), nll_bits being what the
        tables of `encode_block` give for the same block.
        """
        raise NotImplementedError(f"{type(self).__name__} yields tables; it does not code itself")

    def decode_words(self, words: np.ndarray, n_symbols: int, lanes: int) -> np.ndarray:
        """Self-coding models only: inverse of `encode_words`: int64[n_symbols]."""
        raise NotImplementedError(f"{type(self).__name__} yields tables; it does not code itself")


class Model:
    """A probability model over sequences of symbols in [0, alphabet_size).

    Required: `name` (what streams and model files record; also its registry name),
    `alphabet_size`, `config`, `session`. Every other method has a default that suits a
    parameter-free table model coded in one lane.
    """

    name: ClassVar[str]
    alphabet_size: int
    # The coder this model runs itself ("binary"), or None: its tables go to `codec`'s coder.
    self_coder: str | None = None
    # Sampling: None draws a stream of symbols; d draws records of d symbols (int64[n, d]).
    record_size: int | None = None

    def config(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters: everything needed to rebuild the model's shape."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self | None:
        """Rebuild the model a stream header names, from its config alone.

        None when the model needs its parameters (a model file); ValueError for a config
        this version cannot build. Default: None.
        """
        return None

    @classmethod
    def for_alphabet(cls, alphabet_size: int) -> Self:
        """The parameter-free model `-m NAME` builds for data over `alphabet_size` symbols.

        Default: ValueError (the model needs a model file).
        """
        raise ValueError(f"model {cls.name!r} needs a model file")

    def hyperparameters(self) -> dict[str, Any]:
        """Every setting in force, presets expanded (what `info` reports). Default: `config()`."""
        return self.config()

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        """The exact coding parameters by name (what a model file stores); {} for parameter-free models."""
        return {}

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Inverse of `config` + `parameter_arrays` (a model file). ValueError/KeyError if they do not fit.

        Default: a parameter-free model rebuilt by `from_config`.
        """
        model = cls.from_config(config)
        if arrays or model is None:
            raise ValueError(f"model {cls.name!r} cannot be built from a model file")
        return model

    def parameter_bytes(self) -> bytes:
        """The exact coding parameters as bytes: each array's name and little-endian values, by name."""
        return b"".join(
            name.encode() + array.astype(array.dtype.newbyteorder("<")).tobytes()
            for name, array in sorted(self.parameter_arrays().items())
        )

    def fingerprint(self) -> str:
        """128-bit hex digest (sha256, truncated) of name, config and exact coding parameters.

        Equal fingerprints code equally; a stream records its model's fingerprint (v3: its first 16 hex digits).
        """
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update(json.dumps(self.config(), sort_keys=True).encode())
        digest.update(self.parameter_bytes())
        return digest.hexdigest()[:32]

    def session(self) -> Session:
        """A fresh predictive state for coding one stream."""
        raise NotImplementedError

    def choose_lanes(self, n_symbols: int) -> int:
        """Lane count (>= 1) of a block of n symbols; the decoder asks again. Default: 1."""
        return 1

    def sized_for(self, n_symbols: int | None) -> Self:
        """The model to code an input of `n_symbols` symbols (None: unknown), asked before the
        header is written; a model may shrink its tables for small inputs. Default: itself."""
        return self

    def sized_variants(self) -> Iterator[Self]:
        """Every model `sized_for` may have made of this one, which a decoder given this model
        tries against a stream's fingerprint: by default its variants for the SIZE_PROBES
        input sizes. Premise: a model sizes itself by ceil(log2(n)), so powers of two
        reach every variant."""
        for n_symbols in SIZE_PROBES:
            yield self.sized_for(n_symbols)

    @property
    def sampleable(self) -> bool:
        """Whether `sample` can draw from the model (False: its tables depend on side info)."""
        return True

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Ancestral sampling from the exact integer tables (`draw_from_tables`), in one lane.

        n: symbols, or records when `record_size` is set. Returns int64[n] or int64[n, d];
        the same for a seed on every machine.
        """
        if not self.sampleable:
            raise ValueError(f"this {self.name} model ({self.config()}) has no fixed distribution to sample")
        rng = np.random.default_rng(seed)
        n_symbols = n * (self.record_size or 1)
        steps = self.session().decode_block(n_symbols, 1)
        try:
            chunk = next(steps)
            while True:
                chunk = steps.send(draw_from_tables(Chunk(exact_freqs(chunk.freqs, self.name), chunk.count), rng))
        except StopIteration as stop:
            symbols = np.asarray(stop.value, dtype=np.int64)
        return symbols if self.record_size is None else symbols.reshape(n, self.record_size)
