"""Autoregressive MLP over the previous k symbols (plus adaptive follower features).

    p(x_i | inputs_i) = softmax(W_L relu(... relu(W_1 [e(x_{i-k}); ...; e(x_{i-1}); f(g_i1); ...] + b_1) ...) + b_L)

Inputs of position i: the window of the k previous symbols (oldest first; positions before
the stream start hold the pad index K = alphabet_size), then one follower feature per
order in `follower_orders` (see `followers.py`: what followed this context earlier in the
stream), which make the pretrained network adapt to the stream it codes. With
`context_size=1` and no follower orders this is the lecture's toy model: p(x_1) is a
learned histogram (the pad row) and p(x_i | x_{i-1}) an MLP.

Training fits the float `MLPNet` (`mlp_net`, the one part that needs torch at import; `MLPNet`
is importable from here too); coding runs `MLPModel`, its integer quantisation (`exact.py`),
whose frequency tables are bit-identical on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from deepcompress.models.base import lockstep_positions, table_code_bits
from deepcompress.models.context import context_windows
from deepcompress.models.followers import FollowerTables, feature_alphabet
from deepcompress.models.lanes import WindowSession, choose_lanes
from deepcompress.models.network import NetworkModel

MAX_FOLLOWER_SLOTS = 1 << 25  # 128 MB of follower tables (the default 6 orders of 2**20 use 24 MB)


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MLPConfig:
    """Shape of the network. `hidden` lists the widths of the ReLU layers (at least one);
    `follower_orders` the context lengths of the adaptive features (ascending, <= k)."""

    alphabet_size: int = 256
    context_size: int = 16
    embed_dim: int = 32
    hidden: tuple[int, ...] = (512,)
    follower_orders: tuple[int, ...] = ()
    follower_table_bits: int = 20

    def __post_init__(self) -> None:
        # Integers only (a model file's JSON could say `true` or 2.5): every field sizes arrays.
        scalars = (self.alphabet_size, self.context_size, self.embed_dim, self.follower_table_bits)
        if not all(_is_integer(v) for v in (*scalars, *self.hidden, *self.follower_orders)):
            raise ValueError(f"MLP config fields must be integers: {self}"[:300])
        for name in ("alphabet_size", "context_size", "embed_dim", "follower_table_bits"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "follower_orders", tuple(int(n) for n in self.follower_orders))
        # Upper bounds too: a model file's config sizes what is built before its arrays are checked.
        if not (2 <= self.alphabet_size <= 1 << 16 and 1 <= self.context_size <= 4096 and 1 <= self.embed_dim <= 4096):
            raise ValueError(f"invalid MLP config {self}"[:300])
        if not self.hidden or min(self.hidden) < 1 or max(self.hidden) > 1 << 16 or len(self.hidden) > 64:
            raise ValueError(f"MLP needs at least one hidden layer, got hidden={self.hidden}")
        orders = self.follower_orders
        if orders and (list(orders) != sorted(set(orders)) or orders[0] < 1 or orders[-1] > self.context_size):
            raise ValueError(f"follower orders must be ascending in [1, {self.context_size}], got {orders}")
        # Bounds the follower tables a model file can make a session allocate (4 bytes a slot).
        if not 8 <= self.follower_table_bits <= 24 or len(orders) << self.follower_table_bits > MAX_FOLLOWER_SLOTS:
            raise ValueError(f"follower_table_bits must lie in [8, 24] with at most {MAX_FOLLOWER_SLOTS} slots in all, "
                             f"got {len(orders)} orders of 2**{self.follower_table_bits}")

    @property
    def pad(self) -> int:
        """The start-of-sequence symbol: one past the alphabet."""
        return self.alphabet_size

    @property
    def column_sizes(self) -> tuple[int, ...]:
        """Number of values of each input column: k window symbols, then the features."""
        return ((self.alphabet_size + 1,) * self.context_size
                + (feature_alphabet(self.alphabet_size),) * len(self.follower_orders))

    def new_followers(self) -> FollowerTables | None:
        if not self.follower_orders:
            return None
        return FollowerTables(self.follower_orders, self.alphabet_size, self.follower_table_bits)

    def inputs(self, symbols: np.ndarray, lanes: int = 1) -> np.ndarray:
        """Network inputs of every position of one stream coded in `lanes` lanes: int64[n, k + m].

        Row i belongs to symbols[i]. Lanes change what the follower tables have seen.
        """
        symbols = np.asarray(symbols, dtype=np.int64)
        if not self.follower_orders:
            return context_windows(symbols, self.context_size, self.pad)
        session = WindowSession(None, self.context_size, self.pad, self.new_followers())
        rows = np.concatenate([np.zeros((0, len(self.column_sizes)), np.int64)]
                              + [inputs for _, inputs in session.block_inputs(symbols, lanes)])
        ordered = np.empty_like(rows)
        ordered[lockstep_positions(len(symbols), lanes)] = rows
        return ordered

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden), "follower_orders": list(self.follower_orders)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MLPConfig:
        return cls(**data)


class MLPModel(NetworkModel):
    """The coding model: an `ExactMLP` (integer parameters) behind the `Model` contract.

    `MLPModel.from_net(net, calibration_inputs)` quantises a trained `MLPNet`.
    """

    name: ClassVar[str] = "mlp"
    config_type = MLPConfig
    net_config: MLPConfig

    def choose_lanes(self, n_symbols: int) -> int:
        return choose_lanes(n_symbols)

    def session(self) -> WindowSession:
        config = self.net_config
        return WindowSession(self.network.frequencies, config.context_size, config.pad,
                             config.new_followers())

    def nll_bits(self, symbols: np.ndarray, lanes: int = 1) -> float:
        """Σ -log2 p(x_i | inputs_i) of a stream under the integer tables, coded in `lanes` lanes."""
        chunks = self.session().encode_block(np.asarray(symbols, dtype=np.int64), lanes)
        return sum((float(np.sum(table_code_bits(chunk.freqs, decisions))) for decisions, chunk in chunks), 0.0)


def __getattr__(name: str) -> Any:
    """`mlp.MLPNet`, imported with torch only when asked for (a hybrid's network loads without it)."""
    if name == "MLPNet":
        from deepcompress.models.mlp_net import MLPNet

        return MLPNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
