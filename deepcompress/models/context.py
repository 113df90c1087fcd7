"""Fixed-length context windows over a symbol stream, with a start-of-sequence pad."""

from __future__ import annotations

import numpy as np


def context_windows(symbols: np.ndarray, context_size: int, pad: int,
                    history: np.ndarray | None = None) -> np.ndarray:
    """The `context_size` symbols before each position, oldest first.

    symbols: int64[n]. history: int64[<= context_size] symbols that precede `symbols`
    (missing ones are `pad`). returns: int64[n, context_size]; row i is
    (..., symbols[i-2], symbols[i-1]).
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    prefix = np.full(context_size, pad, dtype=np.int64)
    if history is not None and context_size:
        tail = np.asarray(history, dtype=np.int64)[-context_size:]
        prefix[context_size - len(tail):] = tail
    if context_size == 0 or len(symbols) == 0:
        return np.zeros((len(symbols), context_size), dtype=np.int64)
    stream = np.concatenate([prefix, symbols])
    return np.lib.stride_tricks.sliding_window_view(stream[:-1], context_size).copy()
