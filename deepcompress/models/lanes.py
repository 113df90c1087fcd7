"""Lanes: a block split into S contiguous segments, decoded in lockstep.

A block of n symbols is cut into S lanes of L = ceil(n / S) symbols (the last lanes may be
shorter or empty). Decode order is step-major: at step t every lane with more than t
symbols decodes its t-th symbol, so one decode step is one batched model call over a prefix
of the lanes. Lane 0 starts from the stream's history (the symbols of earlier blocks); the
other lanes start from pad, because their predecessors are decoded only later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from deepcompress.models.base import Chunk, DecodeSteps, Session
from deepcompress.models.context import context_windows
from deepcompress.models.followers import FollowerTables

MIN_LANE_LENGTH = 2048       # a lane's cold start (k padded windows) is amortised over >= this
MAX_LANES = 256              # beyond this, a decode step's cost no longer falls per symbol
ROWS_PER_CHUNK = 1024        # encoder chunk: cache-sized batches, bounded memory (K int64 per row)

Frequencies = Callable[[np.ndarray], np.ndarray]   # inputs int64[N, columns] -> freqs int64[N, K]


def choose_lanes(n_symbols: int) -> int:
    """Lane count for a block of n symbols: as many as decode speed wants, while every lane
    keeps >= MIN_LANE_LENGTH symbols so the cold starts cost little."""
    return int(min(MAX_LANES, max(1, n_symbols // MIN_LANE_LENGTH)))


def lane_lengths(n_symbols: int, lanes: int) -> np.ndarray:
    """int64[lanes]: L = ceil(n / lanes) for the first lanes, the remainder, then zeros."""
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    length = -(-n_symbols // lanes)
    return np.clip(n_symbols - length * np.arange(lanes), 0, length).astype(np.int64)


class WindowSession(Session):
    """Session for a model that predicts each symbol from the previous `context_size` symbols
    and, optionally, adaptive follower features (one table set per stream, see followers.py).

    frequencies: inputs int64[N, k (+ m)] -> freqs int64[N, K]; must be exact (batch-independent);
    None for a session that only builds inputs (`block_inputs`, e.g. for training).
    """

    def __init__(self, frequencies: Frequencies | None, context_size: int, pad: int,
                 followers: FollowerTables | None = None) -> None:
        self.frequencies = frequencies
        self.context_size = context_size
        self.pad = pad
        self.followers = followers
        self.history = np.zeros(0, dtype=np.int64)    # last <= k symbols of earlier blocks

    def _first_windows(self, lanes: int) -> np.ndarray:
        """int64[lanes, k]: lane 0 continues the history, the others start from pad."""
        windows = np.full((lanes, self.context_size), self.pad, dtype=np.int64)
        if self.context_size:
            windows[0] = context_windows(np.zeros(1, np.int64), self.context_size, self.pad, self.history)[0]
        return windows

    def _remember(self, symbols: np.ndarray) -> None:
        if self.context_size:
            self.history = np.concatenate([self.history, symbols])[-self.context_size:]

    def _inputs(self, windows: np.ndarray, symbols: np.ndarray, step_sizes: np.ndarray) -> np.ndarray:
        """Network inputs of rows in decode order; learns `symbols` (-1: look up only)."""
        if self.followers is None:
            return windows
        return np.concatenate([windows, self.followers.features(windows, symbols, step_sizes)], axis=1)

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        for decisions, inputs in self.block_inputs(symbols, lanes):
            yield decisions, Chunk.rows(self.frequencies(inputs))

    def block_inputs(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Encoder side without the model call: (decisions int64[m], inputs int64[m, columns])
        in decode order, advancing the state as `encode_block` does."""
        symbols = np.asarray(symbols, dtype=np.int64)
        lengths = lane_lengths(len(symbols), lanes)
        length, k = int(lengths[0]), self.context_size
        grid = np.empty((lanes, k + length), dtype=np.int64)            # lane windows + symbols
        grid[:, :k] = self._first_windows(lanes)
        padded = np.concatenate([symbols, np.zeros(lanes * length - len(symbols), np.int64)])
        grid[:, k:] = padded.reshape(lanes, length)
        active = np.arange(length)[:, None] < lengths[None, :]                      # (L, S)
        steps_per_chunk = max(1, ROWS_PER_CHUNK // lanes)
        for start in range(0, length, steps_per_chunk):
            stop = min(start + steps_per_chunk, length)
            rows = np.lib.stride_tricks.sliding_window_view(grid[:, start:stop + k], k + 1, axis=1)
            rows = rows[:, : stop - start].transpose(1, 0, 2)[active[start:stop]]   # (m, k + 1)
            decisions = rows[:, k]
            yield decisions, self._inputs(rows[:, :k], decisions, active[start:stop].sum(axis=1))
        self._remember(symbols)

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        lengths = lane_lengths(n_symbols, lanes)
        length, k = int(lengths[0]), self.context_size
        grid = np.empty((lanes, k + length), dtype=np.int64)
        grid[:, :k] = self._first_windows(lanes)
        no_symbols = np.full(lanes, -1, dtype=np.int64)
        for t in range(length):
            n_active = int(np.count_nonzero(lengths > t))
            windows = grid[:n_active, t:t + k]
            inputs = self._inputs(windows, no_symbols[:n_active], np.array([n_active]))
            decisions = yield Chunk.rows(self.frequencies(inputs))
            grid[:n_active, k + t] = decisions
            if self.followers is not None:
                self.followers.learn(windows, grid[:n_active, k + t])
        symbols = np.concatenate([grid[i, k:k + lengths[i]] for i in range(lanes)])
        self._remember(symbols)
        return symbols
