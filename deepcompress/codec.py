"""The seam between models and the coder: code one block of symbols with a model session.

A session yields integer tables in decode order (see `models.base`); this module feeds
them to `coding` and sums the model's exact NLL from the very same tables, so
`payload_bits - nll_bits` is the coder's overhead alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepcompress import coding
from deepcompress.models.base import Model, Session


@dataclass(frozen=True)
class EncodedBlock:
    """One coded block. words: uint32[W]; nll_bits: the model's exact code length."""

    n_symbols: int
    lanes: int
    side_info: bytes
    words: np.ndarray
    nll_bits: float

    @property
    def payload_bits(self) -> int:
        return 32 * len(self.words)


def choose_lanes(model: Model, n_symbols: int) -> int:
    """Lane count for a block: the model's choice (models that gain nothing from lanes use 1)."""
    choose = getattr(model, "choose_lanes", None)
    return max(1, int(choose(n_symbols))) if choose is not None else 1


def encode_block(model: Model, session: Session, symbols: np.ndarray, coder: str = "range") -> EncodedBlock:
    """Code symbols int64[n] with the session's current state (which then advances)."""
    lanes = choose_lanes(model, len(symbols))
    side_info = session.block_side_info(symbols)
    encoder = coding.Encoder(coder)
    for decisions, chunk in session.encode_block(symbols, lanes):
        encoder.encode(decisions, chunk.freqs)
    return EncodedBlock(len(symbols), lanes, side_info, encoder.finish(), encoder.nll_bits)


def decode_block(session: Session, block: EncodedBlock, coder: str = "range") -> np.ndarray:
    """Inverse of `encode_block`: symbols int64[n]. Wrong words or tables give garbage, not errors."""
    session.load_side_info(block.side_info)
    if block.n_symbols == 0:
        return np.zeros(0, dtype=np.int64)
    decoder = coding.Decoder(block.words, coder)
    steps = session.decode_block(block.n_symbols, block.lanes)
    chunk = next(steps)
    while True:
        decisions = decoder.decode(chunk.freqs, chunk.count)
        try:
            chunk = steps.send(decisions)
        except StopIteration as stop:
            return stop.value


def block_nll_bits(model: Model, session: Session, symbols: np.ndarray) -> float:
    """The exact code length of a block in bits, as `encode_block` would spend (side info excluded).

    Advances the session like `encode_block`; cheaper than summing `block_symbol_bits`
    (no per-symbol bookkeeping).
    """
    session.block_side_info(symbols)
    lanes = choose_lanes(model, len(symbols))
    return sum(coding.nll_bits(decisions, chunk.freqs) for decisions, chunk in session.encode_block(symbols, lanes))


def block_symbol_bits(model: Model, session: Session, symbols: np.ndarray) -> np.ndarray:
    """Exact bits the coder spends on each symbol of a block: float64[n] (its decisions summed).

    Advances the session as `encode_block` would; side information is not included.
    """
    session.block_side_info(symbols)
    lanes = choose_lanes(model, len(symbols))
    pieces = [coding.symbol_bits(decisions, chunk.freqs) for decisions, chunk in session.encode_block(symbols, lanes)]
    decision_bits = np.concatenate(pieces) if pieces else np.zeros(0)
    positions = session.decision_positions(len(symbols), lanes)
    return np.bincount(positions, weights=decision_bits, minlength=len(symbols))
