"""Record models: an autoregressive network over the d dimensions of each record.

An integer array of shape (N, d) (or (N, ...) with d = the product of the trailing axes)
is N records of d dimensions. The record model factorises each record as

    p(x_1, ..., x_d) = p(x_1) * p(x_2 | x_1) * ... * p(x_d | x_1, ..., x_{d-1})

with one network for all dimensions: the input of dimension j is the whole record with
dimensions >= j replaced by an "unknown" value K, plus the position j. The lecture's toy
p(x1, x2) = p(x1) * p(x2 | x1) is d = 2. Records are independent given the model.

The first layer is a sum of per-(column, value) embeddings (a linear layer on the one-hot
record), which is exactly the fused lookup table of the integer network in `exact.py`:
training fits the float `RecordNet`, coding runs its `exact.quantize` quantisation, whose
frequency tables are bit-identical on every machine (`check_exactness_bounds` proves the
2**24 / 2**53 bounds whenever the network is built).

Coding. The coded symbols are the array's elements in storage order, taken as consecutive
records of d (a C-ordered (N, d) array is record-major; a Fortran-ordered one still round
trips, but its "records" then mix dimensions, so it compresses worse). A record may span
blocks: the session keeps the leading elements of an unfinished record. Within a block the
records are decoded in groups of G: for each dimension j, one batched network call over
the group's records, so decoding costs d calls per G records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deepcompress.models.base import Chunk, DecodeSteps, Session, table_code_bits
from deepcompress.models.exact import MAX_NETWORK_ALPHABET, ExactMLP
from deepcompress.models.network import NetworkModel

ROW_BUDGET = 1 << 21          # table entries (rows x K) per network call: bounded memory
MAX_GROUP_RECORDS = 4096      # records decoded together (one call per dimension)
MAX_RECORD_SIZE = 4096

Frequencies = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RecordConfig:
    """Shape of the record network: K values per dimension, d dimensions per record, the
    width of a value's embedding, widths of the ReLU layers (at least one)."""

    alphabet_size: int
    record_size: int
    hidden: tuple[int, ...] = (256,)
    embed_dim: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        if type(self.alphabet_size) is not int or not 1 <= self.alphabet_size <= MAX_NETWORK_ALPHABET:
            raise ValueError(f"record model alphabet must be 1..{MAX_NETWORK_ALPHABET}, got {self.alphabet_size}")
        if type(self.record_size) is not int or not 1 <= self.record_size <= MAX_RECORD_SIZE:
            raise ValueError(f"record size must be 1..{MAX_RECORD_SIZE}, got {self.record_size}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"record model needs at least one hidden layer, got {self.hidden}")
        if type(self.embed_dim) is not int or not 1 <= self.embed_dim <= 256:
            raise ValueError(f"record model embed_dim must be 1..256, got {self.embed_dim}")

    @property
    def unknown(self) -> int:
        """The input value of a dimension not yet known: one past the alphabet."""
        return self.alphabet_size

    @property
    def column_sizes(self) -> tuple[int, ...]:
        """Values of each input column: d record dimensions (K values + unknown), then the position."""
        return (self.alphabet_size + 1,) * self.record_size + (self.record_size,)

    @property
    def group_records(self) -> int:
        """Records decoded together (G)."""
        return int(max(1, min(MAX_GROUP_RECORDS, ROW_BUDGET // self.alphabet_size)))

    @property
    def call_rows(self) -> int:
        """Rows per network call on the encoder side."""
        return int(max(1, min(8192, ROW_BUDGET // self.alphabet_size)))

    def element_inputs(self, grid: np.ndarray, records: np.ndarray, dims: np.ndarray) -> np.ndarray:
        """Inputs of elements (records[i], dims[i]) of `grid` int64[R, d]: int64[m, d + 1]."""
        d = self.record_size
        known = np.arange(d)[None, :] < dims[:, None]
        return np.concatenate([np.where(known, grid[records], self.unknown), dims[:, None]], axis=1)

    def inputs(self, symbols: np.ndarray) -> np.ndarray:
        """Inputs of every element of a stream of whole records (last one may be partial): int64[n, d + 1]."""
        symbols = np.asarray(symbols, dtype=np.int64)
        grid = _grid(symbols, self.record_size)
        positions = np.arange(len(symbols))
        return self.element_inputs(grid, positions // self.record_size, positions % self.record_size)

    def to_json(self) -> dict[str, Any]:
        return {"alphabet_size": self.alphabet_size, "record_size": self.record_size, "hidden": list(self.hidden),
                "embed_dim": self.embed_dim}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordConfig:
        if set(data) != {"alphabet_size", "record_size", "hidden", "embed_dim"}:
            raise ValueError(f"record model config has keys {sorted(data)}")
        return cls(data["alphabet_size"], data["record_size"], tuple(data["hidden"]), data["embed_dim"])


def _grid(symbols: np.ndarray, d: int) -> np.ndarray:
    """symbols int64[n] -> int64[ceil(n / d), d], the last record padded with zeros."""
    n_records = -(-len(symbols) // d)
    grid = np.zeros(n_records * d, dtype=np.int64)
    grid[: len(symbols)] = symbols
    return grid.reshape(n_records, d)


class RecordNet(nn.Module):
    """Float network: inputs int64[N, d + 1] (see `RecordConfig.inputs`) -> logits float32[N, K].

    First layer: `W [e(x_1); ...; e(x_d)] + p(j) + b` with a value embedding e shared by the
    dimensions (unknown ones included) and a position embedding p; as a function of the
    inputs it is a sum over columns of per-(column, value) vectors, the fused table of the
    integer network. Trainable with `deepcompress.train.train` (context_size 0: no window
    truncation).
    """

    context_size = 0

    def __init__(self, config: RecordConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        self.alphabet_size = config.alphabet_size
        d, e, h1 = config.record_size, config.embed_dim, config.hidden[0]
        self.embed = nn.Embedding(config.alphabet_size + 1, e)
        self.first = nn.Linear(d * e, h1)
        self.position = nn.Embedding(d, h1)
        nn.init.zeros_(self.position.weight)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(config.hidden))
        self.output = nn.Linear(config.hidden[-1], config.alphabet_size)
        self.dropout = nn.Dropout(dropout)

    def inputs(self, symbols: np.ndarray) -> np.ndarray:
        return self.config.inputs(symbols)

    def first_table(self) -> torch.Tensor:
        """float64[sum(column_sizes), H1]: each (column, value)'s share of the first pre-activation."""
        d, e = self.config.record_size, self.config.embed_dim
        weight = self.first.weight.double().reshape(-1, d, e)                       # (H1, d, e)
        values = self.embed.weight.double()                                          # (K + 1, e)
        return torch.cat([values @ weight[:, c].T for c in range(d)] + [self.position.weight.double()])

    def first_bias(self) -> torch.Tensor:
        return self.first.bias

    def later_linears(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(layer.weight, layer.bias) for layer in [*self.hidden, self.output]]

    def activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The ReLU output of every hidden layer."""
        d = self.config.record_size
        x = self.first(self.dropout(self.embed(inputs[:, :d]).flatten(1))) + self.position(inputs[:, d])
        outputs = [torch.relu(x)]
        for layer in self.hidden:
            outputs.append(torch.relu(layer(self.dropout(outputs[-1]))))
        return outputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(self.activations(inputs)[-1]))

    def log_prob(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Natural-log likelihood of each target: inputs int64[N, d + 1], targets int64[N] -> float[N]."""
        return torch.log_softmax(self(inputs), dim=-1).gather(1, targets[:, None]).squeeze(1)


class RecordModel(NetworkModel):
    """The coding model: the integer quantisation of a `RecordNet` behind the `Model` contract.

    `RecordModel.from_net(net, calibration_inputs)` quantises a trained `RecordNet`.
    """

    name: ClassVar[str] = "record-mlp"
    config_type = RecordConfig
    net_config: RecordConfig

    def __init__(self, config: RecordConfig, network: ExactMLP) -> None:
        super().__init__(config, network)
        if len(network.layers) != len(config.hidden) or network.first_table.shape[1] != config.hidden[0]:
            raise ValueError("integer network does not have the config's hidden layers")

    @property
    def record_size(self) -> int:
        """d: a record model samples (and is trained on) records of d elements."""
        return self.net_config.record_size

    def session(self) -> RecordSession:
        return RecordSession(self.network.frequencies, self.net_config)

    def symbol_bits(self, symbols: np.ndarray) -> np.ndarray:
        """-log2 p of each element of a stream of records under the integer tables: float64[n]."""
        symbols = np.asarray(symbols, dtype=np.int64)
        inputs = self.net_config.inputs(symbols)
        bits = np.zeros(len(symbols))
        step = self.net_config.call_rows
        for start in range(0, len(symbols), step):
            freqs = self.frequencies(inputs[start:start + step])
            bits[start:start + step] = table_code_bits(freqs, symbols[start:start + step])
        return bits


def _steps(prefix: int, total: int, d: int, group: int) -> Iterator[tuple[np.ndarray, int]]:
    """Decode order of the elements [prefix, total) of a record stream: (records int64[m], dim j).

    Records in groups of `group`; within a group dimension-major; element (r, j) is at r*d + j.
    """
    n_records = -(-total // d)
    for start in range(0, n_records, group):
        stop = min(start + group, n_records)
        for j in range(d):
            low = max(start, -((j - prefix) // d))          # r*d + j >= prefix
            high = min(stop, -((j - total) // d))           # r*d + j < total
            if low < high:
                yield np.arange(low, high, dtype=np.int64), j


class RecordSession(Session):
    """Predictive state of one stream: the leading elements of an unfinished record."""

    def __init__(self, frequencies: Frequencies, config: RecordConfig) -> None:
        self.frequencies = frequencies
        self.config = config
        self.prefix = np.zeros(0, dtype=np.int64)
        self._block_prefix = 0       # prefix length at the start of the block last encoded

    def _order(self, prefix: int, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
        """(records, dims) int64[n] of the block's elements in decode order."""
        steps = list(_steps(prefix, prefix + n_symbols, self.config.record_size, self.config.group_records))
        if not steps:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        records = np.concatenate([r for r, _ in steps])
        dims = np.concatenate([np.full(len(r), j, dtype=np.int64) for r, j in steps])
        return records, dims

    def decision_positions(self, n_symbols: int, lanes: int) -> np.ndarray:
        """Symbol index of each decision of the block last encoded (the next one if none was)."""
        records, dims = self._order(self._block_prefix, n_symbols)
        return records * self.config.record_size + dims - self._block_prefix

    def _finish(self, full: np.ndarray) -> None:
        tail = len(full) % self.config.record_size
        self.prefix = full[len(full) - tail:].copy()

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        symbols = np.asarray(symbols, dtype=np.int64)
        self._block_prefix = prefix = len(self.prefix)
        full = np.concatenate([self.prefix, symbols])
        grid = _grid(full, self.config.record_size)
        records, dims = self._order(prefix, len(symbols))
        step = self.config.call_rows
        for start in range(0, len(records), step):
            r, j = records[start:start + step], dims[start:start + step]
            yield grid[r, j], Chunk.rows(self.frequencies(self.config.element_inputs(grid, r, j)))
        self._finish(full)

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        d, prefix = self.config.record_size, len(self.prefix)
        grid = _grid(np.concatenate([self.prefix, np.zeros(n_symbols, np.int64)]), d)
        for records, j in _steps(prefix, prefix + n_symbols, d, self.config.group_records):
            dims = np.full(len(records), j, dtype=np.int64)
            grid[records, j] = yield Chunk.rows(self.frequencies(self.config.element_inputs(grid, records, dims)))
        full = grid.reshape(-1)[: prefix + n_symbols]
        self._finish(full)
        return full[prefix:].copy()
