"""The seam between models and the coder: code one block of symbols with a model session.

`encode_block(model, session, symbols, coder)` and `decode_block(model, session, block,
coder)` take the same arguments and dispatch on `model.self_coder`:

- table models: the session yields integer tables in decode order (see `models.base`);
  this module checks they are integer arrays (`models.base.exact_freqs`), feeds them to
  `coding` and sums the model's exact NLL from the very same tables, so
  `payload_bits - nll_bits` is the coder's overhead alone;
- self-coding models: the session codes the block itself (`Session.encode_words` /
  `decode_words`) with the coder it names.

Either way the block is a `container.BlockRecord`, the type the container stores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from deepcompress import coding
from deepcompress.container import BlockRecord
from deepcompress.models.base import Chunk, Model, Session, exact_freqs, table_code_bits

__all__ = [
    "BlockRecord", "block_nll_bits", "block_symbol_bits", "check_coder", "check_inverse", "choose_lanes", "decode_block",
    "encode_block", "stream_coder",
]


def stream_coder(model: Model, requested: str) -> str:
    """The coder a stream of `model` records: the model's own, or `requested` for a table model.

    A self-coding model has no tables for a table coder, so its streams always name its own
    (a known table coder asked of it is no error: it is the default for every model).
    ValueError for a coder this version does not know.
    """
    if requested not in coding.CODERS and requested != model.self_coder:
        raise ValueError(f"unknown coder {requested!r}; choose one of {', '.join(coding.CODERS)}")
    return model.self_coder or requested


def check_coder(model: Model, coder: str) -> None:
    """ValueError unless `coder` is one `model` can code with (decoding: the header's coder)."""
    if model.self_coder is not None and coder != model.self_coder:
        raise ValueError(f"the {model.name} model codes with its own {model.self_coder!r} coder, not {coder!r}")
    if model.self_coder is None and coder not in coding.CODERS:
        raise ValueError(f"unknown coder {coder!r} for the table model {model.name!r}")


def choose_lanes(model: Model, n_symbols: int) -> int:
    """Lane count of a block: the model's choice, which encoder and decoder both ask."""
    lanes = model.choose_lanes(n_symbols)
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"model {model.name!r} chose {lanes!r} lanes; lanes are an int >= 1")
    return lanes


def _tables(model: Model, session: Session, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
    """The session's (decisions, chunk) pairs for a block, every table checked to be exact."""
    for decisions, chunk in session.encode_block(symbols, lanes):
        exact_freqs(chunk.freqs, model.name)
        yield decisions, chunk


def encode_block(model: Model, session: Session, symbols: np.ndarray, coder: str | None = None) -> BlockRecord:
    """Code symbols int64[n] with the session's current state (which then advances).

    coder: the stream's coder (None: the model's own, else "range"); checked against the model.

    The record's data_crc32 is left 0: the caller knows the raw bytes the symbols came from.
    """
    coder = stream_coder(model, "range") if coder is None else coder
    check_coder(model, coder)
    lanes = choose_lanes(model, len(symbols))
    side_info = session.block_side_info(symbols)
    if model.self_coder is not None:
        words, nll_bits = session.encode_words(symbols, lanes)
        if np.asarray(words).dtype != np.uint32:
            raise ValueError(f"model {model.name!r} coded its block into {np.asarray(words).dtype} words, not uint32")
        return BlockRecord(len(symbols), lanes, side_info, words, float(nll_bits))
    encoder = coding.Encoder(coder)
    for decisions, chunk in _tables(model, session, symbols, lanes):
        encoder.encode(decisions, chunk.freqs)
    return BlockRecord(len(symbols), lanes, side_info, encoder.finish(), encoder.nll_bits)


def decode_block(model: Model, session: Session, block: BlockRecord, coder: str | None = None) -> np.ndarray:
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
        decisions = decoder.decode(exact_freqs(chunk.freqs, model.name), chunk.count)
        try:
            chunk = steps.send(decisions)
        except StopIteration as stop:
            return stop.value


def block_nll_bits(model: Model, session: Session, symbols: np.ndarray) -> float:
    """The exact code length of a block in bits, as `encode_block` would spend (side info excluded).

    Advances the session like `encode_block`; cheaper than summing `block_symbol_bits`
    (no per-symbol bookkeeping). Self-coding models are measured by their tables too.
    """
    session.block_side_info(symbols)
    lanes = choose_lanes(model, len(symbols))
    return sum(float(_decision_bits(model, decisions, chunk).sum())
               for decisions, chunk in _tables(model, session, symbols, lanes))


def _decision_bits(model: Model, decisions: np.ndarray, chunk: Chunk) -> np.ndarray:
    """Bits of each decision, float64[m], as the model's coder spends them: constriction's 24-bit
    requantised tables for table models, the exact -log2(f / sum f) for a self-coding model
    (its coder codes the model's integer probabilities themselves)."""
    if model.self_coder is None:
        return coding.symbol_bits(decisions, chunk.freqs)
    rows = np.broadcast_to(chunk.freqs, (chunk.count, chunk.freqs.shape[-1]))
    return table_code_bits(rows, decisions)


def block_symbol_bits(model: Model, session: Session, symbols: np.ndarray) -> np.ndarray:
    """Exact bits the coder spends on each symbol of a block: float64[n] (its decisions summed).

    Advances the session as `encode_block` would; side information is not included.
    """
    session.block_side_info(symbols)
    lanes = choose_lanes(model, len(symbols))
    pieces = [_decision_bits(model, decisions, chunk) for decisions, chunk in _tables(model, session, symbols, lanes)]
    decision_bits = np.concatenate(pieces) if pieces else np.zeros(0)
    positions = session.decision_positions(len(symbols), lanes)
    return np.bincount(positions, weights=decision_bits, minlength=len(symbols))


def check_inverse(model: Model, symbols: np.ndarray, coder: str = "range", blocks: int = 2) -> list[BlockRecord]:
    """Check that `model` codes `symbols` losslessly and consistently (craystack's check_inverse).

    symbols: int64[n], coded as `blocks` consecutive blocks of one stream. Raises
    AssertionError unless, block by block,
    - decode(encode(x)) == x with an encoder and a decoder session;
    - the NLL the coder summed equals `block_nll_bits` of a third session (the tables the
      encoder coded with are those the model measures with);
    and afterwards the three sessions are in the same state: each codes one more block
    into the same words. Returns the encoder's records.
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    coder = stream_coder(model, coder)
    encoder, decoder, measurer = model.session(), model.session(), model.session()
    records = []
    for part in np.array_split(symbols, max(1, blocks)):
        record = encode_block(model, encoder, part, coder)
        decoded = decode_block(model, decoder, record, coder)
        assert np.array_equal(decoded, part), f"{model.name}: decode(encode(x)) != x for a block of {len(part)}"
        measured = block_nll_bits(model, measurer, part)
        assert math.isclose(record.nll_bits, measured, rel_tol=1e-9, abs_tol=1e-6), (
            f"{model.name}: the coder summed {record.nll_bits} bits, the tables give {measured}")
        records.append(record)
    probe = symbols[: min(len(symbols), 4096)]
    words = [encode_block(model, session, probe, coder).words for session in (encoder, decoder, measurer)]
    assert all(np.array_equal(words[0], other) for other in words[1:]), (
        f"{model.name}: encoder and decoder sessions ended in different states")
    return records
