"""The seam between models and the coder: code one block of symbols with a model session.

A session yields integer tables in decode order (see `models.base`); this module feeds
them to `coding` and sums the model's exact NLL from the very same tables, so
`payload_bits - nll_bits` is the coder's overhead alone. A self-coding model
(`model.self_coder`, e.g. "binary") codes a block itself through its session's
`encode_words` / `decode_words`; the stream's coder field then names that coder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepcompress import coding
from deepcompress.models.base import Chunk, Model, Session


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


def stream_coder(model: Model, coder: str) -> str:
    """The coder a stream of this model records: the model's own, else the requested table coder."""
    return model.self_coder or coder


def check_coder(model: Model, coder: str) -> None:
    """ValueError unless `coder` is what streams of this model are coded with."""
    if model.self_coder is not None:
        if coder != model.self_coder:
            raise ValueError(f"model {model.name!r} codes itself with {model.self_coder!r}, not {coder!r}")
    elif coder not in coding.CODERS:
        raise ValueError(f"unknown coder {coder!r}; choose one of {', '.join(coding.CODERS)}")


def encode_block(model: Model, session: Session, symbols: np.ndarray, coder: str | None = None) -> EncodedBlock:
    """Code symbols int64[n] with the session's current state (which then advances).

    coder: the stream's coder (None: the model's own, else "range"); checked against the model.
    """
    lanes = choose_lanes(model, len(symbols))
    side_info = session.block_side_info(symbols)
    coder = stream_coder(model, "range") if coder is None else coder
    check_coder(model, coder)
    if model.self_coder is not None:
        words, nll = session.encode_words(symbols, lanes)
        return EncodedBlock(len(symbols), lanes, side_info, words, nll)
    encoder = coding.Encoder(coder)
    for decisions, chunk in session.encode_block(symbols, lanes):
        encoder.encode(decisions, chunk.freqs)
    return EncodedBlock(len(symbols), lanes, side_info, encoder.finish(), encoder.nll_bits)


def decode_block(model: Model, session: Session, block: EncodedBlock, coder: str | None = None) -> np.ndarray:
    """Inverse of `encode_block`: symbols int64[n]. Wrong words or tables give garbage, not errors."""
    coder = stream_coder(model, "range") if coder is None else coder
    check_coder(model, coder)
    session.load_side_info(block.side_info)
    if block.n_symbols == 0:
        return np.zeros(0, dtype=np.int64)
    if model.self_coder is not None:
        return session.decode_words(block.words, block.n_symbols, block.lanes)
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
    return sum(float(_decision_bits(model, decisions, chunk).sum())
               for decisions, chunk in session.encode_block(symbols, lanes))


def _decision_bits(model: Model, decisions: np.ndarray, chunk: Chunk) -> np.ndarray:
    """Bits of each decision, float64[m], as the model's coder spends them: constriction's 24-bit
    requantised tables for table models, the exact -log2(f / sum f) for a self-coding model
    (its coder codes the model's integer probabilities themselves)."""
    if model.self_coder is None:
        return coding.symbol_bits(decisions, chunk.freqs)
    rows = np.broadcast_to(chunk.freqs, (chunk.count, chunk.freqs.shape[-1]))
    chosen = np.take_along_axis(rows, np.asarray(decisions, dtype=np.int64)[:, None], 1)[:, 0]
    return np.log2(rows.sum(axis=1)) - np.log2(chosen)


def block_symbol_bits(model: Model, session: Session, symbols: np.ndarray) -> np.ndarray:
    """Exact bits the coder spends on each symbol of a block: float64[n] (its decisions summed).

    Advances the session as `encode_block` would; side information is not included.
    """
    session.block_side_info(symbols)
    lanes = choose_lanes(model, len(symbols))
    pieces = [_decision_bits(model, decisions, chunk) for decisions, chunk in session.encode_block(symbols, lanes)]
    decision_bits = np.concatenate(pieces) if pieces else np.zeros(0)
    positions = session.decision_positions(len(symbols), lanes)
    return np.bincount(positions, weights=decision_bits, minlength=len(symbols))
